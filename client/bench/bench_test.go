package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"strand.dev/client/internal/fakecluster"
	"strand.dev/client/producer"
)

func TestProduceConsumeE2E(t *testing.T) {
	fc := fakecluster.New(2, t.Cleanup)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var progress atomic.Int64
	cfg := Config{
		Bootstrap: fc.Addrs(), Topic: "b", Records: 2000, RecordSize: 100, Producers: 2, Partitions: 3,
		Compression: producer.CompressionLZ4, Progress: func(Progress) { progress.Add(1) },
	}
	pr, err := Produce(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Records != 2000 || pr.Errors != 0 || pr.Bytes != 2000*100 || pr.Latency.Count != 2000 || pr.Latency.P50 <= 0 || pr.Latency.Max < pr.Latency.P99 {
		t.Fatalf("produce report %+v", pr)
	}
	var got int64
	for p := int32(0); p < 3; p++ {
		got += fc.EndOffset("b", p)
	}
	if got != 2000 {
		t.Fatalf("the cluster holds %d records", got)
	}
	cfg.Consumers = 2
	cr, err := Consume(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cr.Records != 2000 || cr.Errors != 0 || cr.Bytes != 2000*100 {
		t.Fatalf("consume report %+v", cr)
	}
	cfg.Rate = 2000
	cfg.Records = 500
	er, err := E2E(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if er.Records != 500 || er.Latency.Count != 500 || er.Latency.P50 <= 0 {
		t.Fatalf("e2e report %+v", er)
	}
	// 500 records at 2000/s take about 250 ms: the rate was applied.
	if er.Elapsed < 200*time.Millisecond {
		t.Fatalf("e2e took %v at 2000 records/s for 500 records", er.Elapsed)
	}
	var buf bytes.Buffer
	if err := er.WriteText(&buf); err != nil || !strings.Contains(buf.String(), "p99.9") {
		t.Fatalf("text report %q %v", buf.String(), err)
	}
	buf.Reset()
	var decoded Report
	if err := er.WriteJSON(&buf); err != nil || json.Unmarshal(buf.Bytes(), &decoded) != nil || decoded.Records != 500 {
		t.Fatalf("json report %q %v", buf.String(), err)
	}
}

func TestConfigErrors(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range map[string]Config{
		"no bootstrap": {Topic: "t", Records: 1},
		"no topic":     {Bootstrap: []string{"127.0.0.1:1"}, Records: 1},
		"no records":   {Bootstrap: []string{"127.0.0.1:1"}, Topic: "t"},
		"rate":         {Bootstrap: []string{"127.0.0.1:1"}, Topic: "t", Records: 1, Rate: -1},
	} {
		if _, err := Produce(ctx, cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := E2E(ctx, Config{Bootstrap: []string{"127.0.0.1:1"}, Topic: "t", Records: 1, RecordSize: 4}); err == nil {
		t.Error("e2e with 4-byte records accepted")
	}
}

func TestProgressLine(t *testing.T) {
	line := Progress{Mode: "produce", Records: 500, Target: 1000, Bytes: 5e6, Elapsed: time.Second}.Line()
	for _, want := range []string{"500/1000", "50%", "500 rec/s", "5.00 MB/s", "ETA 1s"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
}
