package replica

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"strand.dev/client/wire"
	"strand.dev/dataplane/partlog"
)

// Partition is one partition replica held by this node: its log and its
// replication state. Today every Partition is a leader whose in-sync replica
// set is this node alone, so the high watermark follows the log end offset;
// the replication work adds the follower side (fetch offsets of followers,
// ISR changes) to this struct without changing its callers.
//
// All methods are safe for concurrent use. Lock order: Partition.mu is taken
// alone; it is never held while calling into the log or while waiting.
type Partition struct {
	topic string
	index int32
	log   *partlog.Log

	// hw is the high watermark: offsets below it are committed and visible
	// to consumers. It only grows while the leader epoch stays the same.
	hw atomic.Int64
	// hwMoved wakes long-polling fetches and acks=all produces when hw
	// moves, and when the partition stops (removed or node closing).
	hwMoved notifier
	// stopped is set when the partition is removed
	// (UNKNOWN_TOPIC_OR_PARTITION) or the manager closes (SHUTTING_DOWN);
	// requests then fail with it.
	stopped atomic.Pointer[wire.Error]

	mu    sync.Mutex // guards state
	state partitionState
}

// partitionState is the part of a replica's state that changes with
// leadership and configuration.
type partitionState struct {
	leader      bool
	leaderEpoch int32
	// isr is the in-sync replica set as node ids; the leader alone today.
	isr []int32
	// minISR is the topic's min.insync.replicas.
	minISR int
}

// PartitionInfo is a snapshot of a partition's offsets and role.
type PartitionInfo struct {
	Topic          string
	Partition      int32
	Leader         bool
	LeaderEpoch    int32
	ISR            []int32
	HighWatermark  int64
	LogStartOffset int64
	LogEndOffset   int64
	Stats          partlog.Stats
}

// Topic is the partition's topic.
func (p *Partition) Topic() string { return p.topic }

// Index is the partition's number within its topic.
func (p *Partition) Index() int32 { return p.index }

// HighWatermark is the first offset consumers cannot see yet.
func (p *Partition) HighWatermark() int64 { return p.hw.Load() }

// Role reports whether this node leads the partition, the leader epoch and
// the in-sync replicas, without touching the log.
func (p *Partition) Role() (leader bool, epoch int32, isr []int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.leader, p.state.leaderEpoch, append([]int32(nil), p.state.isr...)
}

// Info returns a snapshot of the partition.
func (p *Partition) Info() PartitionInfo {
	p.mu.Lock()
	st := p.state
	isr := append([]int32(nil), st.isr...)
	p.mu.Unlock()
	return PartitionInfo{
		Topic:          p.topic,
		Partition:      p.index,
		Leader:         st.leader,
		LeaderEpoch:    st.leaderEpoch,
		ISR:            isr,
		HighWatermark:  p.hw.Load(),
		LogStartOffset: p.log.StartOffset(),
		LogEndOffset:   p.log.EndOffset(),
		Stats:          p.log.Stats(),
	}
}

// snapshot returns the state under the lock.
func (p *Partition) snapshot() partitionState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// advanceHW raises the high watermark to hw if that is higher and wakes the
// waiters.
func (p *Partition) advanceHW(hw int64) {
	for {
		cur := p.hw.Load()
		if hw <= cur {
			return
		}
		if p.hw.CompareAndSwap(cur, hw) {
			p.hwMoved.notify()
			return
		}
	}
}

// maybeAdvanceHW recomputes the high watermark from the ISR's log end
// offsets. With the leader as the only ISR member, that is the local log end
// offset.
func (p *Partition) maybeAdvanceHW() {
	p.advanceHW(p.log.EndOffset())
}

// stop marks the partition stopped, so that requests fail with why, and
// wakes its waiters.
func (p *Partition) stop(why *wire.Error) {
	p.stopped.Store(why)
	p.hwMoved.notify()
}

// checkServing fails when the partition stopped.
func (p *Partition) checkServing() error {
	if why := p.stopped.Load(); why != nil {
		return why
	}
	return nil
}

// checkLeader fails unless this replica leads, and checks the leader epoch a
// request carries (NoEpoch skips the check): an older epoch is
// FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH (this node has not
// caught up with the metadata yet).
func (p *Partition) checkLeader(st partitionState, epoch int32) error {
	if !st.leader {
		return wire.Errorf(wire.CodeNotLeaderOrFollower, "this node does not lead partition %d of topic %q", p.index, p.topic)
	}
	switch {
	case epoch == NoEpoch || epoch == st.leaderEpoch:
		return nil
	case epoch < st.leaderEpoch:
		return wire.Errorf(wire.CodeFencedLeaderEpoch, "leader epoch %d is older than the current %d", epoch, st.leaderEpoch)
	default:
		return wire.Errorf(wire.CodeUnknownLeaderEpoch, "leader epoch %d is newer than the %d this node knows", epoch, st.leaderEpoch)
	}
}

// Append validates and appends batches as the leader and waits as acks asks.
func (p *Partition) Append(ctx context.Context, req AppendRequest) (AppendResult, error) {
	if err := p.checkServing(); err != nil {
		return AppendResult{}, err
	}
	if !req.Acks.Valid() {
		return AppendResult{}, wire.Errorf(wire.CodeInvalidRequiredAcks, "acks %d: use -1, 0 or 1", req.Acks)
	}
	st := p.snapshot()
	if err := p.checkLeader(st, NoEpoch); err != nil {
		return AppendResult{}, err
	}
	if req.Acks == AcksAll && len(st.isr) < st.minISR {
		return AppendResult{}, wire.Errorf(wire.CodeNotEnoughReplicas,
			"the in-sync replicas of partition %d of %q are %d, min.insync.replicas is %d", p.index, p.topic, len(st.isr), st.minISR)
	}
	info, err := p.log.Append(req.Batches)
	if err != nil {
		return AppendResult{}, err
	}
	p.maybeAdvanceHW()
	res := AppendResult{
		BaseOffset:     info.BaseOffset,
		LastOffset:     info.LastOffset,
		LogAppendTime:  info.LogAppendTime,
		LogStartOffset: info.LogStartOffset,
		Records:        info.Records,
		Bytes:          info.Bytes,
	}
	if req.Acks != AcksAll {
		return res, nil
	}
	if err := p.waitHW(ctx, info.LastOffset+1, req.Timeout); err != nil {
		return res, err
	}
	return res, nil
}

