package partlog

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

// TestConcurrentUse runs appends, reads, offset lookups, flushes,
// retention and index checkpoints at once (run it under -race): every read
// must return whole, valid batches in offset order or OFFSET_OUT_OF_RANGE
// when retention overtook it.
func TestConcurrentUse(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 8 << 10
	cfg.RetentionBytes = 64 << 10
	l := openLog(t, t.TempDir(), cfg, Options{Files: NewFilePool(4, 16<<10)})
	var stop atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
		stop.Store(true)
	}
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				if _, err := l.Append(batch(t, "c", 1+i%5, time.Now().UnixMilli(), 200)); err != nil {
					fail(err)
				}
			}
		}()
	}
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 9))
			for !stop.Load() {
				start, end := l.StartOffset(), l.EndOffset()
				if end == start {
					continue
				}
				off := start + rng.Int64N(end-start)
				reg, err := l.Read(off, int32(rng.IntN(8000)), end)
				if errors.Is(err, wire.ErrOffsetOutOfRange) {
					continue
				}
				if err != nil {
					fail(err)
					return
				}
				if reg.Len == 0 {
					continue
				}
				b := regionBytes(t, reg)
				hs, err := recordbatch.ValidateWith(b, recordbatch.ValidateOptions{Stored: true})
				if err != nil {
					fail(err)
					return
				}
				if hs[0].BaseOffset != reg.FirstOffset || hs[0].LastOffset() < off || hs[len(hs)-1].NextOffset() != reg.NextOffset {
					fail(errors.New("region does not match its batches"))
					return
				}
				if _, _, err := l.OffsetForTimestamp(time.Now().Add(-time.Second).UnixMilli()); err != nil {
					fail(err)
					return
				}
			}
		}(uint64(r))
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if err := l.Flush(); err != nil {
				fail(err)
			}
			if _, err := l.ApplyRetention(time.Now()); err != nil {
				fail(err)
			}
			if err := l.CheckpointIndexes(); err != nil {
				fail(err)
			}
			_ = l.Stats()
		}
	}()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && !stop.Load() {
		time.Sleep(10 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	st := l.Stats()
	if st.StartOffset == 0 || st.EndOffset < 100 {
		t.Fatalf("too little happened: %+v", st)
	}
	t.Logf("%+v", st)
}
