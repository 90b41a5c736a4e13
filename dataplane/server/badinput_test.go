package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

// TestBadInput sends each bad request and checks its status and code, that
// nothing of it reached the log, and that the node keeps serving.
func TestBadInput(t *testing.T) {
	const maxBody = 64 << 10
	tn := startNode(t, "", func(c *Config) {
		c.MaxRequestBytes = maxBody
		c.MaxFetchBytes = 1 << 20
		c.LogDefaults = map[string]string{"max.message.bytes": "16384"}
	})
	tn.createTopic("t", 1, nil)
	good := batchOf(t, "good-1", "good-2")
	tn.produce("t", 0, good)

	crcBad := bytes.Clone(good)
	crcBad[len(crcBad)-1] ^= 0xff
	badMagic := bytes.Clone(good)
	badMagic[16] = 1
	lenLies := bytes.Clone(good)
	lenLies[11] += 10 // batch length says more than is there
	big := batchOf(t, strings.Repeat("x", 20000))
	nullBatch := make([]byte, recordbatch.HeaderSize)

	prod := func(kv ...string) url.Values { return tp("t", 0, append([]string{"acks", "1"}, kv...)...) }
	type req struct {
		name   string
		method string
		path   string
		q      url.Values
		body   []byte
		status int
		code   wire.Code
	}
	tests := []req{
		{"produce: empty body", "POST", wire.PathProduce, prod(), nil, 400, wire.CodeCorruptMessage},
		{"produce: garbage", "POST", wire.PathProduce, prod(), append([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 64}, "hello, world, this is not a batch at all......................................"...), 400, wire.CodeCorruptMessage},
		{"produce: truncated", "POST", wire.PathProduce, prod(), good[:len(good)-5], 400, wire.CodeCorruptMessage},
		{"produce: header only", "POST", wire.PathProduce, prod(), good[:recordbatch.HeaderSize], 400, wire.CodeCorruptMessage},
		{"produce: zeroed header", "POST", wire.PathProduce, prod(), nullBatch, 400, wire.CodeCorruptMessage},
		{"produce: CRC mismatch", "POST", wire.PathProduce, prod(), crcBad, 400, wire.CodeCorruptMessage},
		{"produce: magic 1", "POST", wire.PathProduce, prod(), badMagic, 400, wire.CodeCorruptMessage},
		{"produce: length lies", "POST", wire.PathProduce, prod(), lenLies, 400, wire.CodeCorruptMessage},
		{"produce: good batch then garbage", "POST", wire.PathProduce, prod(), append(bytes.Clone(good), 1, 2, 3), 400, wire.CodeCorruptMessage},
		{"produce: good batch then a bad one", "POST", wire.PathProduce, prod(), append(bytes.Clone(good), crcBad...), 400, wire.CodeCorruptMessage},
		{"produce: over max.message.bytes", "POST", wire.PathProduce, prod(), big, 413, wire.CodeMessageTooLarge},
		{"produce: unknown topic", "POST", wire.PathProduce, tp("nope", 0), good, 404, wire.CodeUnknownTopicOrPartition},
		{"produce: unknown partition", "POST", wire.PathProduce, tp("t", 9), good, 404, wire.CodeUnknownTopicOrPartition},
		{"produce: bad acks", "POST", wire.PathProduce, prod("acks", "2"), good, 400, wire.CodeInvalidRequiredAcks},
		{"produce: bad topic name", "POST", wire.PathProduce, tp("a/b", 0), good, 400, wire.CodeInvalidTopic},
		{"produce: missing partition", "POST", wire.PathProduce, url.Values{"topic": {"t"}}, good, 400, wire.CodeInvalidRequest},
		{"produce: replica_id", "POST", wire.PathProduce, prod("replica_id", "2"), good, 400, wire.CodeInvalidRequest},
		{"produce: GET", "GET", wire.PathProduce, prod(), nil, 405, wire.CodeInvalidRequest},
		{"fetch: negative offset", "GET", wire.PathFetch, tp("t", 0, "offset", "-1"), nil, 416, wire.CodeOffsetOutOfRange},
		{"fetch: future offset", "GET", wire.PathFetch, tp("t", 0, "offset", "1000"), nil, 416, wire.CodeOffsetOutOfRange},
		{"fetch: missing offset", "GET", wire.PathFetch, tp("t", 0), nil, 400, wire.CodeInvalidRequest},
		{"fetch: offset not a number", "GET", wire.PathFetch, tp("t", 0, "offset", "zero"), nil, 400, wire.CodeInvalidRequest},
		{"fetch: max_bytes 0", "GET", wire.PathFetch, tp("t", 0, "offset", "0", "max_bytes", "0"), nil, 400, wire.CodeInvalidRequest},
		{"fetch: max_bytes negative", "GET", wire.PathFetch, tp("t", 0, "offset", "0", "max_bytes", "-1"), nil, 400, wire.CodeInvalidRequest},
		{"fetch: max_bytes overflow", "GET", wire.PathFetch, tp("t", 0, "offset", "0", "max_bytes", "999999999999999999999"), nil, 400, wire.CodeInvalidRequest},
		{"fetch: unknown topic", "GET", wire.PathFetch, tp("nope", 0, "offset", "0"), nil, 404, wire.CodeUnknownTopicOrPartition},
		{"fetch: stale leader epoch", "GET", wire.PathFetch, tp("t", 0, "offset", "0", "leader_epoch", "5"), nil, 409, wire.CodeUnknownLeaderEpoch},
		{"fetch: POST", "POST", wire.PathFetch, tp("t", 0, "offset", "0"), nil, 405, wire.CodeInvalidRequest},
		{"offsets: bad at", "GET", wire.PathOffsets, tp("t", 0, "at", "soon"), nil, 400, wire.CodeInvalidRequest},
		{"offsets: unknown partition", "GET", wire.PathOffsets, tp("t", 3, "at", "latest"), nil, 404, wire.CodeUnknownTopicOrPartition},
		{"admin: bad JSON", "POST", wire.PathAdminTopics, nil, []byte(`{"topic":`), 400, wire.CodeInvalidRequest},
		{"admin: unknown field", "POST", wire.PathAdminTopics, nil, []byte(`{"topic":"u","partitons":3}`), 400, wire.CodeInvalidRequest},
		{"admin: bad name", "POST", wire.PathAdminTopics, nil, []byte(`{"topic":"a b","partitions":1}`), 400, wire.CodeInvalidTopic},
		{"admin: negative partitions", "POST", wire.PathAdminTopics, nil, []byte(`{"topic":"u","partitions":-4}`), 400, wire.CodeInvalidPartitions},
		{"admin: too many partitions", "POST", wire.PathAdminTopics, nil, []byte(`{"topic":"u","partitions":100000}`), 400, wire.CodeInvalidPartitions},
		{"admin: replication factor 3", "POST", wire.PathAdminTopics, nil, []byte(`{"topic":"u","partitions":1,"replication_factor":3}`), 400, wire.CodeInvalidReplicationFactor},
		{"admin: bad config value", "POST", wire.PathAdminTopics, nil, []byte(`{"topic":"u","partitions":1,"configs":{"segment.bytes":"lots"}}`), 400, wire.CodeInvalidConfig},
		{"admin: unknown config", "POST", wire.PathAdminTopics, nil, []byte(`{"topic":"u","partitions":1,"configs":{"no.such.config":"1"}}`), 400, wire.CodeInvalidConfig},
		{"admin: bad min.insync.replicas", "POST", wire.PathAdminTopics, nil, []byte(`{"topic":"u","partitions":1,"configs":{"min.insync.replicas":"0"}}`), 400, wire.CodeInvalidConfig},
		{"admin: exists", "POST", wire.PathAdminTopics, nil, []byte(`{"topic":"t","partitions":1}`), 409, wire.CodeTopicAlreadyExists},
		{"admin: delete unknown", "DELETE", wire.PathAdminTopics, url.Values{"topic": {"nope"}}, nil, 404, wire.CodeUnknownTopicOrPartition},
		{"admin: delete without topic", "DELETE", wire.PathAdminTopics, nil, nil, 400, wire.CodeInvalidRequest},
		{"admin: alter unknown topic", "POST", wire.PathAdminConfigs, nil, []byte(`{"topic":"nope","set":{"retention.ms":"1"}}`), 404, wire.CodeUnknownTopicOrPartition},
		{"admin: alter bad value", "POST", wire.PathAdminConfigs, nil, []byte(`{"topic":"t","set":{"retention.ms":"forever"}}`), 400, wire.CodeInvalidConfig},
		{"unknown path", "GET", "/v1/nothing", nil, nil, 404, wire.CodeInvalidRequest},
	}
	for _, tc := range tests {
		st, h, b := tn.do(tc.method, tc.path, tc.q, tc.body)
		if st != tc.status || wireCode(b) != tc.code {
			t.Errorf("%s: HTTP %d %s, want %d %s", tc.name, st, b, tc.status, tc.code)
			continue
		}
		if ct := h.Get("Content-Type"); ct != wire.ContentTypeJSON {
			t.Errorf("%s: content type %q", tc.name, ct)
		}
		if we := wire.UnmarshalError(st, b); we.Message == "" {
			t.Errorf("%s: no message in %s", tc.name, b)
		}
	}

	// A clamped max_bytes is no error.
	if recs, _ := tn.fetch("t", 0, 0, "max_bytes", "99999999999"); len(recs) != 2 {
		t.Errorf("clamped max_bytes: %d records", len(recs))
	}
	// Nothing of the bad requests reached the log, and it still serves.
	recs, h := tn.fetch("t", 0, 0)
	if got := values(recs); len(got) != 2 || h.Get(wire.HeaderLogEndOffset) != "2" {
		t.Fatalf("log after bad input: %v, end offset %s", got, h.Get(wire.HeaderLogEndOffset))
	}
	var md wire.Metadata
	tn.ok(http.MethodGet, wire.PathMetadata, nil, nil, &md)
	if len(md.Topics) != 1 {
		t.Fatalf("bad creates left topics: %+v", md.Topics)
	}
	if pr := tn.produce("t", 0, good); pr.BaseOffset != 2 {
		t.Fatalf("produce after bad input: %+v", pr)
	}
}

