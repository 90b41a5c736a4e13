package standalone

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"strand.dev/client/partitioner"
	"strand.dev/e2e/harness"
)

// The CLI against a real data node: create a topic, produce 10,000 keyed
// lines, consume them back; every line comes back once, in order per key,
// on the partition Kafka's default partitioner picks for its key.
func TestCLIProduceConsume10000Lines(t *testing.T) {
	node := harness.StartStandalone(t, binary(t, "strand-data"), 1)
	b := "--bootstrap=" + node.Addr
	mustStrand(t, "", b, "topic", "create", "orders", "--partitions", "6")
	var in strings.Builder
	const n = 10000
	for i := 0; i < n; i++ {
		fmt.Fprintf(&in, "user-%d|order-%05d\n", i%97, i)
	}
	mustStrand(t, in.String(), b, "produce", "orders", "--key-separator", "|")

	r := mustStrand(t, "", b, "-o", "json", "consume", "orders", "--from-beginning", "--max-messages", fmt.Sprint(n), "--timeout", "30s")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("consumed %d lines, want %d; stderr %s", len(lines), n, r.stderr)
	}
	seen := map[string]bool{}
	lastOffset := map[int32]int64{}
	lastByKey := map[string]string{}
	for _, l := range lines {
		var rec struct {
			Partition int32  `json:"partition"`
			Offset    int64  `json:"offset"`
			Key       string `json:"key"`
			Value     string `json:"value"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if seen[rec.Value] {
			t.Fatalf("%s consumed twice", rec.Value)
		}
		seen[rec.Value] = true
		if want := partitioner.KeyPartition([]byte(rec.Key), 6); int(rec.Partition) != want {
			t.Fatalf("key %s on partition %d; Kafka puts it on %d", rec.Key, rec.Partition, want)
		}
		if last, ok := lastOffset[rec.Partition]; ok && rec.Offset != last+1 {
			t.Fatalf("partition %d: offset %d after %d", rec.Partition, rec.Offset, last)
		}
		lastOffset[rec.Partition] = rec.Offset
		if prev := lastByKey[rec.Key]; prev >= rec.Value {
			t.Fatalf("key %s: %s after %s", rec.Key, rec.Value, prev)
		}
		lastByKey[rec.Key] = rec.Value
	}

	// The plain output and describe agree.
	r = mustStrand(t, "", b, "consume", "orders", "--partition", "2", "--offset", "0", "--print-key", "--timeout", "2s")
	d := mustStrand(t, "", b, "-o", "json", "topic", "describe", "orders")
	var desc struct {
		Partitions []struct {
			Partition     int32 `json:"partition"`
			HighWatermark int64 `json:"high_watermark"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(d.stdout), &desc); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, p := range desc.Partitions {
		total += p.HighWatermark
	}
	if total != n {
		t.Fatalf("high watermarks sum to %d, want %d", total, n)
	}
	if got := strings.Count(r.stdout, "\n"); int64(got) != desc.Partitions[2].HighWatermark {
		t.Fatalf("partition 2: %d lines, high watermark %d", got, desc.Partitions[2].HighWatermark)
	}
	if !strings.Contains(r.stdout, "\torder-") {
		t.Fatalf("--print-key output: %.200q", r.stdout)
	}
	list := mustStrand(t, "", b, "topic", "list")
	if !strings.Contains(list.stdout, "orders") {
		t.Fatalf("topic list: %s", list.stdout)
	}
	st := mustStrand(t, "", b, "cluster", "status")
	if !strings.Contains(st.stdout, "1 alive, 0 failed") || !strings.Contains(st.stdout, "standalone") {
		t.Fatalf("cluster status: %s", st.stdout)
	}
	mustStrand(t, "", b, "topic", "delete", "orders")
	if r := strand(t, "", b, "topic", "describe", "orders"); r.code != 1 || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("describe after delete: %d %s", r.code, r.stderr)
	}
}

