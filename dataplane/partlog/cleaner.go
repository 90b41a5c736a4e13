package partlog

import (
	"context"
	"errors"
	"sync"
	"time"
)

// CleanerOptions configure the Manager's log cleaner (Kafka's
// log.cleaner.* broker settings). Zero values take the defaults named.
type CleanerOptions struct {
	// Threads is log.cleaner.threads: logs cleaned at once. 0 runs no
	// cleaner (log.cleaner.enable=false).
	Threads int
	// DedupeBufferBytes is log.cleaner.dedupe.buffer.size: the memory of
	// the key maps, shared out among the threads (default 128 MiB). Each
	// key takes 24 bytes, and a map is full at 90%: a thread with a 64 MiB
	// share maps about 2.5 million keys per pass; a log with more dirty
	// keys is cleaned in several passes.
	DedupeBufferBytes int64
	// IOMaxBytesPerSecond is log.cleaner.io.max.bytes.per.second: the
	// bytes the threads read and write together per second (0: no bound).
	IOMaxBytesPerSecond float64
	// IOBufferBytes is the read and write buffer of each thread
	// (log.cleaner.io.buffer.size; default 1 MiB).
	IOBufferBytes int
	// Backoff is log.cleaner.backoff.ms: how long a thread sleeps when no
	// log needs cleaning (default 15 s).
	Backoff time.Duration
}

// withDefaults fills the zero fields.
func (o CleanerOptions) withDefaults() CleanerOptions {
	if o.DedupeBufferBytes <= 0 {
		o.DedupeBufferBytes = 128 << 20
	}
	if o.IOBufferBytes <= 0 {
		o.IOBufferBytes = 1 << 20
	}
	if o.Backoff <= 0 {
		o.Backoff = 15 * time.Second
	}
	return o
}

// CleanerStats are the cleaner's counters over every log.
type CleanerStats struct {
	Threads       int
	Runs          uint64 // cleanings that rewrote something
	Errors        uint64
	BytesRead     uint64
	BytesWritten  uint64
	LastRun       time.Time     // end of the last cleaning
	LastRunTook   time.Duration // its duration
	ThrottleSleep time.Duration // time the I/O bound made the threads sleep
}

// cleaner is the Manager's running log cleaner: Threads goroutines owned
// by Run, each with its own key map, sharing one throttle. A log is
// cleaned by one thread at a time (cleanerState.busy).
type cleaner struct {
	opts     CleanerOptions
	throttle *throttle
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu    sync.Mutex
	stats CleanerStats
}

// runCleaner starts the cleaner threads under ctx; they stop when ctx ends
// or Close cancels them. It returns a function that waits for them.
func (m *Manager) runCleaner(ctx context.Context) func() {
	o := m.opts.Cleaner.withDefaults()
	if o.Threads <= 0 {
		return func() {}
	}
	cctx, cancel := context.WithCancel(ctx)
	m.mu.Lock()
	if m.closed || m.cleaner != nil {
		m.mu.Unlock()
		cancel()
		return func() {}
	}
	c := &cleaner{opts: o, throttle: newThrottle(o.IOMaxBytesPerSecond, time.Now), cancel: cancel}
	c.stats.Threads = o.Threads
	m.cleaner = c
	m.mu.Unlock()
	for i := 0; i < o.Threads; i++ {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			m.cleanerLoop(cctx, c, newKeyMap(o.DedupeBufferBytes/int64(o.Threads)))
		}()
	}
	m.log.Info("log cleaner started", "threads", o.Threads, "dedupe_buffer_bytes", o.DedupeBufferBytes,
		"io_max_bytes_per_second", o.IOMaxBytesPerSecond)
	return func() {
		cancel()
		c.wg.Wait()
	}
}

// stopCleaner stops the cleaner threads and waits for them (Close).
func (m *Manager) stopCleaner() {
	m.mu.RLock()
	c := m.cleaner
	m.mu.RUnlock()
	if c != nil {
		c.cancel()
		c.wg.Wait()
	}
}

// cleanerLoop is one cleaner thread: clean the dirtiest log, or sleep for
// the backoff when none needs it.
func (m *Manager) cleanerLoop(ctx context.Context, c *cleaner, km *keyMap) {
	for ctx.Err() == nil {
		pl, ok := m.grabDirtiest()
		if !ok {
			sleepCtx(ctx, c.opts.Backoff)
			continue
		}
		res, err := pl.Log.Clean(ctx, CleanOptions{keyMap: km, throttle: c.throttle, BufferBytes: c.opts.IOBufferBytes})
		pl.Log.clean.mu.Lock()
		pl.Log.clean.busy = false
		pl.Log.clean.mu.Unlock()
		c.mu.Lock()
		c.stats.BytesRead += uint64(res.BytesRead)
		c.stats.BytesWritten += uint64(res.BytesWritten)
		if err == nil && res.Cleaned {
			c.stats.Runs++
			c.stats.LastRun, c.stats.LastRunTook = time.Now(), res.Took
		}
		if err != nil && ctx.Err() == nil && !errors.Is(err, ErrClosed) {
			c.stats.Errors++
		}
		c.mu.Unlock()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrClosed):
		case err != nil:
			m.log.Error("log cleaning failed", "topic", pl.Topic, "partition", pl.Partition, "err", err)
			sleepCtx(ctx, c.opts.Backoff)
		case res.Cleaned:
			mbps := 0.0
			if s := res.Took.Seconds(); s > 0 {
				mbps = float64(res.BytesRead) / s / 1e6
			}
			m.log.Info("cleaned log", "topic", pl.Topic, "partition", pl.Partition,
				"segments_in", res.SegmentsIn, "segments_out", res.SegmentsOut, "bytes_read", res.BytesRead,
				"bytes_written", res.BytesWritten, "keys", res.Keys, "first_dirty", res.MapEnd,
				"aborted_groups", res.Aborted, "took", res.Took, "read_mb_per_s", mbps)
		}
	}
}

// grabDirtiest picks the log most in need of cleaning and marks it busy:
// logs whose oldest dirty record passed max.compaction.lag.ms first, then
// the highest dirty ratio at or above its min.cleanable.dirty.ratio.
func (m *Manager) grabDirtiest() (PartitionLog, bool) {
	now := m.opts.Now()
	var best PartitionLog
	var bestPlan cleanPlan
	found := false
	for _, pl := range m.All() {
		if !pl.Log.Config().Compacted() {
			continue
		}
		pl.Log.clean.mu.Lock()
		busy := pl.Log.clean.busy
		pl.Log.clean.mu.Unlock()
		if busy {
			continue
		}
		p := pl.Log.plan(now)
		if p.closed || p.dirtyBytes == 0 || (!p.mustClean && p.ratio() < p.cfg.MinCleanableDirtyRatio) {
			continue
		}
		if !found || (p.mustClean && !bestPlan.mustClean) || (p.mustClean == bestPlan.mustClean && p.ratio() > bestPlan.ratio()) {
			best, bestPlan, found = pl, p, true
		}
	}
	if !found {
		return PartitionLog{}, false
	}
	cs := &best.Log.clean
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.busy {
		return PartitionLog{}, false
	}
	cs.busy = true
	return best, true
}

// CleanerStats returns the cleaner's counters (zero when it does not run).
func (m *Manager) CleanerStats() CleanerStats {
	m.mu.RLock()
	c := m.cleaner
	m.mu.RUnlock()
	if c == nil {
		return CleanerStats{}
	}
	c.mu.Lock()
	st := c.stats
	c.mu.Unlock()
	st.ThrottleSleep = c.throttle.sleptTotal()
	return st
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
