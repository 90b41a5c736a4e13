package consumer

import (
	"context"
	"errors"
	"sort"
	"sync"

	"strand.dev/client/wire"
)

// CommitCallback receives the outcome of an asynchronous commit: the
// offsets it committed (or tried to) and nil or the error.
type CommitCallback func(offsets map[TopicPartition]int64, err error)

// CommitSync commits the positions of every partition being consumed (the
// offset after the last record Poll returned) and returns once the
// coordinator has written them durably (acks=all), or ctx ends. Commits on
// a consumer go out one at a time in the order they were asked for, so an
// earlier commit never overwrites a later one.
func (g *GroupConsumer) CommitSync(ctx context.Context) error {
	offs := g.positions(g.Assignment(), false)
	if len(offs) == 0 {
		return nil
	}
	return g.CommitOffsets(ctx, offs)
}

// CommitOffsets commits the given offsets (for each partition, the offset of
// the next record to consume: the last processed offset plus one) and
// returns once they are durable. Every partition must be owned by this
// member; otherwise the coordinator refuses the whole commit.
func (g *GroupConsumer) CommitOffsets(ctx context.Context, offsets map[TopicPartition]int64) error {
	if len(offsets) == 0 {
		return nil
	}
	done := make(chan error, 1)
	if err := g.commits.enqueue(offsets, ctx, func(_ map[TopicPartition]int64, err error) { done <- err }); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CommitAsync commits the positions of every partition being consumed
// without waiting; cb (nil for none) is called with the outcome, from the
// commit goroutine. A CommitAsync queued behind a commit in flight is
// merged with the next ones queued, so that only the latest offsets go out.
func (g *GroupConsumer) CommitAsync(cb CommitCallback) {
	offs := g.positions(g.Assignment(), false)
	if len(offs) == 0 {
		if cb != nil {
			cb(offs, nil)
		}
		return
	}
	g.CommitOffsetsAsync(offs, cb)
}

// CommitOffsetsAsync is CommitOffsets without waiting (see CommitAsync).
func (g *GroupConsumer) CommitOffsetsAsync(offsets map[TopicPartition]int64, cb CommitCallback) {
	if err := g.commits.enqueue(offsets, nil, cb); err != nil && cb != nil {
		cb(offsets, err)
	}
}

// Committed returns the group's committed offsets of the given partitions
// (partitions without one are left out), as the coordinator has them.
func (g *GroupConsumer) Committed(ctx context.Context, tps ...TopicPartition) (map[TopicPartition]int64, error) {
	return g.fetchCommitted(ctx, tps)
}

// commitReq is a commit waiting in the queue. A synchronous one carries its
// caller's ctx; asynchronous ones are bounded by CommitTimeout and may be
// merged.
type commitReq struct {
	offsets map[TopicPartition]int64
	ctx     context.Context // nil: asynchronous
	cbs     []CommitCallback
}

// commitQueue sends commits one at a time, in order. Its goroutine (run) is
// started by Subscribe and stopped by stop.
type commitQueue struct {
	g *GroupConsumer

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*commitReq
	busy    bool // a commit is being sent
	stopped bool
}

func (q *commitQueue) init(g *GroupConsumer) {
	q.g = g
	q.cond = sync.NewCond(&q.mu)
}

// enqueue adds a commit; an asynchronous one merges into an asynchronous
// one already waiting at the tail.
func (q *commitQueue) enqueue(offsets map[TopicPartition]int64, ctx context.Context, cb CommitCallback) error {
	q.g.mu.Lock()
	subscribed := q.g.subscribed
	q.g.mu.Unlock()
	if !subscribed {
		return ErrNotSubscribed
	}
	cp := make(map[TopicPartition]int64, len(offsets))
	for tp, o := range offsets {
		cp[tp] = o
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return ErrClosed
	}
	if n := len(q.queue); ctx == nil && n > 0 && q.queue[n-1].ctx == nil {
		tail := q.queue[n-1]
		for tp, o := range cp {
			tail.offsets[tp] = o
		}
		if cb != nil {
			tail.cbs = append(tail.cbs, cb)
		}
		return nil
	}
	r := &commitReq{offsets: cp, ctx: ctx}
	if cb != nil {
		r.cbs = append(r.cbs, cb)
	}
	q.queue = append(q.queue, r)
	q.cond.Broadcast()
	return nil
}

// run sends the queued commits in order until stop.
func (q *commitQueue) run() {
	for {
		q.mu.Lock()
		for len(q.queue) == 0 && !q.stopped {
			q.cond.Wait()
		}
		if len(q.queue) == 0 {
			q.mu.Unlock()
			return
		}
		r := q.queue[0]
		q.queue = q.queue[1:]
		q.busy = true
		q.mu.Unlock()

		ctx, cancel := r.ctx, context.CancelFunc(func() {})
		if ctx == nil {
			ctx, cancel = context.WithTimeout(q.g.ctx, q.g.cfg.commitTimeout)
		}
		err := q.g.sendCommit(ctx, r.offsets)
		cancel()
		if err != nil {
			q.g.gstats.commitFailures.Add(1)
		} else {
			q.g.gstats.commits.Add(1)
		}
		for _, cb := range r.cbs {
			cb(r.offsets, err)
		}
		q.mu.Lock()
		q.busy = false
		q.cond.Broadcast()
		q.mu.Unlock()
	}
}

// flush waits until the queue is empty and nothing is in flight, or ctx
// ends.
func (q *commitQueue) flush(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for (len(q.queue) > 0 || q.busy) && ctx.Err() == nil && !q.stopped {
		q.cond.Wait()
	}
}

// stop ends the goroutine; commits still queued fail with ErrClosed.
func (q *commitQueue) stop() {
	q.mu.Lock()
	q.stopped = true
	left := q.queue
	q.queue = nil
	q.cond.Broadcast()
	q.mu.Unlock()
	for _, r := range left {
		for _, cb := range r.cbs {
			cb(r.offsets, ErrClosed)
		}
	}
}

// sendCommit commits offsets as the member's current generation, retrying
// on coordinator moves until ctx ends. A refusal for good is a
// *CommitError.
func (g *GroupConsumer) sendCommit(ctx context.Context, offsets map[TopicPartition]int64) error {
	tps := make([]TopicPartition, 0, len(offsets))
	for tp := range offsets {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
	req := wire.OffsetCommitRequest{GroupID: g.group}
	for _, tp := range tps {
		req.Offsets = append(req.Offsets, wire.OffsetCommit{Topic: tp.Topic, Partition: tp.Partition, Offset: offsets[tp], LeaderEpoch: -1})
	}
	var err error
	for attempt := 0; ; attempt++ {
		g.mu.Lock()
		joined := g.joined
		req.MemberID, req.GroupInstanceID, req.Generation = g.memberID, g.cfg.instanceID, g.generation
		g.mu.Unlock()
		if !joined {
			return &CommitError{Group: g.group, Err: wire.Errorf(wire.CodeUnknownMember, "the consumer is not a member of the group now (joining or rejoining)")}
		}
		err = g.coordCall(ctx, wire.PathGroupCommit, req, &wire.OffsetCommitResponse{}, ctx)
		// A generation that moved on while the request was on its way is
		// worth one more try with the new one; anything else is final.
		if errors.Is(err, wire.ErrIllegalGeneration) && attempt == 0 {
			g.mu.Lock()
			moved := g.generation != req.Generation
			g.mu.Unlock()
			if moved {
				continue
			}
		}
		break
	}
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			return &CommitError{Group: g.group, Err: err}
		}
		return err
	}
	g.mu.Lock()
	for tp, o := range offsets {
		if g.active[tp] {
			g.committed[tp] = o
		}
	}
	g.mu.Unlock()
	return nil
}
