package raftnode

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"strand.dev/client/wire"
	"strand.dev/controlplane/wal"
)

// maxDrain bounds how many queued inputs the loop takes before handling a
// Ready, so a flood of proposals cannot delay persistence indefinitely.
const maxDrain = 4096

// Run runs the loop until ctx ends, the member is removed (ErrRemoved) or
// storage fails. It closes the WAL and the transport before returning.
func (n *Node) Run(ctx context.Context) error {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("raftnode: Run called twice")
	}
	err := n.loop(ctx)
	n.failAll(err)
	n.tr.Close()
	if cerr := n.wal.Close(); err == nil && cerr != nil {
		err = cerr
	}
	n.lock.Close()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil
	}
	n.runErr = err
	close(n.done)
	return err
}

func (n *Node) loop(ctx context.Context) error {
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
			n.tick()
		case m := <-n.recvc:
			n.step(m)
		case p := <-n.propc:
			n.propose(p)
		case r := <-n.readc:
			n.reads.queued = append(n.reads.queued, r)
		case f := <-n.ctrlc:
			f()
		case f := <-n.reportc:
			f()
		}
		n.drain()
		n.issueReads()
		// Advance may make more ready (the leader's own acknowledgement
		// commits entries): handle it before blocking again.
		for n.rn.HasReady() {
			if err := n.handleReady(); err != nil {
				return err
			}
			if n.removedSelf {
				return ErrRemoved
			}
		}
		if n.removedSelf {
			return ErrRemoved
		}
	}
}

// drain takes what else is queued, without blocking, up to maxDrain items.
func (n *Node) drain() {
	for i := 0; i < maxDrain; i++ {
		select {
		case m := <-n.recvc:
			n.step(m)
		case p := <-n.propc:
			n.propose(p)
		case r := <-n.readc:
			n.reads.queued = append(n.reads.queued, r)
		case f := <-n.reportc:
			f()
		default:
			return
		}
	}
}

func (n *Node) tick() {
	n.ticks++
	n.rn.Tick()
	n.reissueReads()
	if n.raftState == raft.StateLeader && n.ticks%uint64(n.cfg.HeartbeatTick) == 0 {
		n.promoteLearners()
	}
}

func (n *Node) step(m *raftpb.Message) {
	if err := n.rn.Step(m); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) && !errors.Is(err, raft.ErrStepLocalMsg) {
		n.log.Debug("step", "type", m.GetType(), "from", m.GetFrom(), "err", err)
	}
}

// propose steps one proposal into raft (leader only).
func (n *Node) propose(p *proposal) {
	if n.raftState != raft.StateLeader {
		n.metrics.proposal("not_leader")
		p.finish(wire.ProposeResponse{}, ErrNotLeader)
		return
	}
	var err error
	if p.cc != nil {
		if n.pendingConf > n.applied {
			n.metrics.proposal("dropped")
			p.finish(wire.ProposeResponse{}, fmt.Errorf("%w (index %d, applied %d)", ErrConfChangePending, n.pendingConf, n.applied))
			return
		}
		err = n.rn.ProposeConfChange(p.cc)
	} else {
		err = n.rn.Propose(p.data)
	}
	if err != nil {
		n.metrics.proposal("dropped")
		p.finish(wire.ProposeResponse{}, fmt.Errorf("%w: %w", ErrDropped, err))
		return
	}
	n.waiting[p.id] = p
	n.unindexed = append(n.unindexed, p)
}

