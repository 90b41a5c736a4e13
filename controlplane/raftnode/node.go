package raftnode

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"strand.dev/client/wire"
	"strand.dev/controlplane/transport"
	"strand.dev/controlplane/wal"
)

// Node is one raft member. Create it with New, run it with Run; the other
// methods are safe for concurrent use from any goroutine.
//
// Ownership: the fields under "loop-owned" are touched only by the loop
// goroutine (Run). The fields under mu are written by the loop and read by
// anyone. Lock order: mu is a leaf lock (nothing else is taken under it, no
// channel operation happens under it).
type Node struct {
	cfg     Config
	lock    *os.File // the data directory's lock, released when Run returns
	log     *slog.Logger
	metrics *Metrics
	tr      *transport.Transport

	recvc   chan *raftpb.Message
	propc   chan *proposal
	readc   chan *readRequest
	ctrlc   chan func()
	reportc chan func()
	done    chan struct{} // closed when Run returns
	runErr  error         // set before done is closed
	started atomic.Bool

	nextID atomic.Uint64 // proposal ids

	// loop-owned
	rn          *raft.RawNode
	storage     *raft.MemoryStorage
	wal         *wal.WAL
	snaps       *snapStore
	confState   *raftpb.ConfState
	applied     uint64
	snapIndex   uint64
	raftState   raft.StateType
	lead        uint64
	term        uint64
	commit      uint64
	ticks       uint64
	waiting     map[uint64]*proposal // by proposal id
	byIndex     map[uint64]*proposal // by log index, once appended
	unindexed   []*proposal          // stepped since the last Ready
	pendingConf uint64               // index of the last conf change appended as leader
	leaderSince bool                 // became leader in this Ready: set pendingConf after append
	reads       readQueue
	removedSelf bool
	// lastConfIndex is the index of the last applied configuration
	// change; needSnapshot asks for a snapshot newer than it.
	lastConfIndex uint64
	needSnapshot  bool

	// shared, under mu
	mu           sync.RWMutex
	members      map[uint64]Member
	removed      map[uint64]bool
	appliedCh    chan struct{} // closed and replaced after every apply batch
	pubLeader    uint64
	pubTerm      uint64
	pubApplied   uint64
	pubCommit    uint64
	pubSnapIndex uint64
	pubState     raft.StateType
}

// New opens (or creates) the member's durable state in cfg.Dir and prepares
// the raft node. It does not start anything: call Run.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("raftnode: invalid configuration: %w", err)
	}
	cfg.defaults()
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	n, err := newNode(cfg, lock)
	if err != nil {
		lock.Close()
		return nil, err
	}
	return n, nil
}

