package replica

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"strand.dev/client/wire"
	"strand.dev/dataplane/isr"
	"strand.dev/dataplane/partlog"
	"strand.dev/dataplane/replstream"
)

// Partition is one partition replica held by this node: its log and its
// replication state. It leads the partition (appends, serves consumers and
// followers, tracks the followers and the ISR, moves the high watermark),
// follows another node (the fetcher appends what the leader streams), or
// waits for a leader.
//
// All methods are safe for concurrent use. Locks, in order: roleMu (held
// shared by a leader append across its log write, exclusively by a change
// of role, so that no leader append lands in a follower's log), then mu
// (the replication state; never held across log I/O, waits or calls out),
// then subsMu (the stream subscribers).
type Partition struct {
	m     *Manager
	topic string
	index int32
	log   *partlog.Log

	// hw is the high watermark: offsets below it are committed and visible
	// to consumers. On a leader it only grows; a follower takes the
	// leader's (capped by its own log end offset).
	hw atomic.Int64
	// hwMoved wakes long-polling fetches and acks=all produces when hw
	// moves, when the role changes and when the partition stops.
	hwMoved notifier
	// stopped is set when the partition is removed
	// (UNKNOWN_TOPIC_OR_PARTITION) or the manager closes (SHUTTING_DOWN);
	// requests then fail with it.
	stopped atomic.Pointer[wire.Error]

	roleMu sync.RWMutex

	mu    sync.Mutex // guards state
	state partitionState

	subsMu sync.Mutex
	subs   map[int]func()
	nsub   int

	isrBusy atomic.Bool // an ISR change of this partition is being proposed

	prod producers // idempotent-producer state
}

// partitionState is the part of a replica's state that changes with
// leadership and configuration.
type partitionState struct {
	leader      bool
	leaderID    int32 // -1 when there is none
	leaderAddr  string
	leaderEpoch int32
	// partitionEpoch is the metadata's partition epoch this state is at
	// (the compare-and-set value of ISR changes).
	partitionEpoch int32
	replicas       []int32
	// isr is the ISR as the metadata says (followers, standalone leaders);
	// a cluster leader keeps it in track instead.
	isr []int32
	// track is a cluster leader's follower bookkeeping; nil otherwise.
	track *isr.State
	// minISR is the topic's min.insync.replicas.
	minISR int
}

// PartitionInfo is a snapshot of a partition's offsets and role.
type PartitionInfo struct {
	Topic          string
	Partition      int32
	Leader         bool
	LeaderID       int32
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
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

// Log is the partition's log (the fetcher writes a follower's).
func (p *Partition) Log() *partlog.Log { return p.log }

// HighWatermark is the first offset consumers cannot see yet.
func (p *Partition) HighWatermark() int64 { return p.hw.Load() }

// isrOf returns the ISR of a state. Callers hold mu.
func (st *partitionState) isrOf() []int32 {
	if st.track != nil {
		return st.track.ISR()
	}
	return slices.Clone(st.isr)
}

// Role reports whether this node leads the partition, the leader epoch and
// the in-sync replicas, without touching the log.
func (p *Partition) Role() (leader bool, epoch int32, isr []int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.leader, p.state.leaderEpoch, p.state.isrOf()
}

// underReplicated reports a leader whose ISR is smaller than its replicas.
func (p *Partition) underReplicated() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := &p.state
	return st.leader && st.track != nil && len(st.track.ISR()) < len(st.replicas)
}

// Info returns a snapshot of the partition.
func (p *Partition) Info() PartitionInfo {
	p.mu.Lock()
	st := p.state
	isrNow := st.isrOf()
	p.mu.Unlock()
	return PartitionInfo{
		Topic:          p.topic,
		Partition:      p.index,
		Leader:         st.leader,
		LeaderID:       st.leaderID,
		LeaderEpoch:    st.leaderEpoch,
		PartitionEpoch: st.partitionEpoch,
		Replicas:       slices.Clone(st.replicas),
		ISR:            isrNow,
		HighWatermark:  p.hw.Load(),
		LogStartOffset: p.log.StartOffset(),
		LogEndOffset:   p.log.EndOffset(),
		Stats:          p.log.Stats(),
	}
}

// snapshot returns the state under the lock, with its ISR copied.
func (p *Partition) snapshot() (partitionState, []int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state, p.state.isrOf()
}

