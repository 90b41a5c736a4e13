package server

import (
	"context"
	"sync"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
	"strand.dev/coordinator/group"
	"strand.dev/coordinator/offsets"
)

// groupEntry is one group held by a served partition: the state machine,
// the committed offsets, and what of it is durable.
type groupEntry struct {
	// mu guards every field. Lock order: partition.mu, then this.
	mu sync.Mutex

	g       *group.Group
	offsets map[group.TopicPartition]committed

	// durable is the group version known to be in the log; inflight the
	// latest snapshot write not yet done; persisted whether the log holds a
	// snapshot of the group at all (so that deleting it needs a tombstone).
	durable   uint64
	inflight  *snapshotWrite
	persisted bool

	// seq numbers offset writes in submission (= log) order; an offset in
	// memory is replaced only by a later one.
	seq uint64

	// changed is closed (and replaced) whenever the group version changes;
	// long-polling heartbeats wait on it. notified is the version of the
	// last close.
	changed  chan struct{}
	notified uint64

	// dead is set when the entry was dropped from its partition; a request
	// that finds it dead looks the group up again.
	dead bool
}

// committed is an offset in memory and the sequence of the write that made
// it.
type committed struct {
	offsets.OffsetValue
	seq uint64
}

// snapshotWrite is a group snapshot in flight.
type snapshotWrite struct {
	version uint64
	w       *write
}

func newEntry(g *group.Group, offs map[group.TopicPartition]offsets.OffsetValue) *groupEntry {
	e := &groupEntry{g: g, offsets: make(map[group.TopicPartition]committed, len(offs)), changed: make(chan struct{}), notified: g.Version()}
	for tp, v := range offs {
		e.offsets[tp] = committed{OffsetValue: v}
	}
	return e
}

// lockLive locks the entry of group id in pt, creating it when create is
// set, and skipping entries dropped meanwhile. It returns nil (unlocked)
// when there is no entry and create is not set.
func (pt *partition) lockLive(id string, create bool) *groupEntry {
	for {
		e := pt.entry(id, create)
		if e == nil {
			return nil
		}
		e.mu.Lock()
		if !e.dead {
			return e
		}
		e.mu.Unlock()
	}
}

// notifyLocked wakes long polls if the group changed.
func (e *groupEntry) notifyLocked() {
	if v := e.g.Version(); v != e.notified {
		e.notified = v
		close(e.changed)
		e.changed = make(chan struct{})
	}
}

// persistLocked makes sure the group's current version will be durable: it
// returns the snapshot write to wait for (nil when it already is). Called
// with e.mu held; the submission may block on a full queue (the writer never
// takes a group lock, so this cannot deadlock).
func (s *Server) persistLocked(pt *partition, e *groupEntry) *snapshotWrite {
	v := e.g.Version()
	if v == e.durable {
		return nil
	}
	if e.inflight != nil {
		select {
		case <-e.inflight.w.done:
			if e.inflight.w.err != nil {
				e.inflight = nil // failed: write again
			}
		default:
		}
	}
	if e.inflight != nil && e.inflight.version >= v {
		return e.inflight
	}
	snap := e.g.Snapshot()
	w := newWrite([]recordbatch.Record{{
		Key:   offsets.GroupKey(e.g.ID()).Encode(),
		Value: offsets.EncodeGroupValue(snap),
	}})
	sw := &snapshotWrite{version: v, w: w}
	if err := pt.writerFor(e.g.ID()).submit(s.stopCtx, pt.stop, w); err != nil {
		w.err = err
		close(w.done)
		return sw
	}
	e.inflight = sw
	e.persisted = true
	return sw
}

// awaitSnapshot waits for a snapshot write and records its durability.
func (s *Server) awaitSnapshot(ctx context.Context, e *groupEntry, sw *snapshotWrite) error {
	if sw == nil {
		return nil
	}
	if err := sw.w.wait(ctx); err != nil {
		return wire.Errorf(wire.CodeCoordinatorNotAvailable, "group %q could not be saved: %v", e.g.ID(), err)
	}
	e.mu.Lock()
	e.durable = max(e.durable, sw.version)
	if e.inflight == sw {
		e.inflight = nil
	}
	e.mu.Unlock()
	return nil
}