// newNode is New once the data directory is locked.
func newNode(cfg Config, lock *os.File) (*Node, error) {
	if err := checkIdentity(cfg.Dir, cfg.ClusterID, cfg.ID); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "raft", "member", cfg.ID),
		metrics:   cfg.Metrics,
		recvc:     make(chan *raftpb.Message, DefaultInboxSize),
		propc:     make(chan *proposal, DefaultInboxSize),
		readc:     make(chan *readRequest, DefaultInboxSize),
		ctrlc:     make(chan func(), 64),
		reportc:   make(chan func(), 1024),
		done:      make(chan struct{}),
		waiting:   map[uint64]*proposal{},
		byIndex:   map[uint64]*proposal{},
		members:   map[uint64]Member{},
		removed:   map[uint64]bool{},
		appliedCh: make(chan struct{}),
		snaps:     &snapStore{dir: filepath.Join(cfg.Dir, "snap"), keep: cfg.KeepSnapshotFiles},
		lock:      lock,
	}
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("raftnode: seed proposal ids: %w", err)
	}
	n.nextID.Store(binary.BigEndian.Uint64(seed[:]) >> 1)

	rs, err := restore(&n.cfg, n.snaps, n.metrics)
	if err != nil {
		return nil, err
	}
	n.wal, n.storage = rs.wal, rs.storage
	if rs.snapshot != nil {
		if err := cfg.Machine.Restore(rs.machine); err != nil {
			rs.wal.Close()
			return nil, fmt.Errorf("raftnode: restore the state machine from snapshot %d: %w", rs.snapshot.GetMetadata().GetIndex(), err)
		}
		n.setClusterState(rs.cluster)
		md := rs.snapshot.GetMetadata()
		n.applied, n.snapIndex = md.GetIndex(), md.GetIndex()
		n.confState = md.GetConfState()
	}

	tc := cfg.Transport
	tc.ClusterID, tc.LocalID, tc.Raft, tc.Logger = cfg.ClusterID, cfg.ID, n, cfg.Logger
	tc.IsRemoved = n.isRemoved
	tc.OnRemoved = n.reportRemoved
	n.tr = transport.New(tc)
	// Seed the transport with the configured addresses; the replicated
	// member list (snapshot, then conf changes) overrides them.
	for _, m := range cfg.InitialMembers {
		n.tr.SetPeer(m.ID, m.PeerAddr)
	}
	for _, m := range n.memberList() {
		n.tr.SetPeer(m.ID, m.PeerAddr)
	}

	rc := &raft.Config{
		ID:                        cfg.ID,
		ElectionTick:              cfg.ElectionTick,
		HeartbeatTick:             cfg.HeartbeatTick,
		Storage:                   freshSnapStorage{MemoryStorage: n.storage, n: n},
		Applied:                   n.applied,
		MaxSizePerMsg:             cfg.MaxSizePerMsg,
		MaxCommittedSizePerReady:  4 * cfg.MaxSizePerMsg,
		MaxUncommittedEntriesSize: cfg.MaxUncommittedBytes,
		MaxInflightMsgs:           cfg.MaxInflightMsgs,
		CheckQuorum:               true,
		PreVote:                   true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		DisableProposalForwarding: true,
		StepDownOnRemoval:         true,
		Logger:                    raftLogger{l: cfg.Logger.With("component", "raft", "member", cfg.ID)},
	}
	rn, err := raft.NewRawNode(rc)
	if err != nil {
		n.tr.Close()
		rs.wal.Close()
		return nil, fmt.Errorf("raftnode: %w", err)
	}
	n.rn = rn
	if rs.fresh && !cfg.Join {
		peers := make([]raft.Peer, 0, len(cfg.InitialMembers))
		for _, m := range cfg.InitialMembers {
			ctx, err := json.Marshal(ccContext{Member: Member{ID: m.ID, PeerAddr: m.PeerAddr, APIAddr: m.APIAddr}})
			if err != nil {
				return nil, fmt.Errorf("raftnode: encode member: %w", err)
			}
			peers = append(peers, raft.Peer{ID: m.ID, Context: ctx})
		}
		sort.Slice(peers, func(i, j int) bool { return peers[i].ID < peers[j].ID })
		if err := rn.Bootstrap(peers); err != nil {
			n.tr.Close()
			rs.wal.Close()
			return nil, fmt.Errorf("raftnode: bootstrap: %w", err)
		}
		n.log.Info("bootstrapping a new cluster", "cluster", cfg.ClusterID, "members", len(peers))
	} else if rs.fresh {
		n.log.Info("joining an existing cluster; waiting for its leader", "cluster", cfg.ClusterID)
	} else {
		hs, _, _ := n.storage.InitialState()
		n.log.Info("restarting from disk", "snapshot_index", n.snapIndex,
			"last_index", lastIndex(n.storage), "commit", hs.GetCommit(), "term", hs.GetTerm())
	}
	n.publish()
	return n, nil
}

func lastIndex(s *raft.MemoryStorage) uint64 {
	li, _ := s.LastIndex()
	return li
}

// Handler serves the peer transport (wire.PathMetaRaft).
func (n *Node) Handler(ctx *fasthttp.RequestCtx) { n.tr.Handler(ctx) }

// Done is closed when Run has returned.
func (n *Node) Done() <-chan struct{} { return n.done }

// Err is Run's result once Done is closed.
func (n *Node) Err() error {
	<-n.done
	return n.runErr
}