// Bad input: each case exits 1 with a clear message, within the timeouts,
// and nothing is reported acknowledged that was not.
func TestCLIBadInput(t *testing.T) {
	node := harness.StartStandalone(t, binary(t, "strand-data"), 1)
	b := "--bootstrap=" + node.Addr

	t.Run("broker down", func(t *testing.T) {
		dead := harness.FreeAddr(t)
		r := strand(t, "a\nb\n", "--bootstrap", dead, "--request-timeout", "2s", "produce", "t")
		if r.code != 1 || !strings.Contains(r.stderr, "connection refused") || r.took > 60*time.Second {
			t.Fatalf("exit %d after %v: %s", r.code, r.took, r.stderr)
		}
		r = strand(t, "", "--bootstrap", dead, "--request-timeout", "2s", "consume", "t")
		if r.code != 1 || !strings.Contains(r.stderr, "no node answered") {
			t.Fatalf("consume: exit %d: %s", r.code, r.stderr)
		}
	})

	t.Run("garbage answers", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("<html><body>It works!</body></html>"))
		})}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		r := strand(t, "", "--bootstrap", l.Addr().String(), "--request-timeout", "2s", "topic", "list")
		if r.code != 1 || !strings.Contains(r.stderr, "not Strand's protocol") || r.took > 60*time.Second {
			t.Fatalf("exit %d after %v: %s", r.code, r.took, r.stderr)
		}
		// A port that accepts and never answers: the request timeout ends it.
		silent, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu    sync.Mutex
			conns []net.Conn // held open, never answered
		)
		accepted := make(chan struct{})
		go func() {
			defer close(accepted)
			for {
				c, err := silent.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			silent.Close()
			<-accepted
			for _, c := range conns {
				c.Close()
			}
		})
		r = strand(t, "", "--bootstrap", silent.Addr().String(), "--request-timeout", "3s", "topic", "list")
		if r.code != 1 || r.took > 60*time.Second {
			t.Fatalf("silent node: exit %d after %v: %s", r.code, r.took, r.stderr)
		}
	})

	t.Run("unknown topic", func(t *testing.T) {
		r := strand(t, "x\n", b, "produce", "nope")
		if r.code != 1 || !strings.Contains(r.stderr, `topic "nope" does not exist`) {
			t.Fatalf("produce: exit %d: %s", r.code, r.stderr)
		}
		r = strand(t, "", b, "consume", "nope", "--timeout", "1s")
		if r.code != 1 || !strings.Contains(r.stderr, "does not exist") {
			t.Fatalf("consume: exit %d: %s", r.code, r.stderr)
		}
	})

	t.Run("record over max.message.bytes", func(t *testing.T) {
		mustStrand(t, "", b, "topic", "create", "small", "--config", "max.message.bytes=1024")
		in := "first\n" + strings.Repeat("x", 4000) + "\nlast\n"
		r := strand(t, in, b, "produce", "small", "--linger", "0s")
		if r.code != 1 || !strings.Contains(r.stderr, "line 2 not acknowledged") ||
			!strings.Contains(r.stderr, "MESSAGE_TOO_LARGE") || !strings.Contains(r.stderr, "1 of 3 lines were not acknowledged") {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		got := mustStrand(t, "", b, "consume", "small", "--from-beginning", "--timeout", "2s")
		if got.stdout != "first\nlast\n" {
			t.Fatalf("stored %q, want the two acknowledged lines", got.stdout)
		}
	})

	t.Run("bad bootstrap", func(t *testing.T) {
		for _, bad := range []string{"nohost", "127.0.0.1:0", "localhost:http"} {
			r := strand(t, "", "--bootstrap", bad, "topic", "list")
			if r.code != 1 || !strings.Contains(r.stderr, "--bootstrap") {
				t.Fatalf("--bootstrap %s: exit %d: %s", bad, r.code, r.stderr)
			}
		}
	})

	t.Run("usage errors exit 2", func(t *testing.T) {
		for _, args := range [][]string{{"topic", "create"}, {"produce", "t", "--acks", "7"}, {"frob"}} {
			if r := strand(t, "", append([]string{b}, args...)...); r.code != 2 {
				t.Fatalf("strand %v: exit %d: %s", args, r.code, r.stderr)
			}
		}
	})
}

// The load tester end to end, small, with --json.
func TestBenchCLI(t *testing.T) {
	node := harness.StartStandalone(t, binary(t, "strand-data"), 1)
	b := "--bootstrap=" + node.Addr
	var rep struct {
		Mode    string `json:"mode"`
		Records int64  `json:"records"`
		Errors  int64  `json:"errors"`
		Latency struct {
			P50 int64 `json:"p50_ns"`
			Max int64 `json:"max_ns"`
		} `json:"latency"`
	}
	for _, args := range [][]string{
		{"bench", "produce", "--topic", "bt", "--partitions", "3", "--records", "20000", "--record-size", "512", "--producers", "2", "--compression", "lz4", "--json"},
		{"bench", "consume", "--topic", "bt", "--records", "20000", "--consumers", "2", "--json"},
		{"bench", "e2e", "--topic", "bt", "--records", "2000", "--rate", "2000", "--json"},
	} {
		r := mustStrand(t, "", append([]string{b}, args...)...)
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, r.stdout)
		}
		if rep.Mode != args[1] || rep.Errors != 0 || rep.Records == 0 || rep.Latency.P50 <= 0 || rep.Latency.Max < rep.Latency.P50 {
			t.Fatalf("%v: %+v", args, rep)
		}
		// Not a terminal: no progress line.
		if strings.Contains(r.stdout, "ETA") {
			t.Fatalf("progress line written to a pipe: %q", r.stdout)
		}
	}
}
