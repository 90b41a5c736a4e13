package raftnode

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"

	"strand.dev/client/wire"
	"strand.dev/controlplane/wal"
)

// apply applies committed entries in order.
func (n *Node) apply(ents []*raftpb.Entry) error {
	for _, e := range ents {
		idx := e.GetIndex()
		if idx <= n.applied {
			continue
		}
		switch e.GetType() {
		case raftpb.EntryNormal:
			n.applyCommand(e)
		case raftpb.EntryConfChange:
			if err := n.applyConfChange(e); err != nil {
				return err
			}
		case raftpb.EntryConfChangeV2:
			cc := &raftpb.ConfChangeV2{}
			if err := proto.Unmarshal(e.GetData(), cc); err != nil {
				return fmt.Errorf("raftnode: conf change v2 at %d: %w", idx, err)
			}
			n.confState = n.rn.ApplyConfChange(cc)
			n.lastConfIndex = idx
		}
		n.applied = idx
		if p, ok := n.byIndex[idx]; ok {
			// Another entry committed where ours was appended.
			delete(n.byIndex, idx)
			delete(n.waiting, p.id)
			n.metrics.proposal("superseded")
			p.finish(wire.ProposeResponse{}, ErrSuperseded)
		}
	}
	return nil
}

// applyCommand applies a normal entry and answers its proposer.
func (n *Node) applyCommand(e *raftpb.Entry) {
	member, id, cmd, ok := decodeEnvelope(e.GetData())
	if !ok {
		return // a new leader's empty entry
	}
	resp, err := n.cfg.Machine.Apply(e.GetIndex(), cmd)
	if member != n.cfg.ID {
		return
	}
	if p, ok := n.waiting[id]; ok {
		delete(n.waiting, id)
		delete(n.byIndex, p.index)
		if err != nil {
			n.metrics.proposal("rejected")
		} else {
			n.metrics.proposal("applied")
		}
		p.finish(resp, err)
	}
}

// applyConfChange applies a membership change to raft, the member list and
// the transport, and answers its proposer.
func (n *Node) applyConfChange(e *raftpb.Entry) error {
	cc, err := decodeConfChange(e)
	if err != nil {
		return err
	}
	ctx, err := decodeCCContext(cc.GetContext())
	if err != nil {
		return err
	}
	id := cc.GetNodeId()
	n.confState = n.rn.ApplyConfChange(cc)
	n.lastConfIndex = e.GetIndex()
	m := ctx.Member
	m.ID = id
	n.mu.Lock()
	switch cc.GetType() {
	case raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode:
		if old, ok := n.members[id]; ok && m.PeerAddr == "" {
			m.PeerAddr, m.APIAddr = old.PeerAddr, old.APIAddr
		}
		m.Learner = cc.GetType() == raftpb.ConfChangeAddLearnerNode
		n.members[id] = m
	case raftpb.ConfChangeRemoveNode:
		delete(n.members, id)
		n.removed[id] = true
	case raftpb.ConfChangeUpdateNode:
		if old, ok := n.members[id]; ok {
			m.Learner = old.Learner
			n.members[id] = m
		}
	}
	n.mu.Unlock()
	switch cc.GetType() {
	case raftpb.ConfChangeRemoveNode:
		n.tr.RemovePeer(id)
		if id == n.cfg.ID {
			n.log.Warn("this member was removed from the cluster")
			n.removedSelf = true
			if err := markRemoved(n.cfg.Dir); err != nil {
				return err
			}
		}
	default:
		if m.PeerAddr != "" {
			n.tr.SetPeer(id, m.PeerAddr)
		}
	}
	n.log.Info("membership changed", "change", cc.GetType().String(), "id", id, "index", e.GetIndex(),
		"voters", n.confState.GetVoters(), "learners", n.confState.GetLearners())
	if ctx.Proposer == n.cfg.ID {
		if p, ok := n.waiting[ctx.ProposalID]; ok {
			delete(n.waiting, p.id)
			delete(n.byIndex, p.index)
			n.metrics.proposal("applied")
			p.finish(wire.ProposeResponse{}, nil)
		}
	}
	return nil
}

// promoteLearners proposes, on the leader, to make a caught-up learner a
// voter. One configuration change at a time.
func (n *Node) promoteLearners() {
	if n.pendingConf > n.applied {
		return
	}
	st := n.rn.Status()
	for id, pr := range st.Progress {
		if !pr.IsLearner || pr.State != tracker.StateReplicate || pr.Match < st.GetCommit() {
			continue
		}
		m, ok := n.Member(id)
		if !ok {
			continue
		}
		m.Learner = false
		cctx, err := json.Marshal(ccContext{Member: m})
		if err != nil {
			continue
		}
		cc := &raftpb.ConfChange{Type: raftpb.ConfChangeAddNode.Enum(), NodeId: new(id), Context: cctx}
		if err := n.rn.ProposeConfChange(cc); err != nil {
			n.log.Debug("promote learner", "id", id, "err", err)
			return
		}
		n.log.Info("promoting caught-up learner to voter", "id", id, "match", pr.Match)
		// Block further promotions until this one applies.
		n.pendingConf = lastIndex(n.storage) + 1
		return
	}
}