// Process implements transport.Raft: it queues a received message for the
// loop, blocking while the inbox is full.
func (n *Node) Process(ctx context.Context, m *raftpb.Message) error {
	select {
	case n.recvc <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
}

// ReportUnreachable implements transport.Raft. It never blocks: a report
// that finds the queue full is dropped (raft learns again soon).
func (n *Node) ReportUnreachable(id uint64) {
	select {
	case n.reportc <- func() { n.rn.ReportUnreachable(id) }:
	default:
	}
}

// reportRemoved is the transport's news that a peer applied this member's
// removal: the loop stops with ErrRemoved.
func (n *Node) reportRemoved() {
	select {
	case n.reportc <- func() {
		if !n.removedSelf {
			n.log.Warn("a peer reports that this member was removed from the cluster")
			if err := markRemoved(n.cfg.Dir); err != nil {
				n.log.Error("mark removed", "err", err)
			}
			n.removedSelf = true
		}
	}:
	default:
	}
}

// ReportSnapshot implements transport.Raft. The report must not be lost
// (raft waits for it before sending the follower anything else), and the
// transport may call it from the loop itself (Send): if the queue is full it
// is delivered from a goroutine of its own.
func (n *Node) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	f := func() { n.rn.ReportSnapshot(id, status) }
	select {
	case n.reportc <- f:
	default:
		go func() {
			select {
			case n.reportc <- f:
			case <-n.done:
			}
		}()
	}
}

// Propose proposes a state-machine command (the JSON the machine's Apply
// takes) and waits until it is applied, returning the machine's answer. It
// fails with ErrNotLeader on a follower (nothing was proposed). When ctx
// ends first, the error wraps ErrOutcomeUnknown if the command was handed to
// raft.
func (n *Node) Propose(ctx context.Context, cmd []byte) (wire.ProposeResponse, error) {
	if len(cmd) > n.cfg.MaxEntryBytes {
		return wire.ProposeResponse{}, fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLarge, len(cmd), n.cfg.MaxEntryBytes)
	}
	id := n.nextID.Add(1)
	p := &proposal{id: id, data: encodeEnvelope(n.cfg.ID, id, cmd), done: make(chan result, 1)}
	return n.submit(ctx, p)
}

// submit hands p to the loop and waits for its result.
func (n *Node) submit(ctx context.Context, p *proposal) (wire.ProposeResponse, error) {
	select {
	case n.propc <- p:
	case <-ctx.Done():
		return wire.ProposeResponse{}, ctx.Err()
	case <-n.done:
		return wire.ProposeResponse{}, ErrStopped
	}
	select {
	case r := <-p.done:
		return r.resp, r.err
	case <-ctx.Done():
		return wire.ProposeResponse{}, fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
	case <-n.done:
		return wire.ProposeResponse{}, fmt.Errorf("%w: %w", ErrOutcomeUnknown, ErrStopped)
	}
}

// AddMember adds a member as a learner through a raft configuration change
// and returns once the change is applied; the leader promotes it to voter
// once it has caught up. Leader only (ErrNotLeader otherwise).
func (n *Node) AddMember(ctx context.Context, m Member) error {
	if m.ID == 0 || m.PeerAddr == "" {
		return fmt.Errorf("raftnode: a member needs an id and a peer address")
	}
	n.mu.RLock()
	removed := n.removed[m.ID]
	_, exists := n.members[m.ID]
	for _, o := range n.members {
		exists = exists || o.PeerAddr == m.PeerAddr
	}
	n.mu.RUnlock()
	if removed {
		return fmt.Errorf("%w: %d", ErrMemberRemoved, m.ID)
	}
	if exists {
		return fmt.Errorf("%w: id %d or peer address %s", ErrMemberExists, m.ID, m.PeerAddr)
	}
	m.Learner = true
	return n.confChange(ctx, raftpb.ConfChangeAddLearnerNode, m)
}

// RemoveMember removes a member through a raft configuration change and
// returns once it is applied. Removing the leader itself is allowed: it
// steps down and its Run returns ErrRemoved. Leader only.
func (n *Node) RemoveMember(ctx context.Context, id uint64) error {
	n.mu.RLock()
	m, ok := n.members[id]
	voters := 0
	for _, o := range n.members {
		if !o.Learner {
			voters++
		}
	}
	n.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: %d", ErrMemberUnknown, id)
	}
	if !m.Learner && voters <= 1 {
		return ErrLastVoter
	}
	return n.confChange(ctx, raftpb.ConfChangeRemoveNode, m)
}

