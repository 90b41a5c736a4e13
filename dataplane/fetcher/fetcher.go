package fetcher

import (
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"strand.dev/dataplane/partlog"
	"strand.dev/dataplane/replstream"
)

// Replica is the local follower replica the fetcher writes into.
type Replica interface {
	// Log is the partition's log, for reading. While the fetcher follows
	// the partition it is the only writer of the log, through the methods
	// below (which keep the replica's own bookkeeping, such as idempotent
	// producer state, in step).
	Log() *partlog.Log
	// AppendReplicated appends the leader's batches as they are
	// (partlog.Log.AppendReplicated).
	AppendReplicated(batches []byte) error
	// TruncateTo cuts the log at offset (partlog.Log.TruncateTo).
	TruncateTo(offset int64) error
	// TruncateFullyAndStartAt empties the log and restarts it at offset.
	TruncateFullyAndStartAt(offset int64) error
	// LeaderOffsets is called after every frame from the leader is applied,
	// with the leader's high watermark, log start offset and log end offset.
	// It must not block.
	LeaderOffsets(hw, logStart, logEnd int64)
}

// Leader names a partition's leader node.
type Leader struct {
	ID   int32
	Addr string // its data-plane API, host:port
}

// Config configures a Fetcher. Zero values take the defaults named.
type Config struct {
	// NodeID is this (the follower) node's id.
	NodeID int32
	// Dial configures the streams (ReplicaID is set from NodeID).
	Dial replstream.DialConfig
	// RequestTimeout bounds an epoch lookup. Default 5 s.
	RequestTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between attempts after an
	// error (a leader that does not lead yet, an unreachable leader).
	// Defaults 50 ms and 1 s.
	RetryMin, RetryMax time.Duration
	// Logger receives the fetcher's logs; nil discards them.
	Logger *slog.Logger
	// Registerer registers the fetcher's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
}

func (c *Config) defaults() {
	c.Dial.ReplicaID = c.NodeID
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 50 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = time.Second
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = c.RetryMin
	}
}

// partKey names a partition.
type partKey struct {
	topic     string
	partition int32
}

// streamKey names a stream: one per leader node (and address).
type streamKey struct {
	id   int32
	addr string
}

// Fetcher replicates the partitions this node follows: one stream per
// leader node carries all of the partitions that node leads for us.
//
// Goroutines: each stream owns one goroutine (connect, truncate, send
// fetches and stops) plus a reader goroutine per connection (applies
// frames, sends acks). Locks, in order: Fetcher.mu (the set of partitions
// and streams), then a partition's append lock (fpart.amu, held across a
// truncation or an append), then stream.mu (the stream's partitions and
// their phases). Follow and Unfollow take Fetcher.mu, release stream.mu
// before they wait on a partition's append lock, and never hold Fetcher.mu
// while a stream goroutine needs it.
type Fetcher struct {
	cfg    Config
	log    *slog.Logger
	m      *metrics
	epochs *epochClient

	mu      sync.Mutex
	parts   map[partKey]*fpart
	streams map[streamKey]*stream
	closed  bool
}

// New returns a Fetcher; it does nothing until Follow.
func New(cfg Config) *Fetcher {
	cfg.defaults()
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	f := &Fetcher{
		cfg:     cfg,
		log:     lg.With("component", "fetcher"),
		epochs:  newEpochClient(cfg.RequestTimeout),
		parts:   make(map[partKey]*fpart),
		streams: make(map[streamKey]*stream),
	}
	f.m = newMetrics(cfg.Registerer, f)
	return f
}

// Follow makes this node replicate the partition from leader, which leads
// it at leaderEpoch. The fetcher first truncates the log to what the leader
// has (leader-epoch truncation), then appends what the leader streams. A
// call with the same leader and epoch as the current one only replaces r.
// A new leader or epoch restarts the partition on the right stream; frames
// of the old assignment still in flight are dropped.
func (f *Fetcher) Follow(r Replica, topic string, partition int32, leader Leader, leaderEpoch int32) {
	key := partKey{topic, partition}
	sk := streamKey{leader.ID, leader.Addr}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	old := f.parts[key]
	if old != nil && old.stream.key == sk {
		old.stream.retarget(old, r, leaderEpoch)
		f.mu.Unlock()
		return
	}
	var drop *stream
	if old != nil {
		// The old assignment stops writing before the new one starts:
		// kill waits for an append in progress.
		if old.stream.remove(old) {
			delete(f.streams, old.stream.key)
			drop = old.stream
		}
		old.kill()
	}
	s := f.streams[sk]
	if s == nil {
		s = newStream(f, sk)
		f.streams[sk] = s
		go s.run()
	}
	fp := &fpart{key: key, r: r, stream: s, epoch: leaderEpoch}
	f.parts[key] = fp
	s.add(fp)
	f.mu.Unlock()
	if drop != nil {
		drop.stop()
	}
	f.log.Debug("following", "topic", topic, "partition", partition, "leader", leader.ID, "leader_epoch", leaderEpoch)
}

// Unfollow stops replicating the partition. When it returns, no append or
// truncation of the partition's log by the fetcher is in progress or will
// happen.
func (f *Fetcher) Unfollow(topic string, partition int32) {
	key := partKey{topic, partition}
	f.mu.Lock()
	fp := f.parts[key]
	var drop *stream
	if fp != nil {
		delete(f.parts, key)
		if fp.stream.remove(fp) {
			delete(f.streams, fp.stream.key)
			drop = fp.stream
		}
		fp.kill()
	}
	f.mu.Unlock()
	if drop != nil {
		drop.stop()
	}
}

// Close stops every stream and waits for their goroutines.
func (f *Fetcher) Close() {
	f.mu.Lock()
	f.closed = true
	parts := f.parts
	streams := f.streams
	f.parts = map[partKey]*fpart{}
	f.streams = map[streamKey]*stream{}
	f.mu.Unlock()
	for _, fp := range parts {
		fp.kill()
	}
	for _, s := range streams {
		s.stop()
	}
	f.epochs.close()
}

// PartitionStatus describes one followed partition.
type PartitionStatus struct {
	Topic       string
	Partition   int32
	Leader      int32
	LeaderEpoch int32
	// Phase is truncating, fetching, streaming or waiting (after an error).
	Phase string
	// LogEndOffset is the local log's; LeaderLogEndOffset the leader's as
	// of its last frame (-1 before one arrived).
	LogEndOffset       int64
	LeaderLogEndOffset int64
	// LastError is the last error of the partition, if any.
	LastError string
}

// Lag is how far the follower is behind the leader's log end offset as of
// the leader's last frame.
func (s PartitionStatus) Lag() int64 {
	if s.LeaderLogEndOffset < 0 {
		return 0
	}
	return max(s.LeaderLogEndOffset-s.LogEndOffset, 0)
}

// Status lists the followed partitions, by topic and partition.
func (f *Fetcher) Status() []PartitionStatus {
	f.mu.Lock()
	parts := make([]*fpart, 0, len(f.parts))
	for _, fp := range f.parts {
		parts = append(parts, fp)
	}
	f.mu.Unlock()
	out := make([]PartitionStatus, 0, len(parts))
	for _, fp := range parts {
		out = append(out, fp.status())
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// Streams is the number of streams (leader nodes followed).
func (f *Fetcher) Streams() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.streams)
}