// maybeSnapshot takes a snapshot once SnapshotCount entries were applied
// since the last one, then compacts the log behind it.
func (n *Node) maybeSnapshot() error {
	if n.needSnapshot && n.applied > n.snapIndex {
		n.needSnapshot = false
		n.log.Info("taking a snapshot for a member added since the last one")
		return n.snapshot()
	}
	if n.applied-n.snapIndex < n.cfg.SnapshotCount {
		return nil
	}
	return n.snapshot()
}

// SnapshotInfo describes a snapshot taken with Snapshot.
type SnapshotInfo struct {
	Index uint64
	Bytes int
	Took  time.Duration
}

// Snapshot takes a snapshot now (and compacts the log behind it), as
// SnapshotCount would (operators, tests, benchmarks).
func (n *Node) Snapshot(ctx context.Context) (SnapshotInfo, error) {
	var (
		info SnapshotInfo
		err  error
	)
	if cerr := n.ctrl(ctx, func() {
		if n.applied == n.snapIndex {
			info.Index = n.snapIndex
			return
		}
		start := time.Now()
		info.Bytes, err = n.snapshotSize()
		info.Index, info.Took = n.snapIndex, time.Since(start)
	}); cerr != nil {
		return info, cerr
	}
	return info, err
}

// snapshot snapshots the state at the applied index.
func (n *Node) snapshot() error {
	_, err := n.snapshotSize()
	return err
}

// snapshotSize snapshots the state at the applied index and returns the
// snapshot's size.
func (n *Node) snapshotSize() (int, error) {
	start := time.Now()
	machine, err := n.cfg.Machine.Snapshot()
	if err != nil {
		return 0, fmt.Errorf("raftnode: snapshot the state machine: %w", err)
	}
	data, err := encodeSnapData(n.clusterState(), machine)
	if err != nil {
		return 0, err
	}
	snap, err := n.storage.CreateSnapshot(n.applied, n.confState, data)
	if err != nil {
		return 0, fmt.Errorf("raftnode: create snapshot at %d: %w", n.applied, err)
	}
	md := snap.GetMetadata()
	if err := n.snaps.save(snap); err != nil {
		return 0, err
	}
	if err := n.wal.SaveSnapshot(wal.Marker{Index: md.GetIndex(), Term: md.GetTerm(), Kind: wal.MarkerLocal}); err != nil {
		return 0, fmt.Errorf("raftnode: persist snapshot marker: %w", err)
	}
	n.snapIndex = md.GetIndex()
	if n.applied > n.cfg.CatchUpEntries {
		compact := n.applied - n.cfg.CatchUpEntries
		if first, _ := n.storage.FirstIndex(); compact > first {
			if err := n.storage.Compact(compact); err != nil && err != raft.ErrCompacted {
				return 0, fmt.Errorf("raftnode: compact: %w", err)
			}
		}
	}
	if err := n.wal.ReleaseTo(n.snapIndex); err != nil {
		return 0, err
	}
	if err := n.snaps.purge(); err != nil {
		n.log.Warn("purge snapshots", "err", err)
	}
	took := time.Since(start)
	n.metrics.snapshot("local", n.snapIndex, took)
	n.log.Info("took snapshot", "index", n.snapIndex, "bytes", len(data), "took", took)
	return len(data), nil
}

// Status is a member's view of the cluster.
type Status struct {
	ID            uint64
	Term          uint64
	Leader        uint64
	State         string // raft state: StateLeader, StateFollower, ...
	Commit        uint64
	Applied       uint64
	SnapshotIndex uint64
	// FirstIndex is the first log entry still held (compaction moves it).
	FirstIndex uint64
	Members    []MemberStatus
}

// MemberStatus is a member and, on the leader, its replication progress.
type MemberStatus struct {
	Member
	Match, Next uint64
	Progress    string // StateProbe, StateReplicate, StateSnapshot (leader only)
}

// Status returns the member's raft status (progress only on the leader).
func (n *Node) Status(ctx context.Context) (Status, error) {
	var st Status
	err := n.ctrl(ctx, func() {
		rs := n.rn.Status()
		st = Status{
			ID: n.cfg.ID, Term: rs.GetTerm(), Leader: rs.Lead, State: rs.RaftState.String(),
			Commit: rs.GetCommit(), Applied: n.applied, SnapshotIndex: n.snapIndex,
		}
		st.FirstIndex, _ = n.storage.FirstIndex()
		for _, m := range n.memberList() {
			ms := MemberStatus{Member: m}
			if pr, ok := rs.Progress[m.ID]; ok {
				ms.Match, ms.Next, ms.Progress = pr.Match, pr.Next, pr.State.String()
			}
			st.Members = append(st.Members, ms)
		}
	})
	return st, err
}
