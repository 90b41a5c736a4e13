package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"strand.dev/client/internal/routing"
	"strand.dev/client/internal/transport"
	"strand.dev/client/wire"
)

// maxQueued is how many fetched chunks a partition may have waiting for
// Poll: with two, one fetch is in flight while Poll works through the last.
const maxQueued = 2

// fetcher reads one partition. Its fields below the line are guarded by
// Consumer.mu; the goroutine (run) owns the rest.
type fetcher struct {
	c    *Consumer
	tp   TopicPartition
	wake chan struct{} // capacity 1
	stop chan struct{} // closed by stopLocked
	done chan struct{} // closed when run returns

	failures int // consecutive failed requests, for the backoff (run only)

	// Guarded by Consumer.mu:
	gen         uint64 // bumped by Seek and Unassign: older fetches are void
	known       bool   // pos and fetchPos are valid
	pos         int64  // next offset Poll returns
	fetchPos    int64  // next offset to fetch (ahead of pos by what is queued)
	resetTo     int64  // when !known: OffsetEarliest, OffsetLatest, or 0 for the policy
	err         error  // the partition is stopped with this error until Seek
	queued      int    // chunks in the Consumer's queue
	hw          int64  // high watermark as last reported
	cancelFetch context.CancelFunc
	stopped     bool
}

func newFetcher(c *Consumer, tp TopicPartition) *fetcher {
	return &fetcher{
		c: c, tp: tp, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		pos: -1, fetchPos: -1, hw: -1,
	}
}

func (f *fetcher) wakeUp() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// stopLocked ends the goroutine. Consumer.mu must be held.
func (f *fetcher) stopLocked() {
	if f.stopped {
		return
	}
	f.stopped = true
	close(f.stop)
	if f.cancelFetch != nil {
		f.cancelFetch()
	}
}

// wait blocks until woken, stopped, or d passes (d < 0: no timeout). It
// reports false when stopped.
func (f *fetcher) wait(d time.Duration) bool {
	var timeout <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-f.wake:
		return true
	case <-timeout:
		return true
	case <-f.stop:
		return false
	}
}

// run is the fetcher's goroutine.
func (f *fetcher) run() {
	defer f.c.wg.Done()
	defer close(f.done)
	c := f.c
	for {
		c.mu.Lock()
		if f.stopped {
			c.mu.Unlock()
			return
		}
		if f.err != nil || f.queued >= maxQueued {
			c.mu.Unlock()
			if !f.wait(-1) {
				return
			}
			continue
		}
		gen, known, fetchPos, resetTo := f.gen, f.known, f.fetchPos, f.resetTo
		ctx, cancel := context.WithCancel(c.ctx)
		f.cancelFetch = cancel
		c.mu.Unlock()

		var err error
		if !known {
			err = f.resolve(ctx, gen, resetTo)
		} else {
			err = f.fetch(ctx, gen, fetchPos)
		}
		cancel()
		if err == nil {
			f.failures = 0
			continue
		}
		if !f.retry(gen, err) {
			return
		}
	}
}

// retry decides what a failed request means: stop the partition with the
// error (Poll reports it), or wait a backoff and go on. It reports false if
// the fetcher was stopped while waiting.
func (f *fetcher) retry(gen uint64, err error) bool {
	c := f.c
	if c.ctx.Err() != nil {
		return false
	}
	c.mu.Lock()
	if f.gen != gen || f.stopped {
		// A Seek or Unassign cancelled the request: not a failure.
		c.mu.Unlock()
		return true
	}
	c.stats.fetchErrors.Add(1)
	var (
		nn *routing.NoNodeError
		ce *corruptError
	)
	if errors.As(err, &ce) || !transport.Retriable(err) && !errors.As(err, &nn) {
		f.err = fmt.Errorf("consuming %s: %w", f.tp, err)
		c.pushLocked(&chunk{f: f, gen: gen, err: f.err})
		c.mu.Unlock()
		return true
	}
	c.mu.Unlock()
	f.failures++
	c.router.Invalidate()
	c.log.Debug("fetch failed, will retry", "partition", f.tp.String(), "failures", f.failures, "err", err)
	return f.wait(c.cfg.conn.RetryBackoff.Delay(f.failures))
}

