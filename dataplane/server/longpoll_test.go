package server

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"strand.dev/client/wire"
)

// fetchAsync runs a fetch in the background.
type fetchResult struct {
	status int
	body   []byte
	took   time.Duration
}

func (tn *testNode) fetchAsync(topic string, partition int32, kv ...string) <-chan fetchResult {
	ch := make(chan fetchResult, 1)
	q := tp(topic, partition, kv...)
	go func() {
		start := time.Now()
		resp, err := httpClient.Get(tn.url(wire.PathFetch, q))
		if err != nil {
			ch <- fetchResult{status: -1, body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		var buf []byte
		buf, _ = readAllLimit(resp.Body, 64<<20)
		ch <- fetchResult{status: resp.StatusCode, body: buf, took: time.Since(start)}
	}()
	return ch
}

// fetchesInFlight is how many fetch handlers run now.
func (tn *testNode) fetchesInFlight() float64 {
	return testutil.ToFloat64(tn.n.m.inflight.WithLabelValues("fetch"))
}

func TestFetchLongPollWakesOnAppend(t *testing.T) {
	tn := startNode(t, "", nil)
	tn.createTopic("lp", 1, nil)
	ch := tn.fetchAsync("lp", 0, "offset", "0", "min_bytes", "1", "max_wait_ms", "30000")
	waitFor(t, 30*time.Second, "the fetch to be waiting", func() bool { return tn.fetchesInFlight() == 1 })
	select {
	case r := <-ch:
		t.Fatalf("fetch answered before any data: %d %s", r.status, r.body)
	default:
	}
	tn.produce("lp", 0, batchOf(t, "wake"))
	select {
	case r := <-ch:
		if r.status != http.StatusOK {
			t.Fatalf("fetch: %d %s", r.status, r.body)
		}
		if got := values(decodeAll(t, r.body)); len(got) != 1 || got[0] != "wake" {
			t.Fatalf("fetch got %v", got)
		}
		if r.took > 25*time.Second {
			t.Fatalf("the fetch waited for its deadline (%v) instead of waking", r.took)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the long poll did not wake up after the append")
	}
	if testutil.ToFloat64(tn.n.m.fetchWaits) < 1 {
		t.Error("fetch_long_polls_total did not count the wait")
	}
}

func TestFetchLongPollWaitsForMinBytes(t *testing.T) {
	tn := startNode(t, "", nil)
	tn.createTopic("mb", 1, nil)
	one := batchOf(t, "first")
	// Wait for more than one batch's worth.
	ch := tn.fetchAsync("mb", 0, "offset", "0", "min_bytes", itoa(len(one)+1), "max_wait_ms", "30000")
	waitFor(t, 30*time.Second, "the fetch to be waiting", func() bool { return tn.fetchesInFlight() == 1 })
	tn.produce("mb", 0, one)
	// The first batch is not enough: the fetch keeps waiting. (Give it a
	// moment to see the first append and go back to sleep; a wrong early
	// answer shows up on ch.)
	time.Sleep(100 * time.Millisecond)
	select {
	case r := <-ch:
		t.Fatalf("answered with %d bytes, below min_bytes: %d %s", len(r.body), r.status, r.body)
	default:
	}
	tn.produce("mb", 0, batchOf(t, "second"))
	select {
	case r := <-ch:
		if got := values(decodeAll(t, r.body)); len(got) != 2 {
			t.Fatalf("fetch got %v", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the long poll did not answer once min_bytes were there")
	}
}

func TestFetchLongPollTimesOutEmpty(t *testing.T) {
	tn := startNode(t, "", nil)
	tn.createTopic("to", 1, nil)
	start := time.Now()
	st, h, b := tn.do(http.MethodGet, wire.PathFetch, tp("to", 0, "offset", "0", "max_wait_ms", "300"), nil)
	took := time.Since(start)
	if st != http.StatusOK || len(b) != 0 || h.Get(wire.HeaderHighWatermark) != "0" {
		t.Fatalf("empty long poll: %d %q %v", st, b, h)
	}
	if took < 290*time.Millisecond {
		t.Fatalf("answered after %v, before max_wait_ms=300", took)
	}
}

func TestShutdownEndsLongPolls(t *testing.T) {
	tn := startNode(t, "", nil)
	tn.createTopic("sd", 1, nil)
	ch := tn.fetchAsync("sd", 0, "offset", "0", "max_wait_ms", "60000")
	waitFor(t, 30*time.Second, "the fetch to be waiting", func() bool { return tn.fetchesInFlight() == 1 })
	start := time.Now()
	if err := tn.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("stop took %v with a long poll in flight", took)
	}
	r := <-ch
	if r.status != http.StatusOK || len(r.body) != 0 {
		t.Fatalf("the long poll in flight at stop got %d %q, want an empty 200", r.status, r.body)
	}
}
