package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"strand.dev/client/internal/fakecluster"
	"strand.dev/client/partitioner"
	"strand.dev/client/recordbatch"
)

// cli runs the CLI in-process and returns its exit code and output.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := run(ctx, append([]string{"strand"}, args...), &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb})
	return code, out.String(), errb.String()
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nope"},
		{"topic"},
		{"topic", "frobnicate"},
		{"topic", "create"},
		{"topic", "create", "a", "b"},
		{"topic", "create", "t", "--partitions", "abc"},
		{"topic", "create", "t", "--partitions", "0"},
		{"topic", "create", "t", "--config", "novalue"},
		{"topic", "list", "--no-such-flag"},
		{"--output", "yaml", "topic", "list"},
		{"produce"},
		{"produce", "t", "--acks", "2"},
		{"produce", "t", "--compression", "brotli"},
		{"consume"},
		{"consume", "t", "--offset", "soon"},
		{"consume", "t", "--offset", "5", "--from-beginning"},
		{"meta", "remove-member", "x"},
		{"meta", "add-member", "--id", "4"},
		{"bench", "produce", "--records", "0"},
		{"bench", "produce", "--acks", "3"},
		{"bench", "e2e", "extra"},
		{"cluster", "status", "extra"},
	} {
		code, _, stderr := runCLI(t, "", args...)
		if code != exitUsage {
			t.Errorf("strand %s: exit %d, want 2 (stderr %q)", strings.Join(args, " "), code, stderr)
		}
	}
}