// resolve finds the start position of a partition without one.
func (f *fetcher) resolve(ctx context.Context, gen uint64, resetTo int64) error {
	c := f.c
	at := ""
	switch {
	case resetTo == OffsetEarliest:
		at = wire.AtEarliest
	case resetTo == OffsetLatest:
		at = wire.AtLatest
	case c.cfg.reset == ResetEarliest:
		at = wire.AtEarliest
	case c.cfg.reset == ResetLatest:
		at = wire.AtLatest
	default:
		c.mu.Lock()
		if f.gen == gen {
			f.err = &NoOffsetError{Topic: f.tp.Topic, Partition: f.tp.Partition}
			c.pushLocked(&chunk{f: f, gen: gen, err: f.err})
		}
		c.mu.Unlock()
		return nil
	}
	off, err := f.listOffset(ctx, at)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if f.gen == gen {
		f.known, f.pos, f.fetchPos = true, off, off
		c.log.Debug("position reset", "partition", f.tp.String(), "at", at, "offset", off)
	}
	c.mu.Unlock()
	return nil
}

func (f *fetcher) listOffset(ctx context.Context, at string) (int64, error) {
	c := f.c
	ctx, cancel := context.WithTimeout(ctx, c.cfg.requestTimeout)
	defer cancel()
	leader, err := c.router.LeaderOf(ctx, f.tp.Topic, f.tp.Partition)
	if err != nil {
		return 0, err
	}
	resp, err := c.tr.ListOffset(ctx, leader.Addr, f.tp.Topic, f.tp.Partition, at)
	if err != nil {
		return 0, err
	}
	if resp.Offset < 0 {
		return 0, &transport.NodeError{Addr: leader.Addr, Path: wire.PathOffsets, Garbage: true,
			Err: fmt.Errorf("answered offset %d for %s", resp.Offset, at)}
	}
	return resp.Offset, nil
}

// fetch reads from the leader at offset and queues what it got.
func (f *fetcher) fetch(ctx context.Context, gen uint64, offset int64) error {
	c := f.c
	ctx, cancel := context.WithTimeout(ctx, c.cfg.requestTimeout+c.cfg.maxWait)
	defer cancel()
	leader, err := c.router.LeaderOf(ctx, f.tp.Topic, f.tp.Partition)
	if err != nil {
		return err
	}
	resp, err := c.tr.Fetch(ctx, leader.Addr, transport.FetchRequest{
		Topic: f.tp.Topic, Partition: f.tp.Partition, Offset: offset,
		MaxBytes: c.cfg.maxPartitionBytes, MinBytes: c.cfg.minBytes, MaxWait: c.cfg.maxWait,
	})
	if errors.Is(err, wire.ErrOffsetOutOfRange) {
		return f.outOfRange(gen, offset, err)
	}
	if err != nil {
		return err
	}
	recs, next, decodeErr := decode(resp.Body, f.tp, offset)
	c.stats.fetches.Add(1)
	c.stats.bytesFetched.Add(int64(len(resp.Body)))
	c.stats.recordsFetched.Add(int64(len(recs)))
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.gen != gen {
		return nil
	}
	f.hw = resp.HighWatermark
	if next > offset {
		f.fetchPos = next
		c.pushLocked(&chunk{f: f, gen: gen, records: recs, next: next})
	}
	if decodeErr != nil {
		return &corruptError{fmt.Errorf("the batch %s sent at offset %d does not decode: %w", leader.Addr, next, decodeErr)}
	}
	return nil
}

// outOfRange applies the reset policy to a position outside the log.
func (f *fetcher) outOfRange(gen uint64, offset int64, err error) error {
	c := f.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.gen != gen {
		return nil
	}
	if c.cfg.reset == ResetNone {
		f.err = &OffsetOutOfRangeError{Topic: f.tp.Topic, Partition: f.tp.Partition, Offset: offset, Err: err}
		c.pushLocked(&chunk{f: f, gen: gen, err: f.err})
		return nil
	}
	c.log.Debug("offset out of range, resetting", "partition", f.tp.String(), "offset", offset,
		"policy", c.cfg.reset.String(), "err", err)
	// Records queued before the reset stay valid; the position moves.
	f.known, f.resetTo = false, 0
	return nil
}

// corruptError is fetched data that does not decode (a CRC mismatch, a
// malformed batch). Fetching again would return the same bytes, so the
// partition stops with it; Seek past the offset to go on.
type corruptError struct{ err error }

func (e *corruptError) Error() string { return e.err.Error() }
func (e *corruptError) Unwrap() error { return e.err }
