package replstream

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

// BenchmarkAckDelay measures how long after a leader's append the follower
// acknowledges it, which is what an acks=all produce waits for. The leader
// appends 64 KiB batches of 1 KiB records at 50 MB/s for 2 s; the follower
// spends 4 µs per KiB appending (about 250 MB/s) and stalls for 100 ms
// twice (a GC pause, a slow disk), so it builds a backlog and works it
// off; it acks as the fetcher does, by AckBatcher ("bounded": when the next
// frame is not buffered whole, and every AckEveryBytes or AckEveryDelay
// while it works off a backlog), or by the earlier rules: only when the
// next frame is not buffered whole ("whole-frames", Conn.Buffered), or only
// when no byte at all is buffered ("any-byte"). Run:
// go test -run X -bench AckDelay -benchtime 1x ./replstream/
func BenchmarkAckDelay(b *testing.B) {
	for _, rule := range []string{"bounded", "whole-frames", "any-byte"} {
		b.Run(rule, func(b *testing.B) {
			var delays []time.Duration
			for range b.N {
				delays = append(delays, ackDelays(b, rule)...)
			}
			slices.Sort(delays)
			q := func(f float64) time.Duration { return delays[min(len(delays)-1, int(f*float64(len(delays))))] }
			b.ReportMetric(float64(q(.5).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(q(.99).Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(delays[len(delays)-1].Microseconds())/1000, "max-ms")
		})
	}
}

// ackDelays runs one leader/follower pair and returns, per appended batch,
// the time from its append to the follower's ack that covers it.
func ackDelays(b *testing.B, rule string) []time.Duration {
	p := newPart(b, filepath.Join(b.TempDir(), "t-0"))
	recs := make([]recordbatch.Record, 64)
	for i := range recs {
		recs[i] = recordbatch.Record{Timestamp: int64(i), Value: bytes.Repeat([]byte("v"), 1000)}
	}
	batch, err := recordbatch.Encode(recs, recordbatch.EncodeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	src := &fakeSource{parts: map[string]*fakePart{"t-0": p}}
	_, addr := startServer(b, src, ServerConfig{})
	c, err := Dial(context.Background(), addr, DialConfig{ReplicaID: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.SendFetch(Fetch{SID: 1, Gen: 1, LeaderEpoch: 3, Topic: "t"}); err != nil {
		b.Fatal(err)
	}

	const (
		interval = 1280 * time.Microsecond // 64 KiB every 1.28 ms: 50 MB/s
		run      = 2 * time.Second
	)
	var (
		mu       sync.Mutex
		appended []time.Time // by batch index
	)
	total := int(run / interval)
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		for i := range total {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
			mu.Lock()
			appended = append(appended, time.Now())
			mu.Unlock()
			if _, err := p.log.Append(slices.Clone(batch)); err != nil {
				b.Error(err)
				return
			}
			p.mu.Lock()
			subs := p.subsLocked()
			p.mu.Unlock()
			for _, fn := range subs {
				fn()
			}
		}
	}()

	stalls := []time.Duration{500 * time.Millisecond, 1200 * time.Millisecond}
	start := time.Now()
	var (
		delays  []time.Duration
		acked   int // batches acked so far
		leo     int64
		pending AckBatcher
	)
	deadline := start.Add(60 * time.Second)
	for acked < total {
		if time.Now().After(deadline) {
			b.Fatalf("acked %d of %d batches", acked, total)
		}
		f, err := c.Next()
		if err != nil {
			b.Fatal(err)
		}
		if f.Type == wire.ReplicaFrameData && len(f.Data.Records) > 0 {
			// The follower's append: 4 µs per KiB, and the stalls.
			spin(time.Duration(len(f.Data.Records)/1024) * 4 * time.Microsecond)
			if len(stalls) > 0 && time.Since(start) > stalls[0] {
				time.Sleep(100 * time.Millisecond)
				stalls = stalls[1:]
			}
			leo = f.Data.NextOffset
			pending.Add(Ack{SID: 1, Gen: 1, LogEndOffset: leo}, len(f.Data.Records))
		}
		// After every frame, ack by the rule.
		switch rule {
		case "bounded":
			if !pending.Due(c.Buffered()) {
				continue
			}
			pending.Take()
		case "whole-frames":
			if c.Buffered() != 0 {
				continue
			}
		case "any-byte":
			if c.fr.r.Buffered() != 0 {
				continue
			}
		}
		now := time.Now()
		mu.Lock()
		for ; acked < len(appended) && int64(acked+1)*64 <= leo; acked++ {
			delays = append(delays, now.Sub(appended[acked]))
		}
		mu.Unlock()
	}
	<-done
	return delays
}

// spin busies the goroutine for d (a CPU-bound append, not a sleep).
func spin(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
}
