package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
	"strand.dev/dataplane/partlog"
	"strand.dev/dataplane/producerstate"
)

// producers is a partition's idempotent-producer state, loaded on first
// use. Its mutex is held across every write to the log (leader appends of
// idempotent batches, follower appends, truncations) so the table always
// describes the log exactly. Lock order: after roleMu, before mu.
type producers struct {
	// snapMu serializes the writing of snapshots, which happens outside mu
	// (it fsyncs), with truncations, which delete or outdate snapshots.
	// Lock order: snapMu before mu.
	snapMu sync.Mutex
	mu     sync.Mutex
	table  *producerstate.Table // nil until loaded (and after a truncation)
	dirty  bool                 // changed since the last snapshot
	// changed is closed (and forgotten) when the table changes; nil
	// until someone waits.
	changed chan struct{}
}

// gapWait bounds how long a leader holds an idempotent batch that arrived
// ahead of the producer's sequence (see sequenceGap).
const gapWait = 200 * time.Millisecond

// sequenceGap is the refusal of an idempotent batch that starts beyond the
// producer's next sequence number. A client with several requests in flight
// sends them on separate connections, so a later one may reach the leader
// first: Append waits (up to gapWait, without locks) for the table to
// change and checks again before answering OUT_OF_ORDER_SEQUENCE_NUMBER.
type sequenceGap struct {
	err     *wire.Error
	changed <-chan struct{}
}

func (g *sequenceGap) Error() string { return g.err.Error() }
func (g *sequenceGap) Unwrap() error { return g.err }

// changedLocked returns the channel closed on the table's next change.
// Callers hold prod.mu.
func (p *Partition) changedLocked() <-chan struct{} {
	if p.prod.changed == nil {
		p.prod.changed = make(chan struct{})
	}
	return p.prod.changed
}

// notifyLocked wakes the waiters for a change. Callers hold prod.mu.
func (p *Partition) notifyLocked() {
	if p.prod.changed != nil {
		close(p.prod.changed)
		p.prod.changed = nil
	}
}

// waitGap waits for the table to change after a sequenceGap, until the
// request's gapWait budget (from *until, set on the first wait) runs out or
// ctx ends; false means answer the refusal.
func waitGap(ctx context.Context, gap *sequenceGap, until *time.Time) bool {
	if until.IsZero() {
		*until = time.Now().Add(gapWait)
	}
	d := time.Until(*until)
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-gap.changed:
		return true
	case <-t.C:
		return true // one last check
	case <-ctx.Done():
		return false
	}
}

// tableLocked returns the partition's producer table, rebuilding it from
// the newest snapshot and the log when needed. Callers hold prod.mu.
func (p *Partition) tableLocked() (*producerstate.Table, error) {
	if p.prod.table == nil {
		start := time.Now()
		t, err := producerstate.Rebuild(p.log, p.m.opts.MaxProducers)
		if err != nil {
			return nil, wire.Errorf(wire.CodeKafkaStorageError, "rebuild the producer state of partition %d of %q: %v", p.index, p.topic, err)
		}
		p.prod.table = t
		if d := time.Since(start); d > 100*time.Millisecond {
			p.m.log.Info("rebuilt producer state", "topic", p.topic, "partition", p.index, "producers", t.Len(), "took", d)
		}
	}
	return p.prod.table, nil
}

// idempotentBatches describes the batches of a produce: ok is false when
// none carries a producer id. A request mixing producers, or whose batches
// do not follow each other in sequence, is INVALID_REQUEST.
func idempotentBatches(b []byte) ([]producerstate.Incoming, bool, error) {
	var out []producerstate.Incoming
	any := false
	for pos := 0; pos < len(b); {
		h, err := recordbatch.ParseHeader(b[pos:])
		if err != nil || h.Size() <= 0 || pos+h.Size() > len(b) {
			// Append's validation reports the details.
			return nil, false, nil
		}
		in, ok := producerstate.IncomingOf(h)
		if ok {
			any = true
			if n := len(out); n > 0 && (in.ProducerID != out[n-1].ProducerID || in.Epoch != out[n-1].Epoch) {
				return nil, false, wire.Errorf(wire.CodeInvalidRequest, "one produce request carries batches of two producers")
			}
			out = append(out, in)
		} else if any {
			return nil, false, wire.Errorf(wire.CodeInvalidRequest, "one produce request mixes idempotent and plain batches")
		}
		pos += h.Size()
	}
	if any && len(out) == 0 {
		return nil, false, nil
	}
	return out, any, nil
}

