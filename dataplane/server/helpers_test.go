package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

// testNode is a node serving on a loopback port for one test.
type testNode struct {
	t    testing.TB
	n    *Node
	dir  string
	addr string
	stop func() error
}

// startNode starts a standalone node on t.TempDir() (or dir when set);
// mutate adjusts the config first. The node stops at cleanup.
func startNode(t testing.TB, dir string, mutate func(*Config)) *testNode {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := DefaultConfig()
	cfg.Standalone = true
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.ShutdownTimeout = 10 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	stopped := false
	var stopErr error
	tn := &testNode{t: t, n: n, dir: dir, addr: n.Addr()}
	tn.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(60 * time.Second):
				stopErr = fmt.Errorf("node did not stop within 60s")
			}
		}
		return stopErr
	}
	t.Cleanup(func() {
		if err := tn.stop(); err != nil {
			t.Errorf("stop node: %v", err)
		}
	})
	return tn
}

// url builds a request URL.
func (tn *testNode) url(path string, q url.Values) string {
	u := "http://" + tn.addr + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// httpClient has a generous timeout for a loaded machine.
var httpClient = &http.Client{Timeout: 60 * time.Second}

// do sends a request and returns status, headers and body.
func (tn *testNode) do(method, path string, q url.Values, body []byte) (int, http.Header, []byte) {
	tn.t.Helper()
	req, err := http.NewRequest(method, tn.url(path, q), bytes.NewReader(body))
	if err != nil {
		tn.t.Fatal(err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		tn.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tn.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// ok sends a request that must answer 200, decoding JSON into out if set.
func (tn *testNode) ok(method, path string, q url.Values, body []byte, out any) []byte {
	tn.t.Helper()
	st, _, b := tn.do(method, path, q, body)
	if st != http.StatusOK {
		tn.t.Fatalf("%s %s?%s: HTTP %d: %s", method, path, q.Encode(), st, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			tn.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return b
}

// createTopic creates a topic.
func (tn *testNode) createTopic(name string, partitions int32, configs map[string]string) wire.TopicMetadata {
	tn.t.Helper()
	body, _ := json.Marshal(wire.CreateTopicRequest{Topic: name, Partitions: partitions, Configs: configs})
	var md wire.TopicMetadata
	tn.ok(http.MethodPost, wire.PathAdminTopics, nil, body, &md)
	return md
}

// produce appends a batch with acks=1 and returns the answer.
func (tn *testNode) produce(topic string, partition int32, batch []byte) wire.ProduceResponse {
	tn.t.Helper()
	var pr wire.ProduceResponse
	tn.ok(http.MethodPost, wire.PathProduce, tp(topic, partition, "acks", "1"), batch, &pr)
	return pr
}

// fetch reads from offset and decodes the records.
func (tn *testNode) fetch(topic string, partition int32, offset int64, extra ...string) ([]recordbatch.Record, http.Header) {
	tn.t.Helper()
	q := tp(topic, partition, append([]string{"offset", strconv.FormatInt(offset, 10), "max_wait_ms", "0"}, extra...)...)
	st, h, b := tn.do(http.MethodGet, wire.PathFetch, q, nil)
	if st != http.StatusOK {
		tn.t.Fatalf("fetch %s/%d@%d: HTTP %d: %s", topic, partition, offset, st, b)
	}
	recs, err := recordbatch.Decode(b, 256<<20)
	if err != nil {
		tn.t.Fatalf("fetch %s/%d@%d: decode %d bytes: %v", topic, partition, offset, len(b), err)
	}
	return recs, h
}

// tp builds a query with topic, partition and extra key/value pairs.
func tp(topic string, partition int32, kv ...string) url.Values {
	q := url.Values{wire.ParamTopic: {topic}, wire.ParamPartition: {strconv.Itoa(int(partition))}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

// batchOf builds a batch with one record per value.
func batchOf(t *testing.T, values ...string) []byte {
	t.Helper()
	b := recordbatch.NewBuilder(recordbatch.EncodeOptions{})
	ts := time.Now().UnixMilli()
	for _, v := range values {
		b.Add(recordbatch.Record{Timestamp: ts, Key: []byte("k-" + v), Value: []byte(v)})
	}
	out, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// values lists the records' values.
func values(recs []recordbatch.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

// wireCode decodes an error envelope's code.
func wireCode(b []byte) wire.Code {
	return wire.UnmarshalError(0, b).Code
}

// waitFor polls cond every 10ms until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readAllLimit reads at most limit bytes.
func readAllLimit(r io.Reader, limit int64) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, limit))
}

// itoa formats an int.
func itoa(n int) string { return strconv.Itoa(n) }

// jsonBody encodes v.
func jsonBody(v any) ([]byte, error) { return json.Marshal(v) }
