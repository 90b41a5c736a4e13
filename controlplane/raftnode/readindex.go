package raftnode

import (
	"context"
	"encoding/binary"
	"fmt"
)

// readRequest is one linearizable read waiting for the read index to be
// applied. done has room for the one answer.
type readRequest struct {
	done chan error
}

// readBatch is the reads that share one raft ReadIndex request.
type readBatch struct {
	reqs   []*readRequest
	index  uint64 // the read index, once raft answered
	known  bool
	issued uint64 // tick of the (last) ReadIndex call
}

// readQueue is the loop's read bookkeeping (loop-owned).
type readQueue struct {
	queued   []*readRequest
	inflight map[uint64]*readBatch // by request context
	next     uint64
}

// ReadIndex waits until this member has applied everything committed before
// the call (raft's ReadIndex: the leader confirms with a quorum that it still
// leads). After it returns nil, reading the state machine is linearizable.
// Without a leader it waits until ctx ends.
func (n *Node) ReadIndex(ctx context.Context) error {
	r := &readRequest{done: make(chan error, 1)}
	select {
	case n.readc <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
}

// issueReads sends one ReadIndex for every read queued since the last one.
func (n *Node) issueReads() {
	q := &n.reads
	if len(q.queued) == 0 {
		return
	}
	if q.inflight == nil {
		q.inflight = map[uint64]*readBatch{}
	}
	q.next++
	q.inflight[q.next] = &readBatch{reqs: q.queued, issued: n.ticks}
	q.queued = nil
	n.rn.ReadIndex(readCtx(q.next))
}

// reissueReads asks again for batches raft has not answered within an
// election timeout (the request was dropped: no leader, leader change).
func (n *Node) reissueReads() {
	q := &n.reads
	for id, b := range q.inflight {
		if !b.known && n.ticks-b.issued >= uint64(n.cfg.ElectionTick) {
			delete(q.inflight, id)
			q.queued = append(q.queued, b.reqs...)
		}
	}
	n.issueReads()
}

// readIndexed records raft's answer for a batch.
func (n *Node) readIndexed(rctx []byte, index uint64) {
	if len(rctx) != 8 {
		return
	}
	if b, ok := n.reads.inflight[binary.BigEndian.Uint64(rctx)]; ok {
		b.index, b.known = index, true
	}
}

// answerReads answers the batches whose read index is applied.
func (n *Node) answerReads() {
	for id, b := range n.reads.inflight {
		if b.known && n.applied >= b.index {
			for _, r := range b.reqs {
				r.done <- nil
			}
			delete(n.reads.inflight, id)
		}
	}
}

// failReads answers every read with err (the loop is stopping).
func (n *Node) failReads(err error) {
	for _, r := range n.reads.queued {
		r.done <- err
	}
	n.reads.queued = nil
	for id, b := range n.reads.inflight {
		for _, r := range b.reqs {
			r.done <- err
		}
		delete(n.reads.inflight, id)
	}
}

func readCtx(id uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, id)
}

// errReadStopped wraps ErrStopped for reads cut short by shutdown.
var errReadStopped = fmt.Errorf("read index: %w", ErrStopped)