// handleReady persists, sends and applies one Ready; see the package
// documentation for the order.
func (n *Node) handleReady() error {
	rd := n.rn.Ready()
	if rd.SoftState != nil {
		n.softState(rd.SoftState)
	}
	if hs := rd.HardState; hs != nil {
		n.term, n.commit = hs.GetTerm(), hs.GetCommit()
	}

	// 1. The leader's appends, heartbeats and snapshots go out now: the
	// leader's own copy counts only once it is durable (after Advance).
	var later []*raftpb.Message
	early := rd.Messages[:0:0]
	for _, m := range rd.Messages {
		switch m.GetType() {
		case raftpb.MsgApp, raftpb.MsgHeartbeat, raftpb.MsgSnap:
			early = append(early, m)
		default:
			later = append(later, m)
		}
	}
	n.tr.Send(early)

	// 2. A snapshot from the leader; or else the committed entries that
	// are already durable here are applied now, while this Ready's
	// entries are written (their proposers need not wait for that fsync).
	// Entries from the first of rd.Entries on may be rewritten by this
	// Ready, so they wait.
	committed := rd.CommittedEntries
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.installSnapshot(rd.Snapshot); err != nil {
			return err
		}
	} else if len(committed) > 0 {
		k := len(committed)
		if len(rd.Entries) > 0 {
			first := rd.Entries[0].GetIndex()
			k = sort.Search(len(committed), func(i int) bool { return committed[i].GetIndex() >= first })
		}
		if err := n.applyTimed(committed[:k]); err != nil {
			return err
		}
		committed = committed[k:]
	}

	// 3. Entries and HardState, durable before any acknowledgement or vote.
	if err := n.wal.Save(rd.HardState, rd.Entries, rd.MustSync); err != nil {
		return fmt.Errorf("raftnode: persist: %w", err)
	}
	if err := n.storage.Append(rd.Entries); err != nil {
		return fmt.Errorf("raftnode: append to storage: %w", err)
	}
	if rd.HardState != nil {
		if err := n.storage.SetHardState(rd.HardState); err != nil {
			return fmt.Errorf("raftnode: hard state: %w", err)
		}
	}
	n.metrics.ready(len(rd.Entries), n.term, n.commit)
	if n.leaderSince {
		n.leaderSince = false
		// raft refuses conf changes until everything up to here applies.
		n.pendingConf = lastIndex(n.storage)
	}
	n.indexProposals(rd.Entries)

	// 4. Everything else, now that our state is durable.
	n.tr.Send(later)

	// 5. Apply the rest.
	if err := n.applyTimed(committed); err != nil {
		return err
	}

	// 6. Reads.
	for _, rs := range rd.ReadStates {
		n.readIndexed(rs.RequestCtx, rs.Index)
	}
	n.answerReads()

	// 7. Snapshot and compaction.
	if err := n.maybeSnapshot(); err != nil {
		return err
	}
	n.publish()
	if len(rd.CommittedEntries) > 0 {
		n.notifyApplied()
	}
	n.rn.Advance(rd)
	return nil
}

// applyTimed applies entries and records the time it took.
func (n *Node) applyTimed(ents []*raftpb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	start := time.Now()
	if err := n.apply(ents); err != nil {
		return err
	}
	n.metrics.applied(n.applied, time.Since(start))
	return nil
}

// softState follows leadership changes.
func (n *Node) softState(ss *raft.SoftState) {
	wasLeader := n.raftState == raft.StateLeader
	leaderChanged := ss.Lead != n.lead
	n.raftState, n.lead = ss.RaftState, ss.Lead
	isLeader := n.raftState == raft.StateLeader
	if leaderChanged {
		n.log.Info("leader changed", "leader", ss.Lead, "state", ss.RaftState.String(), "term", n.rn.BasicStatus().GetTerm())
	}
	if isLeader != wasLeader {
		n.metrics.leader(isLeader)
		if isLeader {
			n.leaderSince = true
		}
		if n.cfg.OnLeadership != nil {
			n.cfg.OnLeadership(isLeader, n.rn.BasicStatus().GetTerm())
		}
	}
}

