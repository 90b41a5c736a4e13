package server

import (
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

func TestProduceFetchOverHTTP(t *testing.T) {
	tn := startNode(t, "", nil)
	md := tn.createTopic("orders", 2, nil)
	if md.Name != "orders" || len(md.Partitions) != 2 || md.ID == "" {
		t.Fatalf("created %+v", md)
	}

	var want []string
	var next int64
	for i := range 5 {
		vals := []string{"a" + strconv.Itoa(i), "b" + strconv.Itoa(i), "c" + strconv.Itoa(i)}
		pr := tn.produce("orders", 1, batchOf(t, vals...))
		if pr.BaseOffset != next || pr.LastOffset != next+2 || pr.Topic != "orders" || pr.Partition != 1 || pr.LogAppendTime != -1 {
			t.Fatalf("produce %d: %+v, want base %d", i, pr, next)
		}
		next += 3
		want = append(want, vals...)
	}

	recs, h := tn.fetch("orders", 1, 0)
	if got := values(recs); !reflect.DeepEqual(got, want) {
		t.Fatalf("fetch from 0: %v, want %v", got, want)
	}
	for i, r := range recs {
		if r.Offset != int64(i) || string(r.Key) != "k-"+want[i] {
			t.Fatalf("record %d: offset %d key %q", i, r.Offset, r.Key)
		}
	}
	for hdr, v := range map[string]string{wire.HeaderHighWatermark: "15", wire.HeaderLogEndOffset: "15", wire.HeaderLogStartOffset: "0", wire.HeaderLeaderEpoch: "0"} {
		if got := h.Get(hdr); got != v {
			t.Errorf("header %s = %q, want %q", hdr, got, v)
		}
	}
	if ct := h.Get("Content-Type"); ct != wire.ContentTypeBatch {
		t.Errorf("content type %q", ct)
	}

	// From the middle of a batch: the whole batch comes back, the consumer
	// skips what it did not ask for.
	recs, _ = tn.fetch("orders", 1, 7)
	if len(recs) == 0 || recs[0].Offset > 7 || recs[len(recs)-1].Offset != 14 {
		t.Fatalf("fetch from 7: offsets %d..%d", recs[0].Offset, recs[len(recs)-1].Offset)
	}
	// max_bytes smaller than a batch still returns the first batch whole.
	recs, _ = tn.fetch("orders", 1, 3, "max_bytes", "1")
	if got := values(recs); !reflect.DeepEqual(got, want[3:6]) {
		t.Fatalf("fetch max_bytes=1: %v", got)
	}
	// At the end: empty.
	recs, _ = tn.fetch("orders", 1, 15)
	if len(recs) != 0 {
		t.Fatalf("fetch at end: %d records", len(recs))
	}
	// The other partition is empty.
	recs, _ = tn.fetch("orders", 0, 0)
	if len(recs) != 0 {
		t.Fatalf("partition 0: %d records", len(recs))
	}

	var or wire.OffsetsResponse
	tn.ok(http.MethodGet, wire.PathOffsets, tp("orders", 1, "at", "earliest"), nil, &or)
	if or.Offset != 0 {
		t.Errorf("earliest %+v", or)
	}
	tn.ok(http.MethodGet, wire.PathOffsets, tp("orders", 1, "at", "latest"), nil, &or)
	if or.Offset != 15 {
		t.Errorf("latest %+v", or)
	}
	tn.ok(http.MethodGet, wire.PathOffsets, tp("orders", 1, "at", "0"), nil, &or)
	if or.Offset != 0 || or.Timestamp <= 0 {
		t.Errorf("by timestamp 0: %+v", or)
	}
	future := strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)
	tn.ok(http.MethodGet, wire.PathOffsets, tp("orders", 1, "at", future), nil, &or)
	if or.Offset != -1 {
		t.Errorf("by future timestamp: %+v", or)
	}

	// acks=0 and acks=all.
	var pr wire.ProduceResponse
	tn.ok(http.MethodPost, wire.PathProduce, tp("orders", 0, "acks", "0"), batchOf(t, "x"), &pr)
	if pr.BaseOffset != -1 {
		t.Errorf("acks=0: %+v", pr)
	}
	tn.ok(http.MethodPost, wire.PathProduce, tp("orders", 0, "acks", "all"), batchOf(t, "y"), &pr)
	if pr.BaseOffset != 1 {
		t.Errorf("acks=all: %+v", pr)
	}

	var meta wire.Metadata
	tn.ok(http.MethodGet, wire.PathMetadata, nil, nil, &meta)
	if len(meta.Nodes) != 1 || meta.Nodes[0].Addr != tn.addr || meta.ControllerAddr != tn.addr || meta.ClusterID == "" {
		t.Errorf("metadata nodes %+v controller %q cluster %q", meta.Nodes, meta.ControllerAddr, meta.ClusterID)
	}
	if tm, ok := meta.Topic("orders"); !ok || len(tm.Partitions) != 2 || tm.Partitions[1].Leader != 1 || !reflect.DeepEqual(tm.Partitions[1].ISR, []int32{1}) {
		t.Errorf("metadata topic %+v", tm)
	}

	var lp wire.LocalPartitionsResponse
	tn.ok(http.MethodGet, wire.PathAdminPartitions, nil, nil, &lp)
	if lp.NodeID != 1 || len(lp.Partitions) != 2 || lp.Partitions[1].LogEndOffset != 15 || lp.Partitions[1].HighWatermark != 15 ||
		lp.Partitions[1].Segments < 1 || lp.Partitions[1].SizeBytes <= 0 || !lp.Partitions[1].Leader {
		t.Errorf("local partitions %+v", lp)
	}

	st, _, b := tn.do(http.MethodGet, wire.PathHealth, nil, nil)
	if st != http.StatusOK || strings.TrimSpace(string(b)) != "ok" {
		t.Errorf("healthz %d %q", st, b)
	}
	st, _, b = tn.do(http.MethodGet, wire.PathMetrics, nil, nil)
	for _, series := range []string{
		`strand_data_http_requests_total{code="ok",endpoint="produce"}`,
		`strand_data_http_request_duration_seconds_bucket{endpoint="fetch"`,
		`strand_data_log_end_offset{partition="1",topic="orders"} 15`,
		`strand_data_log_segments{partition="1",topic="orders"} 1`,
		`strand_data_produce_bytes_total`,
		`strand_data_fetch_bytes_total`,
		`process_open_fds`,
	} {
		if st != http.StatusOK || !strings.Contains(string(b), series) {
			t.Errorf("metrics: no %s", series)
		}
	}
}