// TestBodyThatNeverFinishes holds a produce body open past the read timeout:
// the node answers a JSON error, closes that connection, and keeps serving.
func TestBodyThatNeverFinishes(t *testing.T) {
	tn := startNode(t, "", func(c *Config) { c.ReadTimeout = 500 * time.Millisecond })
	tn.createTopic("slow", 1, nil)
	resp, b, err := rawExchange(tn.addr, fmt.Sprintf("POST %s?topic=slow&partition=0 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789", wire.PathProduce))
	if err != nil {
		t.Fatalf("no answer to a body that never finishes: %v", err)
	}
	if resp.StatusCode/100 != 4 || wireCode(b) != wire.CodeInvalidRequest {
		t.Fatalf("answer %d %s", resp.StatusCode, b)
	}
	if recs, h := tn.fetch("slow", 0, 0); len(recs) != 0 || h.Get(wire.HeaderLogEndOffset) != "0" {
		t.Fatalf("the partial body reached the log: %d records", len(recs))
	}
}

// TestSilentConnectionGets408 opens a connection and sends nothing: after
// the read timeout the node answers 408 and closes it, which an HTTP
// client's transport takes for the server closing an idle connection (Go's
// net/http drops an unsolicited 408), and keeps serving.
func TestSilentConnectionGets408(t *testing.T) {
	tn := startNode(t, "", func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	tn.createTopic("quiet", 1, nil)
	resp, b, err := rawExchange(tn.addr, "")
	if err != nil {
		t.Fatalf("no answer on a silent connection: %v", err)
	}
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Fatalf("answer %d (close %v) %s, want 408 and Connection: close", resp.StatusCode, resp.Close, b)
	}
	if pr := tn.produce("quiet", 0, batchOf(t, "v")); pr.BaseOffset != 0 {
		t.Fatalf("produce after the silent connection: %+v", pr)
	}
}

