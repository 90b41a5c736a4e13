package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"strand.dev/client/wire"
	"strand.dev/dataplane/fetcher"
	"strand.dev/dataplane/partlog"
)

// Options configure a Manager.
type Options struct {
	// NodeID is this node's id.
	NodeID int32
	// Logger receives the manager's logs; nil discards them.
	Logger *slog.Logger
	// Registerer registers the manager's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Now is the clock (default time.Now).
	Now func() time.Time

	// The rest is for a node in a cluster (Attach sets the collaborators).

	// Defaults is the log configuration topic configs apply to.
	Defaults partlog.Config
	// LagMax is replica.lag.time.max.ms: a follower behind the leader's log
	// end offset that was last caught up longer ago leaves the ISR.
	// Default 30 s.
	LagMax time.Duration
	// ISRCheckInterval is how often leaders look for followers to drop from
	// their ISR. Default LagMax/4, at most 1 s.
	ISRCheckInterval time.Duration
	// MaxISRInFlight bounds the ISR changes proposed at once. Default 32.
	MaxISRInFlight int

	// MaxProducers bounds the idempotent producers one partition remembers
	// (the one idle longest is forgotten first). Default 100,000.
	MaxProducers int
	// ProducerIDExpiration forgets producers idle this long
	// (producer.id.expiration.ms). Default 24 h.
	ProducerIDExpiration time.Duration
	// SnapshotInterval is how often changed producer states are written to
	// snapshots beside the logs (they are also written at Close). Default
	// 30 s.
	SnapshotInterval time.Duration
}

// Follower is the fetcher (*fetcher.Fetcher) as the replica layer drives
// it.
type Follower interface {
	// Follow replicates the partition from leader at leaderEpoch.
	Follow(r fetcher.Replica, topic string, partition int32, leader fetcher.Leader, leaderEpoch int32)
	// Unfollow stops replicating the partition; when it returns no
	// follower write to its log is in progress or will happen.
	Unfollow(topic string, partition int32)
}

// Cluster is the control plane as the replica layer uses it.
type Cluster interface {
	// AlterISR proposes a leader's ISR change (compare-and-set on the
	// partition epoch) and returns the image version that has it.
	AlterISR(ctx context.Context, cmd wire.AlterISRCmd) (uint64, error)
	// KnownReplica reports whether id is a data node of the cluster.
	KnownReplica(id int32) bool
}

// Manager holds this node's partition replicas over a partlog.Manager and
// is what protocol front-ends call: Append, Fetch, ListOffset, and the
// replica stream's Source. A metadata source tells it which partitions to
// lead, follow and drop: Standalone (BecomeLeader, Remove) or, in a
// cluster, the control-plane agent (Apply, Remove).
//
// All methods are safe for concurrent use. Lock order: Manager.mu, then a
// Partition's locks; Manager.mu is not held across a change of role (which
// waits for the fetcher), only across the log open/create of a new
// partition and its removal.
type Manager struct {
	logs    *partlog.Manager
	nodeID  int32
	log     *slog.Logger
	opts    Options
	now     func() time.Time
	metrics *metrics

	// Set by Attach before the node serves; read-only afterwards.
	follower Follower
	cluster  Cluster

	isrSem chan struct{}
	runCtx runCtxHolder

	// badConfigs holds the topic configs already warned about as not
	// applied (topicConfig), so each is named once.
	badConfigs sync.Map

	mu     sync.RWMutex
	parts  map[partitionKey]*Partition
	closed bool
}

// NewManager wraps the partition logs; the caller keeps ownership of logs
// (and closes it after Manager.Close).
func NewManager(logs *partlog.Manager, opts Options) *Manager {
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Defaults == (partlog.Config{}) {
		opts.Defaults = partlog.DefaultConfig()
	}
	if opts.LagMax <= 0 {
		opts.LagMax = 30 * time.Second
	}
	if opts.ISRCheckInterval <= 0 {
		opts.ISRCheckInterval = min(opts.LagMax/4, time.Second)
	}
	if opts.MaxISRInFlight <= 0 {
		opts.MaxISRInFlight = 32
	}
	if opts.MaxProducers <= 0 {
		opts.MaxProducers = 100_000
	}
	if opts.ProducerIDExpiration <= 0 {
		opts.ProducerIDExpiration = 24 * time.Hour
	}
	if opts.SnapshotInterval <= 0 {
		opts.SnapshotInterval = 30 * time.Second
	}
	m := &Manager{
		logs:   logs,
		nodeID: opts.NodeID,
		log:    lg.With("component", "replica"),
		opts:   opts,
		now:    opts.Now,
		isrSem: make(chan struct{}, opts.MaxISRInFlight),
		parts:  make(map[partitionKey]*Partition),
	}
	m.metrics = newMetrics(opts.Registerer, m)
	return m
}

// Attach gives a cluster node's manager its fetcher and control plane.
// Call it once, before Apply and before the node serves.
func (m *Manager) Attach(f Follower, c Cluster) {
	m.follower, m.cluster = f, c
}

// ErrClosed is returned by BecomeLeader and Apply after Close.
var ErrClosed = errors.New("replica manager is closed")

// LeaderState is what a standalone metadata source says about a partition
// this node leads.
type LeaderState struct {
	LeaderEpoch int32
	// Config is the topic's configuration (the log's, and
	// min.insync.replicas for acks=all).
	Config partlog.Config
}

