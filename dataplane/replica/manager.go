package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"strand.dev/client/wire"
	"strand.dev/dataplane/partlog"
)

// Options configure a Manager.
type Options struct {
	// NodeID is this node's id; it is the ISR of the partitions it leads.
	NodeID int32
	// Logger receives the manager's logs; nil discards them.
	Logger *slog.Logger
}

// Manager holds this node's partition replicas over a partlog.Manager and
// is what protocol front-ends call: Append, Fetch, ListOffset. The metadata
// source (the standalone catalog today, the control plane's image later)
// tells it which partitions to lead with BecomeLeader and which to drop with
// Remove.
//
// All methods are safe for concurrent use. Lock order: Manager.mu, then a
// Partition's mu; neither is held across log I/O except the log open/create
// inside BecomeLeader and Remove, which take Manager.mu exclusively (they are
// rare, metadata-driven calls).
type Manager struct {
	logs   *partlog.Manager
	nodeID int32
	log    *slog.Logger

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
	return &Manager{
		logs:   logs,
		nodeID: opts.NodeID,
		log:    lg.With("component", "replica"),
		parts:  make(map[partitionKey]*Partition),
	}
}

// ErrClosed is returned by BecomeLeader after Close.
var ErrClosed = errors.New("replica manager is closed")

// LeaderState is what the metadata source says about a partition this node
// leads.
type LeaderState struct {
	LeaderEpoch int32
	// Config is the topic's configuration (the log's, and
	// min.insync.replicas for acks=all).
	Config partlog.Config
}

// BecomeLeader makes this node the leader of the partition, opening its log
// or creating an empty one, and applies the state (epoch, configs) to a
// partition it already holds.
func (m *Manager) BecomeLeader(topic string, partition int32, st LeaderState) (*Partition, error) {
	minISR := max(st.Config.MinInsyncReplicas, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	key := partitionKey{topic, partition}
	if p, ok := m.parts[key]; ok {
		p.log.SetConfig(st.Config)
		p.mu.Lock()
		p.state.leader = true
		p.state.leaderEpoch = st.LeaderEpoch
		p.state.isr = []int32{m.nodeID}
		p.state.minISR = minISR
		p.mu.Unlock()
		p.maybeAdvanceHW()
		return p, nil
	}
	l, ok := m.logs.Get(topic, partition)
	if ok {
		l.SetConfig(st.Config)
	} else {
		var err error
		if l, err = m.logs.Create(topic, partition, st.Config); err != nil {
			return nil, fmt.Errorf("create log of partition %d of %q: %w", partition, topic, err)
		}
	}
	p := &Partition{topic: topic, index: partition, log: l}
	p.state = partitionState{leader: true, leaderEpoch: st.LeaderEpoch, isr: []int32{m.nodeID}, minISR: minISR}
	// A single-replica leader's log is all committed. (With followers, the
	// leader starts from its checkpointed high watermark instead.)
	p.hw.Store(l.EndOffset())
	m.parts[key] = p
	m.log.Info("leading partition", "topic", topic, "partition", partition,
		"leader_epoch", st.LeaderEpoch, "log_start_offset", l.StartOffset(), "log_end_offset", l.EndOffset())
	return p, nil
}

// Remove stops serving the partition and deletes its log and data.
func (m *Manager) Remove(topic string, partition int32) error {
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
		if err := p.log.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("flush partition %d of %q: %w", p.index, p.topic, err))
		}
	}
	return errors.Join(errs...)
}

// errShuttingDown is the error of a request that arrives while the node stops.
var errShuttingDown = wire.Errorf(wire.CodeShuttingDown, "the node is shutting down")