// TestOversizedBodies announces bodies over --max-request-bytes, many
// times: each is refused from its Content-Length with a JSON error before
// the body is read (so memory stays bounded), and the node keeps serving.
func TestOversizedBodies(t *testing.T) {
	tn := startNode(t, "", func(c *Config) { c.MaxRequestBytes = 32 << 10 })
	tn.createTopic("big", 1, nil)
	for i := range 50 {
		resp, b, err := rawExchange(tn.addr, fmt.Sprintf("POST %s?topic=big&partition=0 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", wire.PathProduce, 1<<30))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if resp.StatusCode != http.StatusRequestEntityTooLarge || wireCode(b) != wire.CodeRecordListTooLarge {
			t.Fatalf("oversized body: %d %s", resp.StatusCode, b)
		}
	}
	if pr := tn.produce("big", 0, batchOf(t, "fine")); pr.BaseOffset != 0 {
		t.Fatalf("after oversized bodies: %+v", pr)
	}
}

// rawExchange writes raw bytes (possibly none) on a new connection to addr
// and reads one answer, waiting up to 30 s: what a client that does not
// speak HTTP properly gets. The answer's body is returned, read whole.
func rawExchange(addr, raw string) (*http.Response, []byte, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		return nil, nil, err
	}
	if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, _ := readAllLimit(resp.Body, 1<<20)
	return resp, b, nil
}