func (n *Node) confChange(ctx context.Context, typ raftpb.ConfChangeType, m Member) error {
	id := n.nextID.Add(1)
	cctx, err := json.Marshal(ccContext{Member: m, Proposer: n.cfg.ID, ProposalID: id})
	if err != nil {
		return fmt.Errorf("raftnode: encode member: %w", err)
	}
	cc := &raftpb.ConfChange{Type: typ.Enum(), NodeId: new(m.ID), Context: cctx}
	p := &proposal{id: id, cc: cc, done: make(chan result, 1)}
	_, err = n.submit(ctx, p)
	return err
}

// ctrl runs f on the loop and waits for it.
func (n *Node) ctrl(ctx context.Context, f func()) error {
	donec := make(chan struct{})
	select {
	case n.ctrlc <- func() { f(); close(donec) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
	select {
	case <-donec:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
}

// Campaign makes this member start an election now (tests, tools).
func (n *Node) Campaign(ctx context.Context) error {
	var err error
	if cerr := n.ctrl(ctx, func() { err = n.rn.Campaign() }); cerr != nil {
		return cerr
	}
	return err
}

// TransferLeadership asks the leader to hand leadership to id.
func (n *Node) TransferLeadership(ctx context.Context, id uint64) error {
	return n.ctrl(ctx, func() { n.rn.TransferLeader(id) })
}

// ID is this member's id.
func (n *Node) ID() uint64 { return n.cfg.ID }

// ClusterID is the cluster's id.
func (n *Node) ClusterID() string { return n.cfg.ClusterID }

// Leader returns the current leader's id (0 if unknown) and term.
func (n *Node) Leader() (id, term uint64) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.pubLeader, n.pubTerm
}

// IsLeader reports whether this member is the leader as of the last Ready.
func (n *Node) IsLeader() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.pubState == raft.StateLeader
}

// AppliedIndex is the last applied raft index.
func (n *Node) AppliedIndex() uint64 {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.pubApplied
}

// Applied returns a channel closed the next time entries are applied.
func (n *Node) Applied() <-chan struct{} {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.appliedCh
}

// Member returns a member's addresses.
func (n *Node) Member(id uint64) (Member, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	m, ok := n.members[id]
	return m, ok
}

// Members lists the members, by id.
func (n *Node) Members() []Member { return n.memberList() }

func (n *Node) memberList() []Member {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]Member, 0, len(n.members))
	for _, m := range n.members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (n *Node) isRemoved(id uint64) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.removed[id]
}

// setClusterState replaces the member list (from a snapshot) and updates
// the transport.
func (n *Node) setClusterState(cs clusterState) {
	n.mu.Lock()
	old := n.members
	n.members = map[uint64]Member{}
	for _, m := range cs.Members {
		n.members[m.ID] = m
	}
	n.removed = map[uint64]bool{}
	for _, id := range cs.Removed {
		n.removed[id] = true
	}
	members := n.members
	n.mu.Unlock()
	if n.tr == nil {
		return
	}
	for id := range old {
		if _, ok := members[id]; !ok {
			n.tr.RemovePeer(id)
		}
	}
	for _, m := range members {
		n.tr.SetPeer(m.ID, m.PeerAddr)
	}
}

// clusterState returns the member list for a snapshot.
func (n *Node) clusterState() clusterState {
	n.mu.RLock()
	defer n.mu.RUnlock()
	cs := clusterState{}
	for _, m := range n.members {
		cs.Members = append(cs.Members, m)
	}
	sort.Slice(cs.Members, func(i, j int) bool { return cs.Members[i].ID < cs.Members[j].ID })
	for id := range n.removed {
		cs.Removed = append(cs.Removed, id)
	}
	sort.Slice(cs.Removed, func(i, j int) bool { return cs.Removed[i] < cs.Removed[j] })
	return cs
}

// publish copies the loop's view for readers.
func (n *Node) publish() {
	n.mu.Lock()
	n.pubLeader, n.pubTerm, n.pubState = n.lead, n.term, n.raftState
	n.pubApplied, n.pubCommit, n.pubSnapIndex = n.applied, n.commit, n.snapIndex
	n.mu.Unlock()
}

// decodeConfChange decodes a conf change entry's data.
func decodeConfChange(e *raftpb.Entry) (*raftpb.ConfChange, error) {
	cc := &raftpb.ConfChange{}
	if err := proto.Unmarshal(e.GetData(), cc); err != nil {
		return nil, fmt.Errorf("raftnode: conf change at %d: %w", e.GetIndex(), err)
	}
	return cc, nil
}
