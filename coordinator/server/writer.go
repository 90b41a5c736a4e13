package server

import (
	"context"
	"fmt"
	"time"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
	"strand.dev/coordinator/offsets"
)

// write is one submission to a partition's writer: records that become
// durable together (or not at all).
type write struct {
	recs []recordbatch.Record
	size int
	// done is closed once err is set.
	done chan struct{}
	err  error
	// offset is the offset of the last record, once written.
	offset int64
}

func newWrite(recs []recordbatch.Record) *write {
	w := &write{recs: recs, done: make(chan struct{})}
	for i := range recs {
		w.size += recs[i].Size() + 32
	}
	return w
}

// wait blocks until the write is durable or failed, or ctx ends.
func (w *write) wait(ctx context.Context) error {
	select {
	case <-w.done:
		return w.err
	case <-ctx.Done():
		return wire.Errorf(wire.CodeRequestTimedOut, "waiting for the offsets write: %v", ctx.Err())
	}
}

// writer is the only producer to one offsets partition. Its goroutine takes
// submissions in order, packs consecutive ones into one batch and writes it
// with acks=all; completions happen in submission order, which is the log's
// order.
type writer struct {
	s     *Server
	p     int32
	epoch int64
	queue chan *write
}

func newWriter(s *Server, p int32, epoch int64) *writer {
	return &writer{s: s, p: p, epoch: epoch, queue: make(chan *write, s.cfg.MaxWriteQueue)}
}

// submit queues w, blocking while the queue is full, until ctx or stop ends.
func (wr *writer) submit(ctx context.Context, stop <-chan struct{}, w *write) error {
	select {
	case wr.queue <- w:
		return nil
	case <-stop:
		return wire.Errorf(wire.CodeNotCoordinator, "offsets partition %d is no longer served here", wr.p)
	case <-ctx.Done():
		return wire.Errorf(wire.CodeRequestTimedOut, "the offsets write queue is full: %v", ctx.Err())
	}
}

// run writes until ctx ends; queued writes then fail.
func (wr *writer) run(ctx context.Context) {
	hdr := []recordbatch.Header{{Key: offsets.HeaderOwnerEpoch, Value: offsets.EpochHeader(wr.epoch)}}
	var pending []*write
	var recs []recordbatch.Record
	for {
		var first *write
		select {
		case <-ctx.Done():
			wr.drain(fmt.Errorf("offsets partition %d: %w", wr.p, wire.Errorf(wire.CodeNotCoordinator, "no longer served here")))
			return
		case first = <-wr.queue:
		}
		pending = append(pending[:0], first)
		n, size := len(first.recs), first.size
	gather:
		for n < wr.s.cfg.MaxWriteBatchRecords && size < wr.s.cfg.MaxWriteBatchBytes {
			select {
			case w := <-wr.queue:
				pending = append(pending, w)
				n += len(w.recs)
				size += w.size
			default:
				break gather
			}
		}
		recs = recs[:0]
		now := wr.s.cfg.Now().UnixMilli()
		for _, w := range pending {
			for _, r := range w.recs {
				r.Headers = hdr
				if r.Timestamp == 0 {
					r.Timestamp = now
				}
				recs = append(recs, r)
			}
		}
		err := wr.produce(ctx, recs)
		if err != nil {
			wr.s.met.writeErrors.Inc()
			wr.s.log.Warn("offsets write failed", "partition", wr.p, "records", len(recs), "err", err)
		}
		for _, w := range pending {
			w.err = err
			close(w.done)
		}
	}
}

// produce writes records as one batch with acks=all.
func (wr *writer) produce(ctx context.Context, recs []recordbatch.Record) error {
	batch, err := recordbatch.Encode(recs, recordbatch.EncodeOptions{})
	if err != nil {
		return fmt.Errorf("encode offsets batch: %w", err)
	}
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, wr.s.writeTimeout())
	defer cancel()
	_, err = wr.s.lc.Produce(wctx, wire.OffsetsTopic, wr.p, batch)
	wr.s.met.writes.Inc()
	wr.s.met.writeRecords.Observe(float64(len(recs)))
	wr.s.met.writeSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		return wire.Errorf(wire.CodeCoordinatorNotAvailable, "writing to %s-%d: %v", wire.OffsetsTopic, wr.p, err)
	}
	return nil
}

// drain fails every queued write.
func (wr *writer) drain(err error) {
	for {
		select {
		case w := <-wr.queue:
			w.err = err
			close(w.done)
		default:
			return
		}
	}
}
