package transport

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// Raft is the side of the raft node the transport talks to.
type Raft interface {
	// Process hands a received message to the raft loop. It may block
	// while the loop's inbox is full; it returns when ctx ends.
	Process(ctx context.Context, m *raftpb.Message) error
	// ReportUnreachable tells raft that messages to id were lost.
	ReportUnreachable(id uint64)
	// ReportSnapshot tells raft how sending a snapshot to id ended.
	ReportSnapshot(id uint64, status raft.SnapshotStatus)
}

// Defaults of Config.
const (
	DefaultQueueSize        = 4096
	DefaultMaxFrameBytes    = 64 << 20
	DefaultMaxSnapshotBytes = 1 << 30
	DefaultDialTimeout      = time.Second
	DefaultWriteTimeout     = 5 * time.Second
	DefaultSnapshotTimeout  = 2 * time.Minute
	// maxBatchBytes bounds what one flush to a peer carries.
	maxBatchBytes = 4 << 20
)

// Config configures a Transport.
type Config struct {
	// ClusterID is checked on every inbound stream.
	ClusterID string
	// LocalID is this node's raft id.
	LocalID uint64
	// Raft receives messages and reports.
	Raft Raft
	// IsRemoved reports members removed from the cluster, whose streams
	// are refused. Optional.
	IsRemoved func(id uint64) bool
	// OnRemoved, when set, is called when a peer refuses a stream because
	// this member was removed from the cluster (it applied the removal;
	// this member may never learn it from raft, as the leader stops
	// replicating to a removed member).
	OnRemoved func()
	// Filter, when set, is asked for every message sent or received; false
	// drops it. It is for fault injection in tests (cutting links).
	Filter func(from, to uint64) bool
	// QueueSize bounds each peer's queue of outgoing messages (default 4096).
	QueueSize int
	// MaxFrameBytes bounds one message on a stream (default 64 MiB).
	MaxFrameBytes int
	// MaxSnapshotBytes bounds one snapshot message (default 1 GiB).
	MaxSnapshotBytes int64
	// DialTimeout bounds connecting to a peer (default 1 s).
	DialTimeout time.Duration
	// WriteTimeout bounds one write to a peer (default 5 s).
	WriteTimeout time.Duration
	// SnapshotTimeout bounds sending or receiving one snapshot (default 2 min).
	SnapshotTimeout time.Duration
	// Logger (component=transport). Default: slog.Default.
	Logger *slog.Logger
	// Metrics, optional.
	Metrics *Metrics
}

func (c *Config) defaults() {
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if c.MaxSnapshotBytes <= 0 {
		c.MaxSnapshotBytes = DefaultMaxSnapshotBytes
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.SnapshotTimeout <= 0 {
		c.SnapshotTimeout = DefaultSnapshotTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// ErrClosed is returned by a closed Transport.
var ErrClosed = errors.New("transport: closed")

// Transport sends raft messages to peers and serves inbound streams.
//
// Locks: mu guards peers and inbound; it is never held while doing I/O or
// calling into raft.
type Transport struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics

	closeCtx context.Context
	close    context.CancelFunc

	mu      sync.Mutex
	peers   map[uint64]*peer
	inbound map[net.Conn]uint64 // inbound stream -> sending member
	closed  bool
	wg      sync.WaitGroup // sender and snapshot goroutines
}

// New creates a Transport with no peers.
func New(cfg Config) *Transport {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Transport{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "transport", "member", cfg.LocalID),
		metrics:  cfg.Metrics,
		closeCtx: ctx,
		close:    cancel,
		peers:    map[uint64]*peer{},
		inbound:  map[net.Conn]uint64{},
	}
}

// SetPeer adds the peer id at addr (its peer listener, host:port), or
// changes its address. It is a no-op for the local id.
func (t *Transport) SetPeer(id uint64, addr string) {
	if id == t.cfg.LocalID {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if p, ok := t.peers[id]; ok {
		p.setAddr(addr)
		return
	}
	p := newPeer(t, id, addr)
	t.peers[id] = p
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		p.run()
	}()
}

// RemovePeer stops sending to id and closes its inbound streams (a removed
// member that reconnects is refused, which tells it it was removed).
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	p, ok := t.peers[id]
	delete(t.peers, id)
	for c, from := range t.inbound {
		if from == id {
			c.Close()
		}
	}
	t.mu.Unlock()
	if ok {
		p.stop()
	}
}

// PeerAddr returns the address the transport uses for id.
func (t *Transport) PeerAddr(id uint64) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.peers[id]
	if !ok {
		return "", false
	}
	return p.getAddr(), true
}

// Send queues messages for their peers. It never blocks: a message for a
// full queue or an unknown peer is dropped and the peer reported
// unreachable. Snapshot messages are sent on their own connection.
func (t *Transport) Send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		to := m.GetTo()
		if to == 0 || to == t.cfg.LocalID {
			continue
		}
		if t.cfg.Filter != nil && !t.cfg.Filter(t.cfg.LocalID, to) {
			t.metrics.incDropped(strconv.FormatUint(to, 10), "filtered", 1)
			if m.GetType() == raftpb.MsgSnap {
				t.cfg.Raft.ReportSnapshot(to, raft.SnapshotFailure)
			}
			continue
		}
		t.mu.Lock()
		p := t.peers[to]
		t.mu.Unlock()
		if p == nil {
			t.metrics.incDropped(strconv.FormatUint(to, 10), "unknown_peer", 1)
			if m.GetType() == raftpb.MsgSnap {
				t.cfg.Raft.ReportSnapshot(to, raft.SnapshotFailure)
			}
			t.cfg.Raft.ReportUnreachable(to)
			continue
		}
		if m.GetType() == raftpb.MsgSnap {
			t.sendSnapshot(p, m)
			continue
		}
		select {
		case p.queue <- m:
		default:
			t.metrics.incDropped(p.label, "queue_full", 1)
			t.cfg.Raft.ReportUnreachable(to)
		}
	}
}

// trackInbound records an inbound stream so Close can end it; false if the
// transport is closed.
func (t *Transport) trackInbound(c net.Conn, from uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		c.Close()
		return false
	}
	t.inbound[c] = from
	return true
}

func (t *Transport) untrackInbound(c net.Conn) {
	t.mu.Lock()
	delete(t.inbound, c)
	t.mu.Unlock()
	c.Close()
}

// Close stops every sender, closes every stream and waits for the sender
// and snapshot goroutines.
func (t *Transport) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	peers := t.peers
	t.peers = map[uint64]*peer{}
	for c := range t.inbound {
		c.Close()
	}
	t.mu.Unlock()
	t.close()
	for _, p := range peers {
		p.stop()
	}
	t.wg.Wait()
}