// waitHW blocks until the high watermark reaches target, the timeout passes
// (REQUEST_TIMED_OUT), ctx ends, or the partition stops.
func (p *Partition) waitHW(ctx context.Context, target int64, timeout time.Duration) error {
	var timer *time.Timer
	for {
		moved := p.hwMoved.wait()
		if p.hw.Load() >= target {
			return nil
		}
		if err := p.checkServing(); err != nil {
			return err
		}
		if timer == nil {
			timer = time.NewTimer(timeout)
			defer timer.Stop()
		}
		select {
		case <-moved:
		case <-timer.C:
			return wire.Errorf(wire.CodeRequestTimedOut, "the high watermark did not reach %d within %v", target, timeout)
		case <-ctx.Done():
			return wire.Errorf(wire.CodeRequestTimedOut, "gave up waiting for the high watermark: %v", ctx.Err())
		}
	}
}

// FetchResult is a fetch's answer: a region of a segment file (to be sent
// with sendfile; the receiver closes Region.File when it is not nil) and the
// partition's offsets when it was read.
type FetchResult struct {
	Region         partlog.Region
	HighWatermark  int64
	LogStartOffset int64
	LogEndOffset   int64
	LeaderEpoch    int32
	// Waited reports that the fetch long-polled.
	Waited bool
}

// Close releases the region's file descriptor, if any.
func (r *FetchResult) Close() error {
	if r.Region.File == nil {
		return nil
	}
	err := r.Region.File.Close()
	r.Region.File = nil
	return err
}

// Fetch reads from req.Offset, waiting up to req.MaxWait until req.MinBytes
// are available below the high watermark (followers read up to the log end
// offset). It returns early when ctx ends, with what is available then.
func (p *Partition) Fetch(ctx context.Context, req FetchRequest) (FetchResult, error) {
	var timer *time.Timer
	waited, expired := false, false
	for {
		moved := p.hwMoved.wait()
		res, err := p.readOnce(req)
		if err != nil {
			return res, err
		}
		res.Waited = waited
		if expired || res.Region.Len >= int64(req.MinBytes) || req.MaxWait <= 0 {
			return res, nil
		}
		// Not enough yet: drop the region and wait for the high watermark
		// to move, then read again; after the deadline, answer what is there.
		if err := res.Close(); err != nil {
			return FetchResult{}, fmt.Errorf("close fetch region: %w", err)
		}
		if timer == nil {
			timer = time.NewTimer(req.MaxWait)
			defer timer.Stop()
		}
		waited = true
		select {
		case <-moved:
		case <-timer.C:
			expired = true
		case <-ctx.Done():
			expired = true
		}
	}
}

// readOnce reads what is there now.
func (p *Partition) readOnce(req FetchRequest) (FetchResult, error) {
	if err := p.checkServing(); err != nil {
		return FetchResult{}, err
	}
	st := p.snapshot()
	if err := p.checkLeader(st, req.LeaderEpoch); err != nil {
		return FetchResult{}, err
	}
	// Read the high watermark before the log end offset: the log only
	// grows past the watermark, so hw <= leo holds for the pair.
	hw := p.hw.Load()
	leo := p.log.EndOffset()
	lso := p.log.StartOffset()
	res := FetchResult{HighWatermark: hw, LogStartOffset: lso, LogEndOffset: leo, LeaderEpoch: st.leaderEpoch}
	if req.Offset < lso || req.Offset > leo {
		return res, wire.Errorf(wire.CodeOffsetOutOfRange,
			"offset %d is outside [%d, %d] of partition %d of %q", req.Offset, lso, leo, p.index, p.topic)
	}
	limit := hw
	if req.ReplicaID != NoReplica {
		limit = leo
	}
	if req.Offset >= limit {
		return res, nil
	}
	region, err := p.log.Read(req.Offset, req.MaxBytes, limit)
	if err != nil {
		return res, err
	}
	res.Region = region
	return res, nil
}

// ListOffset answers an offset lookup. Latest is the high watermark; a
// timestamp lookup finds the first record at or after the timestamp below
// the high watermark, or offset -1 when there is none.
func (p *Partition) ListOffset(q OffsetQuery) (offset, timestamp int64, epoch int32, err error) {
	if err := p.checkServing(); err != nil {
		return 0, 0, 0, err
	}
	st := p.snapshot()
	if err := p.checkLeader(st, NoEpoch); err != nil {
		return 0, 0, 0, err
	}
	switch q.Kind {
	case OffsetEarliest:
		return p.log.StartOffset(), -1, st.leaderEpoch, nil
	case OffsetLatest:
		return p.hw.Load(), -1, st.leaderEpoch, nil
	case OffsetByTimestamp:
		off, ts, err := p.log.OffsetForTimestamp(q.Timestamp)
		if err != nil {
			return 0, 0, 0, err
		}
		if off >= p.hw.Load() {
			return -1, -1, st.leaderEpoch, nil
		}
		return off, ts, st.leaderEpoch, nil
	}
	return 0, 0, 0, wire.Errorf(wire.CodeInvalidRequest, "unknown offset lookup %d", q.Kind)
}