// advanceHW raises the high watermark to hw if that is higher and wakes
// the waiters.
func (p *Partition) advanceHW(hw int64) {
	for {
		cur := p.hw.Load()
		if hw <= cur {
			return
		}
		if p.hw.CompareAndSwap(cur, hw) {
			// The replica streams poll high watermark moves (and carry
			// them with records); only the waiters are woken.
			p.hwMoved.notify()
			return
		}
	}
}

// maybeAdvanceHW recomputes a leader's high watermark: the log end offset
// for a standalone leader, the smallest log end offset over the ISR for a
// cluster leader.
func (p *Partition) maybeAdvanceHW() {
	p.mu.Lock()
	if !p.state.leader {
		p.mu.Unlock()
		return
	}
	leo := p.log.EndOffset()
	hw, ok := leo, true
	if p.state.track != nil {
		hw, ok = p.state.track.HighWatermark(leo)
	}
	p.mu.Unlock()
	if ok {
		p.advanceHW(hw)
	}
}

// stop marks the partition stopped, so that requests fail with why, and
// wakes its waiters.
func (p *Partition) stop(why *wire.Error) {
	p.stopped.Store(why)
	p.hwMoved.notify()
	p.notifySubs()
}

// checkServing fails when the partition stopped.
func (p *Partition) checkServing() error {
	if why := p.stopped.Load(); why != nil {
		return why
	}
	return nil
}

// notLeader is NOT_LEADER_OR_FOLLOWER naming the leader this node knows of.
func (p *Partition) notLeader(st partitionState) *wire.Error {
	e := wire.Errorf(wire.CodeNotLeaderOrFollower, "this node does not lead partition %d of topic %q", p.index, p.topic)
	if st.leaderID >= 0 {
		id, epoch := st.leaderID, st.leaderEpoch
		e.Leader, e.LeaderEpoch, e.LeaderAddr = &id, &epoch, st.leaderAddr
		e.Message += fmt.Sprintf("; node %d leads it at epoch %d", id, epoch)
	}
	return e
}