// indexProposals records where this Ready appended the proposals stepped
// before it. A proposal that is not among the appended entries vanished
// (a leadership change truncated it, or raft replaced a refused conf
// change): its outcome is unknown to us.
func (n *Node) indexProposals(ents []*raftpb.Entry) {
	if len(n.unindexed) == 0 && n.raftState != raft.StateLeader {
		return
	}
	for _, e := range ents {
		var member, id uint64
		switch e.GetType() {
		case raftpb.EntryNormal:
			var ok bool
			if member, id, _, ok = decodeEnvelope(e.GetData()); !ok {
				continue
			}
		case raftpb.EntryConfChange:
			cc, err := decodeConfChange(e)
			if err != nil {
				continue
			}
			ctx, err := decodeCCContext(cc.GetContext())
			if err != nil {
				continue
			}
			member, id = ctx.Proposer, ctx.ProposalID
			n.pendingConf = e.GetIndex()
		default:
			continue
		}
		if member != n.cfg.ID {
			continue
		}
		if p, ok := n.waiting[id]; ok && p.index == 0 {
			p.index, p.term = e.GetIndex(), e.GetTerm()
			n.byIndex[p.index] = p
		}
	}
	for _, p := range n.unindexed {
		if p.index == 0 {
			delete(n.waiting, p.id)
			n.metrics.proposal("lost")
			p.finish(wire.ProposeResponse{}, fmt.Errorf("%w: the entry left the log before it was persisted", ErrOutcomeUnknown))
		}
	}
	n.unindexed = n.unindexed[:0]
}

// notifyApplied wakes everyone waiting on Applied and runs OnApply.
func (n *Node) notifyApplied() {
	n.mu.Lock()
	close(n.appliedCh)
	n.appliedCh = make(chan struct{})
	n.mu.Unlock()
	if n.cfg.OnApply != nil {
		n.cfg.OnApply()
	}
}

// failAll answers every waiting proposal and read: the loop is ending.
func (n *Node) failAll(cause error) {
	err := fmt.Errorf("%w: %w", ErrOutcomeUnknown, ErrStopped)
	if errors.Is(cause, ErrRemoved) {
		err = fmt.Errorf("%w: %w", ErrOutcomeUnknown, ErrRemoved)
	}
	for id, p := range n.waiting {
		p.finish(wire.ProposeResponse{}, err)
		delete(n.waiting, id)
	}
	n.byIndex = map[uint64]*proposal{}
	n.failReads(errReadStopped)
	// Drain the queues: nothing will take them any more.
	for {
		select {
		case p := <-n.propc:
			p.finish(wire.ProposeResponse{}, ErrStopped)
		case r := <-n.readc:
			r.done <- ErrStopped
		default:
			return
		}
	}
}

// installSnapshot saves a snapshot received from the leader and restores the
// state machine and the member list from it.
func (n *Node) installSnapshot(snap *raftpb.Snapshot) error {
	md := snap.GetMetadata()
	if err := n.snaps.save(snap); err != nil {
		return err
	}
	if err := n.wal.SaveSnapshot(wal.Marker{Index: md.GetIndex(), Term: md.GetTerm(), Kind: wal.MarkerReset}); err != nil {
		return fmt.Errorf("raftnode: persist snapshot marker: %w", err)
	}
	if err := n.storage.ApplySnapshot(snap); err != nil {
		return fmt.Errorf("raftnode: apply snapshot to storage: %w", err)
	}
	cs, machine, err := decodeSnapData(snap.GetData())
	if err != nil {
		return err
	}
	if err := n.cfg.Machine.Restore(machine); err != nil {
		return fmt.Errorf("raftnode: restore snapshot %d: %w", md.GetIndex(), err)
	}
	n.setClusterState(cs)
	n.confState = proto.Clone(md.GetConfState()).(*raftpb.ConfState)
	n.applied, n.snapIndex = md.GetIndex(), md.GetIndex()
	// Proposals at or below the snapshot were decided elsewhere.
	for idx, p := range n.byIndex {
		if idx <= n.applied {
			delete(n.byIndex, idx)
			delete(n.waiting, p.id)
			p.finish(wire.ProposeResponse{}, fmt.Errorf("%w: replaced by a snapshot from the leader", ErrOutcomeUnknown))
		}
	}
	n.metrics.snapshot("received", md.GetIndex(), 0)
	n.log.Info("installed snapshot from the leader", "index", md.GetIndex(), "term", md.GetTerm(), "bytes", len(snap.GetData()))
	if err := n.wal.ReleaseTo(md.GetIndex()); err != nil {
		return err
	}
	if err := n.snaps.purge(); err != nil {
		n.log.Warn("purge snapshots", "err", err)
	}
	n.notifyApplied()
	return nil
}