func TestReorder(t *testing.T) {
	app := newApp(&env{})
	for _, c := range []struct{ in, want string }{
		{"strand topic create t --partitions 3", "strand topic create --partitions 3 t"},
		{"strand topic create t -p 3 -b h:1 --config a=b", "strand -b h:1 topic create -p 3 --config a=b t"},
		{"strand -o json topic list", "strand -o json topic list"},
		{"strand consume t --print-key --max-messages 5", "strand consume --print-key --max-messages 5 t"},
		{"strand produce t -- --not-a-flag", "strand produce t -- --not-a-flag"},
		{"strand bench produce --records=5 --json", "strand bench produce --records=5 --json"},
	} {
		got := strings.Join(reorder(app, strings.Fields(c.in)), " ")
		if got != c.want {
			t.Errorf("reorder(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestBadBootstrapIsAFailure(t *testing.T) {
	for _, b := range []string{"nohost", "127.0.0.1:99999", ",", "host:port"} {
		code, _, stderr := runCLI(t, "", "topic", "list", "--bootstrap", b)
		if code != exitFailure || !strings.Contains(stderr, "--bootstrap") {
			t.Errorf("--bootstrap %q: exit %d, stderr %q", b, code, stderr)
		}
	}
}

func TestClusterDownIsAFailure(t *testing.T) {
	start := time.Now()
	code, _, stderr := runCLI(t, "", "topic", "list", "-b", "127.0.0.1:1", "--request-timeout", "500ms")
	if code != exitFailure || !strings.Contains(stderr, "no node answered") || !strings.Contains(stderr, "connection refused") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatalf("took %v with a 500ms request timeout", time.Since(start))
	}
}

func TestTopicsProduceConsume(t *testing.T) {
	fc := fakecluster.New(3, t.Cleanup)
	b := fc.Bootstrap()
	if code, out, stderr := runCLI(t, "", "topic", "create", "orders", "--partitions", "6", "-b", b, "--config", "retention.ms=1000"); code != 0 || !strings.Contains(out, "created topic orders") {
		t.Fatalf("create: %d %q %q", code, out, stderr)
	}
	if code, _, stderr := runCLI(t, "", "topic", "create", "orders", "-b", b); code != 1 || !strings.Contains(stderr, "TOPIC_ALREADY_EXISTS") {
		t.Fatalf("second create: %d %q", code, stderr)
	}
	code, out, _ := runCLI(t, "", "topic", "list", "-b", b)
	if code != 0 || !strings.Contains(out, "orders") || !strings.Contains(out, "PARTITIONS") {
		t.Fatalf("list: %d %q", code, out)
	}
	var input strings.Builder
	const n = 2000
	for i := 0; i < n; i++ {
		fmt.Fprintf(&input, "key-%d:value-%d\n", i%40, i)
	}
	if code, out, stderr := runCLI(t, input.String(), "produce", "orders", "--key-separator", ":", "-b", b); code != 0 {
		t.Fatalf("produce: %d %q %q", code, out, stderr)
	}
	// Every key is where Kafka's default partitioner puts it.
	total := 0
	for p := int32(0); p < 6; p++ {
		recs, err := recordbatch.Decode(fc.Log("orders", p), 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		total += len(recs)
		for _, r := range recs {
			if partitioner.KeyPartition(r.Key, 6) != int(p) {
				t.Fatalf("key %s in partition %d", r.Key, p)
			}
		}
	}
	if total != n {
		t.Fatalf("%d records stored, want %d", total, n)
	}
	code, out, stderr := runCLI(t, "", "consume", "orders", "--from-beginning", "--max-messages", fmt.Sprint(n), "--print-key", "--key-separator", "=", "-b", b)
	if code != 0 {
		t.Fatalf("consume: %d %q", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != n || !strings.Contains(stderr, fmt.Sprintf("consumed %d records", n)) {
		t.Fatalf("consumed %d lines; stderr %q", len(lines), stderr)
	}
	seen := map[string]bool{}
	lastByKey := map[string]int{}
	for _, l := range lines {
		k, v, ok := strings.Cut(l, "=")
		if !ok || seen[v] {
			t.Fatalf("line %q: malformed or repeated", l)
		}
		seen[v] = true
		var i int
		fmt.Sscanf(v, "value-%d", &i)
		if last, ok := lastByKey[k]; ok && i <= last {
			t.Fatalf("key %s: value-%d after value-%d", k, i, last)
		}
		lastByKey[k] = i
	}
	// Describe shows the high watermarks.
	code, out, _ = runCLI(t, "", "-o", "json", "topic", "describe", "orders", "-b", b)
	var d struct {
		Partitions []struct {
			HighWatermark int64 `json:"high_watermark"`
		} `json:"partitions"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil || len(d.Partitions) != 6 {
		t.Fatalf("describe: %d %q", code, out)
	}
	var hw int64
	for _, p := range d.Partitions {
		hw += p.HighWatermark
	}
	if hw != n {
		t.Fatalf("high watermarks sum to %d", hw)
	}
	// One partition from an offset, with a timeout when it runs dry.
	code, out, _ = runCLI(t, "", "consume", "orders", "--partition", "0", "--offset", "3", "--timeout", "300ms", "-b", b)
	if code != 0 || len(strings.Split(strings.TrimSpace(out), "\n")) != int(fc.EndOffset("orders", 0))-3 {
		t.Fatalf("consume from offset 3: %d, %d lines", code, len(strings.Split(out, "\n")))
	}
	if code, _, stderr := runCLI(t, "", "consume", "orders", "--partition", "0", "--offset", "99999", "--timeout", "5s", "-b", b); code != 1 || !strings.Contains(stderr, "out of range") {
		t.Fatalf("offset out of range: %d %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "", "topic", "delete", "orders", "-b", b); code != 0 {
		t.Fatal("delete failed")
	}
}

func TestProduceFailuresAreReported(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	fc.CreateTopic("small", 1, map[string]string{"max.message.bytes": "200"})
	b := fc.Bootstrap()
	if code, _, stderr := runCLI(t, "x\n", "produce", "nope", "-b", b); code != 1 || !strings.Contains(stderr, `topic "nope" does not exist`) {
		t.Fatalf("unknown topic: %d %q", code, stderr)
	}
	input := "ok-1\n" + strings.Repeat("x", 500) + "\nok-2\n"
	code, _, stderr := runCLI(t, input, "produce", "small", "-b", b, "--linger", "0s")
	if code != 1 || !strings.Contains(stderr, "line 2 not acknowledged") || !strings.Contains(stderr, "MESSAGE_TOO_LARGE") ||
		!strings.Contains(stderr, "1 of 3 lines were not acknowledged") {
		t.Fatalf("oversized line: %d %q", code, stderr)
	}
	if got := fc.EndOffset("small", 0); got != 2 {
		t.Fatalf("%d records stored, want the 2 good lines", got)
	}
	// A line over --max-request-size is refused without being sent.
	code, _, stderr = runCLI(t, strings.Repeat("y", 3000)+"\n", "produce", "small", "-b", b, "--max-request-size", "2048")
	if code != 1 || !strings.Contains(stderr, "longer than --max-request-size") {
		t.Fatalf("long line: %d %q", code, stderr)
	}
}

func TestConsumeStopsOnCancel(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	fc.CreateTopic("t", 1, nil)
	var out, errb bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"strand", "consume", "t", "-b", fc.Bootstrap()}, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after Ctrl-C: %s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("consume did not stop on cancel")
	}
}

func TestBenchJSON(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	code, out, stderr := runCLI(t, "", "bench", "produce", "--records", "500", "--record-size", "100", "--partitions", "2", "--json", "-b", fc.Bootstrap())
	var rep struct {
		Records int64 `json:"records"`
		Latency struct {
			P99 int64 `json:"p99_ns"`
		} `json:"latency"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Records != 500 || rep.Latency.P99 <= 0 {
		t.Fatalf("bench produce: %d %q %q", code, out, stderr)
	}
	code, out, _ = runCLI(t, "", "bench", "consume", "--records", "500", "-b", fc.Bootstrap())
	if code != 0 || !strings.Contains(out, "consume: 500 records") || !strings.Contains(out, "p99.9") {
		t.Fatalf("bench consume: %d %q", code, out)
	}
}