// checkLeader fails unless this replica leads, and checks the leader epoch a
// request carries (NoEpoch skips the check): an older epoch is
// FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH (this node has not
// caught up with the metadata yet).
func (p *Partition) checkLeader(st partitionState, epoch int32) error {
	if !st.leader {
		return p.notLeader(st)
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
	var (
		st       partitionState
		info     partlog.AppendInfo
		dup      bool
		gapUntil time.Time // see sequenceGap
	)
	for {
		var isrNow []int32
		p.roleMu.RLock()
		st, isrNow = p.snapshot()
		if err := p.checkLeader(st, NoEpoch); err != nil {
			p.roleMu.RUnlock()
			return AppendResult{}, err
		}
		if req.Acks == AcksAll && len(isrNow) < st.minISR {
			p.roleMu.RUnlock()
			p.m.metrics.notEnough.Add(1)
			return AppendResult{}, wire.Errorf(wire.CodeNotEnoughReplicas,
				"the in-sync replicas of partition %d of %q are %v, min.insync.replicas is %d", p.index, p.topic, isrNow, st.minISR)
		}
		ins, idem, err := idempotentBatches(req.Batches)
		if err != nil {
			p.roleMu.RUnlock()
			return AppendResult{}, err
		}
		if idem {
			info, dup, err = p.appendIdempotent(req.Batches, ins)
		} else {
			info, err = p.log.Append(req.Batches)
		}
		p.roleMu.RUnlock()
		var gap *sequenceGap
		if errors.As(err, &gap) {
			if waitGap(ctx, gap, &gapUntil) {
				continue
			}
			err = gap.err
		}
		if err != nil {
			return AppendResult{}, err
		}
		break
	}
	if st.track != nil && !dup {
		p.mu.Lock()
		if p.state.track != nil {
			p.state.track.Appended(info.BaseOffset, p.m.now())
		}
		p.mu.Unlock()
	}
	if !dup {
		p.notifySubs()
		p.maybeAdvanceHW()
	}
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
	if err := p.waitHW(ctx, info.LastOffset+1, req.Timeout, st.leaderEpoch); err != nil {
		return res, err
	}
	return res, nil
}

// waitHW blocks until the high watermark reaches target (then checks the
// ISR against min.insync.replicas: NOT_ENOUGH_REPLICAS_AFTER_APPEND), the
// timeout passes (REQUEST_TIMED_OUT), this node stops leading at epoch
// (NOT_LEADER_OR_FOLLOWER: the records may or may not survive), ctx ends,
// or the partition stops. This is the produce purgatory: each waiting
// request is parked on the partition's notifier.
func (p *Partition) waitHW(ctx context.Context, target int64, timeout time.Duration, epoch int32) error {
	var timer *time.Timer
	for {
		moved := p.hwMoved.wait()
		if err := p.checkServing(); err != nil {
			return err
		}
		st, isrNow := p.snapshot()
		if !st.leader || st.leaderEpoch != epoch {
			return p.notLeader(st)
		}
		if p.hw.Load() >= target {
			if len(isrNow) < st.minISR {
				p.m.metrics.notEnoughAfter.Add(1)
				return wire.Errorf(wire.CodeNotEnoughReplicasAfterAppend,
					"the records are written, but the in-sync replicas of partition %d of %q shrank to %v, below min.insync.replicas %d",
					p.index, p.topic, isrNow, st.minISR)
			}
			return nil
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
	st, _ := p.snapshot()
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
		if st.track != nil && !slices.Contains(st.replicas, req.ReplicaID) {
			return res, wire.Errorf(wire.CodeInvalidRequest, "node %d is not a replica of partition %d of %q", req.ReplicaID, p.index, p.topic)
		}
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
	st, _ := p.snapshot()
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

// --- the leader side of the replica stream (replstream.LeaderPartition) ---

// CheckFollower implements replstream.LeaderPartition.
func (p *Partition) CheckFollower(replica, leaderEpoch int32) (replstream.LeaderState, error) {
	st, _ := p.snapshot()
	ls := replstream.LeaderState{LeaderEpoch: st.leaderEpoch, HighWatermark: p.hw.Load(),
		LogStartOffset: p.log.StartOffset(), LogEndOffset: p.log.EndOffset()}
	if err := p.checkServing(); err != nil {
		return ls, err
	}
	if err := p.checkLeader(st, leaderEpoch); err != nil {
		return ls, err
	}
	if !slices.Contains(st.replicas, replica) {
		return ls, wire.Errorf(wire.CodeNotLeaderOrFollower, "node %d is not a replica of partition %d of %q (replicas %v)",
			replica, p.index, p.topic, st.replicas)
	}
	return ls, nil
}

// ReadReplica implements replstream.LeaderPartition: it reads up to the
// log end offset.
func (p *Partition) ReadReplica(offset int64, maxBytes int32) (partlog.Region, error) {
	return p.log.Read(offset, maxBytes, math.MaxInt64)
}

// FollowerAck implements replstream.LeaderPartition: a follower's log end
// offset moves the high watermark, and a follower that caught up may join
// the ISR.
func (p *Partition) FollowerAck(replica, leaderEpoch int32, leo int64) {
	p.mu.Lock()
	st := &p.state
	if !st.leader || st.leaderEpoch != leaderEpoch || st.track == nil {
		p.mu.Unlock()
		return
	}
	leaderLEO := p.log.EndOffset()
	st.track.Report(replica, leo, leaderLEO, p.m.now())
	hw, ok := st.track.HighWatermark(leaderLEO)
	join := len(st.track.CaughtUp(max(hw, p.hw.Load()))) > 0 && st.track.Pending() == nil
	p.mu.Unlock()
	if ok {
		p.advanceHW(hw)
	}
	if join {
		p.m.isrWork(p)
	}
}

// Subscribe implements replstream.LeaderPartition: fn is called when the
// log grows or the role changes (the streams poll the high watermark).
func (p *Partition) Subscribe(fn func()) (cancel func()) {
	p.subsMu.Lock()
	defer p.subsMu.Unlock()
	if p.subs == nil {
		p.subs = make(map[int]func())
	}
	p.nsub++
	id := p.nsub
	p.subs[id] = fn
	return func() {
		p.subsMu.Lock()
		delete(p.subs, id)
		p.subsMu.Unlock()
	}
}

// notifySubs calls the subscribers (outside every other lock).
func (p *Partition) notifySubs() {
	p.subsMu.Lock()
	if len(p.subs) == 0 {
		p.subsMu.Unlock()
		return
	}
	fns := make([]func(), 0, len(p.subs))
	for _, fn := range p.subs {
		fns = append(fns, fn)
	}
	p.subsMu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// --- the follower side (fetcher.Replica) ---

// LeaderOffsets implements fetcher.Replica: a follower's high watermark is
// the leader's, capped by its own log end offset.
func (p *Partition) LeaderOffsets(hw, logStart, logEnd int64) {
	p.mu.Lock()
	leader := p.state.leader
	p.mu.Unlock()
	if leader {
		return
	}
	p.hw.Store(min(hw, p.log.EndOffset()))
}