func TestAdminTopicsAndConfigs(t *testing.T) {
	tn := startNode(t, "", func(c *Config) { c.DefaultPartitions = 3 })
	md := tn.createTopic("events", 0, map[string]string{"message.timestamp.type": "LogAppendTime"})
	if len(md.Partitions) != 3 || md.Configs["message.timestamp.type"] != "LogAppendTime" {
		t.Fatalf("created %+v", md)
	}
	before := time.Now().UnixMilli()
	pr := tn.produce("events", 2, batchOf(t, "v"))
	if pr.LogAppendTime < before {
		t.Fatalf("LogAppendTime topic: %+v", pr)
	}

	// Alter: back to CreateTime.
	body := []byte(`{"topic":"events","delete":["message.timestamp.type"],"set":{"retention.ms":"3600000"}}`)
	md = wire.TopicMetadata{}
	tn.ok(http.MethodPost, wire.PathAdminConfigs, nil, body, &md)
	if _, ok := md.Configs["message.timestamp.type"]; ok || md.Configs["retention.ms"] != "3600000" {
		t.Fatalf("altered %+v", md.Configs)
	}
	if pr := tn.produce("events", 2, batchOf(t, "w")); pr.LogAppendTime != -1 || pr.BaseOffset != 1 {
		t.Fatalf("after alter: %+v", pr)
	}

	// min.insync.replicas above the ISR refuses acks=all, not acks=1.
	tn.ok(http.MethodPost, wire.PathAdminConfigs, nil, []byte(`{"topic":"events","set":{"min.insync.replicas":"2"}}`), nil)
	st, _, b := tn.do(http.MethodPost, wire.PathProduce, tp("events", 0, "acks", "all"), batchOf(t, "z"))
	if st != http.StatusServiceUnavailable || wireCode(b) != wire.CodeNotEnoughReplicas {
		t.Fatalf("acks=all with min.insync.replicas=2: %d %s", st, b)
	}
	tn.produce("events", 0, batchOf(t, "z"))

	// Delete, then it is gone; create again starts empty.
	tn.ok(http.MethodDelete, wire.PathAdminTopics, url.Values{"topic": {"events"}}, nil, nil)
	st, _, b = tn.do(http.MethodGet, wire.PathFetch, tp("events", 2, "offset", "0"), nil)
	if st != http.StatusNotFound || wireCode(b) != wire.CodeUnknownTopicOrPartition {
		t.Fatalf("fetch after delete: %d %s", st, b)
	}
	tn.createTopic("events", 1, nil)
	if recs, _ := tn.fetch("events", 0, 0); len(recs) != 0 {
		t.Fatalf("recreated topic has %d records", len(recs))
	}
}

func TestRestartKeepsTopicsAndData(t *testing.T) {
	dir := t.TempDir()
	tn := startNode(t, dir, nil)
	tn.createTopic("keep", 2, map[string]string{"retention.ms": "86400000"})
	tn.produce("keep", 1, batchOf(t, "one", "two"))
	tn.produce("keep", 1, batchOf(t, "three"))
	if err := tn.stop(); err != nil {
		t.Fatal(err)
	}
	tn2 := startNode(t, dir, nil)
	recs, h := tn2.fetch("keep", 1, 0)
	if got := values(recs); !reflect.DeepEqual(got, []string{"one", "two", "three"}) || h.Get(wire.HeaderHighWatermark) != "3" {
		t.Fatalf("after restart: %v hw %s", got, h.Get(wire.HeaderHighWatermark))
	}
	var meta wire.Metadata
	tn2.ok(http.MethodGet, wire.PathMetadata, nil, nil, &meta)
	tm, ok := meta.Topic("keep")
	if !ok || len(tm.Partitions) != 2 || tm.Configs["retention.ms"] != "86400000" {
		t.Fatalf("topic after restart: %+v", tm)
	}
	if pr := tn2.produce("keep", 1, batchOf(t, "four")); pr.BaseOffset != 3 {
		t.Fatalf("append after restart: %+v", pr)
	}
}

func TestDataDirOfAnotherNodeIsRefused(t *testing.T) {
	dir := t.TempDir()
	tn := startNode(t, dir, nil)
	if err := tn.stop(); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Standalone, cfg.Listen, cfg.DataDir, cfg.NodeID = true, "127.0.0.1:0", dir, 7
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "another node") {
		t.Fatalf("New on another node's directory: %v", err)
	}
}

// decodeAll is recordbatch.Decode with a generous limit.
func decodeAll(t *testing.T, b []byte) []recordbatch.Record {
	t.Helper()
	recs, err := recordbatch.Decode(b, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