// appendIdempotent is the leader's append of idempotent batches: a retry of
// batches already in the log is answered with their offsets and written
// again nowhere; new batches must continue the producer's sequence. It
// returns the append's description and whether it was a duplicate.
func (p *Partition) appendIdempotent(batches []byte, ins []producerstate.Incoming) (partlog.AppendInfo, bool, error) {
	p.prod.mu.Lock()
	defer p.prod.mu.Unlock()
	t, err := p.tableLocked()
	if err != nil {
		return partlog.AppendInfo{}, false, err
	}
	dup, err := t.Check(ins[0])
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) && t.Ahead(ins[0]) {
			return partlog.AppendInfo{}, false, &sequenceGap{err: we, changed: p.changedLocked()}
		}
		return partlog.AppendInfo{}, false, err
	}
	if dup != nil {
		first, last := *dup, *dup
		for _, in := range ins[1:] {
			d, err := t.Check(in)
			if err != nil || d == nil {
				return partlog.AppendInfo{}, false, wire.Errorf(wire.CodeOutOfOrderSequenceNumber,
					"producer %d: a request retries batch %d-%d but also carries new batches", in.ProducerID, dup.FirstSeq, dup.LastSeq)
			}
			last = *d
		}
		p.m.metrics.duplicates.Inc()
		return partlog.AppendInfo{BaseOffset: first.FirstOffset, LastOffset: last.LastOffset, LogAppendTime: -1,
			LogStartOffset: p.log.StartOffset()}, true, nil
	}
	for i := 1; i < len(ins); i++ {
		if want := ins[i-1].LastSeq + 1; ins[i].FirstSeq != want && !(ins[i-1].LastSeq == 1<<31-1 && ins[i].FirstSeq == 0) {
			return partlog.AppendInfo{}, false, wire.Errorf(wire.CodeOutOfOrderSequenceNumber,
				"producer %d: batch %d of the request starts at sequence %d, expected %d", ins[i].ProducerID, i, ins[i].FirstSeq, want)
		}
	}
	info, err := p.log.Append(batches)
	if err != nil {
		return info, false, err
	}
	p.recordLocked(t, batches)
	return info, false, nil
}

// recordLocked updates the table with appended batches (their offsets are
// final). Callers hold prod.mu.
func (p *Partition) recordLocked(t *producerstate.Table, batches []byte) {
	for pos := 0; pos < len(batches); {
		h, err := recordbatch.ParseHeader(batches[pos:])
		if err != nil || h.Size() <= 0 {
			return
		}
		t.UpdateHeader(h, p.m.now().UnixMilli())
		pos += h.Size()
		p.prod.dirty = true
	}
	p.notifyLocked()
}

// AppendReplicated implements fetcher.Replica: the follower's append of the
// leader's batches, keeping the producer state in step.
func (p *Partition) AppendReplicated(batches []byte) error {
	p.prod.mu.Lock()
	defer p.prod.mu.Unlock()
	// Load the table before the append (a follower keeps it current, so a
	// new leader need not rebuild it from the log on its first produce).
	t, err := p.tableLocked()
	if err != nil {
		return err
	}
	if _, err := p.log.AppendReplicated(batches); err != nil {
		return err
	}
	p.recordLocked(t, batches)
	return nil
}

// TruncateTo implements fetcher.Replica; the producer state is rebuilt from
// what is left.
func (p *Partition) TruncateTo(offset int64) error {
	p.prod.snapMu.Lock()
	defer p.prod.snapMu.Unlock()
	p.prod.mu.Lock()
	defer p.prod.mu.Unlock()
	if err := p.log.TruncateTo(offset); err != nil {
		return err
	}
	p.prod.table = nil
	p.notifyLocked()
	return nil
}

// TruncateFullyAndStartAt implements fetcher.Replica; the producer state
// and its snapshots go with the log.
func (p *Partition) TruncateFullyAndStartAt(offset int64) error {
	p.prod.snapMu.Lock()
	defer p.prod.snapMu.Unlock()
	p.prod.mu.Lock()
	defer p.prod.mu.Unlock()
	if err := p.log.TruncateFullyAndStartAt(offset); err != nil {
		return err
	}
	p.prod.table = producerstate.New(p.m.opts.MaxProducers)
	p.prod.dirty = true
	p.notifyLocked()
	return producerstate.DeleteSnapshots(p.log.Dir(), func(int64) bool { return true })
}

// snapshotProducers writes the producer state at the log end offset when it
// changed, expires idle producers, and keeps the two newest snapshots.
//
// The table is encoded under prod.mu, which every append holds, and written
// (with its fsyncs) after releasing it: on a disk busy with writeback an
// fsync can take hundreds of milliseconds, and appends, the leader's and
// the follower's, must not wait for it. snapMu keeps truncations, which
// delete or outdate snapshots, from running while one is being written.
func (p *Partition) snapshotProducers(force bool) error {
	p.prod.snapMu.Lock()
	defer p.prod.snapMu.Unlock()
	p.prod.mu.Lock()
	t := p.prod.table
	if t == nil || (!p.prod.dirty && !force) {
		p.prod.mu.Unlock()
		return nil
	}
	if ttl := p.m.opts.ProducerIDExpiration; ttl > 0 {
		if n := t.Expire(p.m.now().Add(-ttl).UnixMilli()); n > 0 {
			p.m.log.Debug("expired idle producers", "topic", p.topic, "partition", p.index, "producers", n)
		}
	}
	leo := p.log.EndOffset()
	enc, err := producerstate.EncodeSnapshot(leo, t)
	if err == nil {
		p.prod.dirty = false
	}
	p.prod.mu.Unlock()
	if err == nil {
		err = producerstate.WriteEncodedSnapshot(p.log.Dir(), leo, enc)
	}
	if err != nil {
		p.prod.mu.Lock()
		p.prod.dirty = true // try again next time
		p.prod.mu.Unlock()
		return fmt.Errorf("partition %d of %q: %w", p.index, p.topic, err)
	}
	offs, err := producerstate.Snapshots(p.log.Dir())
	if err != nil || len(offs) <= 2 {
		return err
	}
	keep := offs[len(offs)-2]
	return producerstate.DeleteSnapshots(p.log.Dir(), func(o int64) bool { return o < keep })
}
