package server

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"strand.dev/client/wire"
	"strand.dev/controlplane/membership"
	"strand.dev/coordinator/group"
)

// Config configures a coordinator. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// ID names this coordinator (gossip, ownership records). Required.
	ID string
	// Listen is the host:port of the HTTP API (port 0 picks one).
	Listen string
	// AdvertiseAddr is the address others are told to use (default: the
	// bound listen address).
	AdvertiseAddr string

	// MetaAddrs are strand-meta's API addresses (cluster mode).
	MetaAddrs []string
	// Standalone runs without strand-meta and gossip: this coordinator owns
	// every offsets partition, and DataAddrs name the data plane (a
	// standalone strand-data). For development and tests.
	Standalone bool
	// DataAddrs are data nodes to read metadata from in standalone mode.
	DataAddrs []string

	// GossipBind enables gossip (cluster mode): the host:port to bind;
	// GossipAdvertise, GossipJoin, GossipRetryJoin, GossipKeys and
	// GossipTiming as in membership.Config.
	GossipBind      string
	GossipAdvertise string
	GossipJoin      []string
	GossipRetryJoin time.Duration
	GossipKeys      [][]byte
	GossipTiming    membership.Timing

	// OffsetsPartitions is offsets.topic.num.partitions (default 50), used
	// when the coordinator creates __consumer_offsets; an existing topic's
	// count wins.
	OffsetsPartitions int32
	// OffsetsReplicationFactor is offsets.topic.replication.factor (default
	// 3). A cluster of fewer data nodes gets one replica per node. When
	// registered nodes are down (fenced) at creation, the coordinator waits
	// up to OffsetsCreateWait for them before it creates the topic with the
	// live ones only: the topic's replicas are placed once, and a cluster
	// whose data nodes were still starting would otherwise keep an
	// under-replicated __consumer_offsets.
	OffsetsReplicationFactor int16
	// OffsetsCreateWait bounds that wait (DefaultConfig: 30 s; 0 does not
	// wait).
	OffsetsCreateWait time.Duration
	// OffsetsSegmentBytes is the topic's segment.bytes (default 100 MiB,
	// Kafka's offsets.topic.segment.bytes).
	OffsetsSegmentBytes int64
	// OffsetsRetention is offsets.retention.minutes (default 7 days).
	OffsetsRetention time.Duration
	// RetentionCheckInterval is offsets.retention.check.interval.ms
	// (default 1 min).
	RetentionCheckInterval time.Duration
	// MaxOffsetMetadataBytes is offset.metadata.max.bytes (default 4096).
	MaxOffsetMetadataBytes int

	// Group bounds and defaults members (session timeouts, group size).
	Group group.Config
	// MaxHeartbeatWait caps a long-poll heartbeat (default 10 s; also at
	// most a third of the member's session timeout).
	MaxHeartbeatWait time.Duration
	// TickInterval is how often sessions and poll intervals are checked
	// (default 100 ms).
	TickInterval time.Duration

	// OwnershipLease is the lease of an offsets partition (default 2 s; see
	// package ownership). OwnershipRenew is how often it is renewed
	// (default a quarter of the lease).
	OwnershipLease time.Duration
	OwnershipRenew time.Duration

	// MaxWriteQueue bounds the writes waiting per offsets partition
	// (default 8192); MaxWriteBatchRecords the records per produce (default
	// 2000); MaxWriteBatchBytes its bytes (default 1 MiB).
	MaxWriteQueue int
	// WritersPerPartition is how many produces may be in flight per offsets
	// partition (default 1); each group's records go through one of them,
	// in order. One writer batches best, which wins where CPU is scarce
	// (24,900 commits/s against 10,400 with 4 on a 2-core machine); more
	// help where the acks=all round trip, not CPU, is the limit.
	WritersPerPartition  int
	MaxWriteBatchRecords int
	MaxWriteBatchBytes   int
	// WriteTimeout bounds one produce to __consumer_offsets, retries
	// included (default 15 s).
	WriteTimeout time.Duration
	// LoadFetchBytes is the max_bytes of the fetches that rebuild a
	// partition (default 8 MiB).
	LoadFetchBytes int

	// MaxRequestBytes bounds a request body (default 4 MiB).
	MaxRequestBytes int
	// ShutdownTimeout bounds the graceful stop (default 10 s).
	ShutdownTimeout time.Duration

	// Logger receives the logs (default slog.Default()).
	Logger *slog.Logger
	// Registry receives the metrics and is served on /metrics (default a
	// new registry with the Go and process collectors).
	Registry *prometheus.Registry
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Listen:                   "127.0.0.1:9300",
		OffsetsPartitions:        50,
		OffsetsReplicationFactor: 3,
		OffsetsCreateWait:        30 * time.Second,
		OffsetsSegmentBytes:      100 << 20,
		OffsetsRetention:         7 * 24 * time.Hour,
		RetentionCheckInterval:   time.Minute,
		MaxOffsetMetadataBytes:   wire.DefaultMaxOffsetMetadataBytes,
		MaxHeartbeatWait:         10 * time.Second,
		TickInterval:             100 * time.Millisecond,
		OwnershipLease:           2 * time.Second,
		MaxWriteQueue:            8192,
		WritersPerPartition:      1,
		MaxWriteBatchRecords:     2000,
		MaxWriteBatchBytes:       1 << 20,
		WriteTimeout:             15 * time.Second,
		LoadFetchBytes:           8 << 20,
		MaxRequestBytes:          4 << 20,
		ShutdownTimeout:          10 * time.Second,
	}
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	if c.OffsetsPartitions == 0 {
		c.OffsetsPartitions = d.OffsetsPartitions
	}
	if c.OffsetsReplicationFactor == 0 {
		c.OffsetsReplicationFactor = d.OffsetsReplicationFactor
	}

	if c.OffsetsSegmentBytes == 0 {
		c.OffsetsSegmentBytes = d.OffsetsSegmentBytes
	}
	if c.OffsetsRetention == 0 {
		c.OffsetsRetention = d.OffsetsRetention
	}
	if c.RetentionCheckInterval == 0 {
		c.RetentionCheckInterval = d.RetentionCheckInterval
	}
	if c.MaxOffsetMetadataBytes == 0 {
		c.MaxOffsetMetadataBytes = d.MaxOffsetMetadataBytes
	}
	if c.MaxHeartbeatWait == 0 {
		c.MaxHeartbeatWait = d.MaxHeartbeatWait
	}
	if c.TickInterval == 0 {
		c.TickInterval = d.TickInterval
	}
	if c.OwnershipLease == 0 {
		c.OwnershipLease = d.OwnershipLease
	}
	if c.OwnershipRenew == 0 {
		c.OwnershipRenew = c.OwnershipLease / 4
	}
	if c.MaxWriteQueue == 0 {
		c.MaxWriteQueue = d.MaxWriteQueue
	}
	if c.WritersPerPartition == 0 {
		c.WritersPerPartition = d.WritersPerPartition
	}
	if c.MaxWriteBatchRecords == 0 {
		c.MaxWriteBatchRecords = d.MaxWriteBatchRecords
	}
	if c.MaxWriteBatchBytes == 0 {
		c.MaxWriteBatchBytes = d.MaxWriteBatchBytes
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.LoadFetchBytes == 0 {
		c.LoadFetchBytes = d.LoadFetchBytes
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = d.MaxRequestBytes
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = d.ShutdownTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Group = c.Group.WithDefaults()
	return c
}

// Validate reports every problem with the config.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.ID == "" {
		bad("the coordinator id is empty")
	}
	switch {
	case c.Standalone && len(c.DataAddrs) == 0:
		bad("standalone mode needs at least one data node address")
	case !c.Standalone && len(c.MetaAddrs) == 0:
		bad("cluster mode needs strand-meta addresses (or run standalone)")
	case !c.Standalone && c.GossipBind == "":
		// Without gossip every other coordinator looks dead, and two would
		// keep taking partitions from each other.
		bad("cluster mode needs a gossip bind address (--gossip-bind) to see the other coordinators")
	}
	if c.OffsetsPartitions < 1 || c.OffsetsPartitions > 1000 {
		bad("offsets partitions %d: must be 1 to 1000", c.OffsetsPartitions)
	}
	if c.OffsetsCreateWait < 0 {
		bad("offsets topic create wait %v: must not be negative", c.OffsetsCreateWait)
	}
	if c.OffsetsReplicationFactor < 1 {
		bad("offsets replication factor %d: must be at least 1", c.OffsetsReplicationFactor)
	}
	if c.OffsetsRetention < time.Minute {
		bad("offsets retention %v: must be at least a minute", c.OffsetsRetention)
	}
	if c.MaxOffsetMetadataBytes < 0 || c.MaxOffsetMetadataBytes > 1<<20 {
		bad("offset metadata limit %d: must be 0 to 1 MiB", c.MaxOffsetMetadataBytes)
	}
	if c.OwnershipRenew >= c.OwnershipLease {
		bad("ownership renew %v must be below the lease %v", c.OwnershipRenew, c.OwnershipLease)
	}
	if c.WritersPerPartition < 1 || c.WritersPerPartition > 64 {
		bad("writers per partition %d: must be 1 to 64", c.WritersPerPartition)
	}
	if c.TickInterval < time.Millisecond {
		bad("tick interval %v is too short", c.TickInterval)
	}
	if err := c.Group.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