// open returns the partition, opening its log or creating an empty one
// with cfg; an existing partition gets cfg.
func (m *Manager) open(topic string, partition int32, cfg partlog.Config) (*Partition, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	key := partitionKey{topic, partition}
	if p, ok := m.parts[key]; ok {
		p.log.SetConfig(cfg)
		return p, nil
	}
	l, ok := m.logs.Get(topic, partition)
	if ok {
		l.SetConfig(cfg)
	} else {
		var err error
		if l, err = m.logs.Create(topic, partition, cfg); err != nil {
			return nil, fmt.Errorf("create log of partition %d of %q: %w", partition, topic, err)
		}
	}
	p := &Partition{m: m, topic: topic, index: partition, log: l}
	p.state = partitionState{leaderID: -1, leaderEpoch: -1, partitionEpoch: -1, minISR: 1}
	// Nothing is committed until a leader says so, except on a log that
	// this node alone serves (BecomeLeader raises it).
	p.hw.Store(l.StartOffset())
	m.parts[key] = p
	return p, nil
}

// BecomeLeader makes this node the only replica and leader of the
// partition (a standalone node), opening its log or creating an empty one,
// and applies the state (epoch, configs) to a partition it already holds.
// The high watermark is the log end offset.
func (m *Manager) BecomeLeader(topic string, partition int32, st LeaderState) (*Partition, error) {
	minISR := max(st.Config.MinInsyncReplicas, 1)
	p, err := m.open(topic, partition, st.Config)
	if err != nil {
		return nil, err
	}
	p.roleMu.Lock()
	p.mu.Lock()
	was := p.state
	p.state = partitionState{leader: true, leaderID: m.nodeID, leaderEpoch: st.LeaderEpoch, partitionEpoch: 0,
		replicas: []int32{m.nodeID}, isr: []int32{m.nodeID}, minISR: minISR}
	p.mu.Unlock()
	if st.LeaderEpoch > p.log.LatestEpoch() {
		if err := p.log.AssignEpoch(st.LeaderEpoch, p.log.EndOffset()); err != nil {
			p.roleMu.Unlock()
			return nil, err
		}
	}
	p.roleMu.Unlock()
	p.maybeAdvanceHW()
	if !was.leader {
		m.log.Info("leading partition", "topic", topic, "partition", partition,
			"leader_epoch", st.LeaderEpoch, "log_start_offset", p.log.StartOffset(), "log_end_offset", p.log.EndOffset())
	}
	return p, nil
}

// Remove stops serving the partition and deletes its log and data.
func (m *Manager) Remove(topic string, partition int32) error {
	if m.follower != nil {
		m.follower.Unfollow(topic, partition)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	key := partitionKey{topic, partition}
	if p, ok := m.parts[key]; ok {
		p.stop(unknownPartition(topic, partition))
		delete(m.parts, key)
	}
	if err := m.logs.Remove(topic, partition); err != nil {
		return fmt.Errorf("remove log of partition %d of %q: %w", partition, topic, err)
	}
	m.log.Info("removed partition", "topic", topic, "partition", partition)
	return nil
}

// Partition returns a partition this node holds, or
// UNKNOWN_TOPIC_OR_PARTITION.
func (m *Manager) Partition(topic string, partition int32) (*Partition, error) {
	m.mu.RLock()
	p, ok := m.parts[partitionKey{topic, partition}]
	m.mu.RUnlock()
	if !ok {
		return nil, unknownPartition(topic, partition)
	}
	return p, nil
}

// Partitions lists the partitions this node holds, by topic and number.
func (m *Manager) Partitions() []*Partition {
	m.mu.RLock()
	out := make([]*Partition, 0, len(m.parts))
	for _, p := range m.parts {
		out = append(out, p)
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].index < out[j].index
	})
	return out
}

// Append appends to a partition this node leads.
func (m *Manager) Append(ctx context.Context, req AppendRequest) (AppendResult, error) {
	p, err := m.Partition(req.Topic, req.Partition)
	if err != nil {
		return AppendResult{}, err
	}
	return p.Append(ctx, req)
}

// Fetch reads from a partition this node leads, long-polling as the request
// asks. The caller owns the returned region's file.
func (m *Manager) Fetch(ctx context.Context, req FetchRequest) (FetchResult, error) {
	p, err := m.Partition(req.Topic, req.Partition)
	if err != nil {
		return FetchResult{}, err
	}
	return p.Fetch(ctx, req)
}

// ListOffset looks up an offset of a partition this node leads.
func (m *Manager) ListOffset(q OffsetQuery) (offset, timestamp int64, epoch int32, err error) {
	p, err := m.Partition(q.Topic, q.Partition)
	if err != nil {
		return 0, 0, 0, err
	}
	return p.ListOffset(q)
}

// Close stops every partition (waiters wake and fail with SHUTTING_DOWN;
// front-ends stop before this to avoid that) and
// flushes the logs. The partlog.Manager stays open: its owner closes it.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	for _, p := range m.parts {
		p.stop(errShuttingDown)
		if err := p.snapshotProducers(false); err != nil {
			errs = append(errs, err)
		}
		if err := p.log.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("flush partition %d of %q: %w", p.index, p.topic, err))
		}
	}
	return errors.Join(errs...)
}

// errShuttingDown is the error of a request that arrives while the node stops.
var errShuttingDown = wire.Errorf(wire.CodeShuttingDown, "the node is shutting down")
