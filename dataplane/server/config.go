package server

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"time"

	"strand.dev/controlplane/membership"
	"strand.dev/dataplane/partlog"
)

// Config is what a strand-data node needs to start. DefaultConfig gives the
// values the strand-data flags default to; Validate reports every bad field
// at once.
type Config struct {
	// NodeID is this node's id in the cluster (and in the data directory's
	// meta.json, which must agree).
	NodeID int32
	// Listen is the host:port the HTTP API binds; port 0 picks a free port.
	Listen string
	// AdvertiseAddr is the host:port clients are told to use. Empty means
	// the bound listen address (which must then not be a wildcard host).
	AdvertiseAddr string
	// DataDir holds the partition logs and the node's own files.
	DataDir string
	// Standalone serves admin topic requests locally, without a control
	// plane; every local partition is then led by this node. Without it the
	// node joins a cluster: MetaAddrs and Gossip are required.
	Standalone bool

	// Cluster mode.

	// MetaAddrs are the strand-meta API addresses (--meta).
	MetaAddrs []string
	// Rack is the node's rack or zone (--rack), for rack-aware placement.
	Rack string
	// Gossip configures the node's membership in the gossip pool
	// (BindAddr, AdvertiseAddr, Join, RetryJoin, Keys, Timing); role, id,
	// API address and rack are filled in.
	Gossip membership.Config
	// ReplicaLagMax is replica.lag.time.max.ms: a follower behind the
	// leader's log end offset that was last caught up longer ago leaves the
	// ISR (--replica-lag-time-max).
	ReplicaLagMax time.Duration
	// ReplicaFetchMaxBytes bounds the records of one replica stream frame
	// (--replica-fetch-max-bytes; a frame always holds a whole batch).
	ReplicaFetchMaxBytes int32
	// RegisterTimeout bounds the registration in strand-meta at start
	// (--register-timeout).
	RegisterTimeout time.Duration
	// ControlledShutdownTimeout bounds how long a stop waits for the
	// controller to move this node's leaderships away
	// (--controlled-shutdown-timeout).
	ControlledShutdownTimeout time.Duration
	// MetaTimeout bounds one strand-meta request (--meta-timeout).
	MetaTimeout time.Duration
	// AssignmentFile, if set, is a JSON list of wire.CreateTopicRequest
	// applied at start (create what is missing, grow partitions, set
	// configs); applying it again changes nothing.
	AssignmentFile string
	// DefaultPartitions is the partition count of a topic created without one.
	DefaultPartitions int32
	// LogDefaults are the topic config defaults of this node, by Kafka name
	// (segment.bytes, retention.ms, ...), on top of the log's own defaults.
	LogDefaults map[string]string
	// MaxOpenFiles bounds the segment descriptors the logs keep open (fetches
	// open their own on top, one per fetch in flight).
	MaxOpenFiles int
	// RetentionCheckInterval is how often retention runs.
	RetentionCheckInterval time.Duration
	// CheckpointInterval is how often the recovery-point checkpoint is
	// written (it is also written at a clean stop).
	CheckpointInterval time.Duration
	// Cleaner configures the log cleaner of compacted topics
	// (--log-cleaner-*; Threads 0 runs none). It cleans every local log,
	// led or followed, on its own.
	Cleaner partlog.CleanerOptions

	// MaxRequestBytes bounds a request body (a produce's batches).
	MaxRequestBytes int
	// ReadTimeout bounds reading one request, headers and body.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long.
	IdleTimeout time.Duration
	// MaxFetchBytes is the largest fetch answer; larger max_bytes are clamped.
	MaxFetchBytes int32
	// MaxFetchWait is the longest long-poll; larger max_wait_ms are clamped.
	MaxFetchWait time.Duration
	// MaxProduceTimeout is the longest acks=all wait; larger timeout_ms are
	// clamped.
	MaxProduceTimeout time.Duration
	// MaxConns bounds concurrent connections. Request bodies are read whole
	// before they are handled, so MaxConns * MaxRequestBytes bounds their
	// memory.
	MaxConns int
	// ShutdownTimeout bounds how long a stop waits for in-flight requests.
	ShutdownTimeout time.Duration

	// CopyFetchBody sends fetch bodies by read and write through a user-space
	// buffer instead of sendfile. It exists for the benchmark that compares
	// the two paths; leave it off.
	CopyFetchBody bool

	// Logger receives the node's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultCleanerIOMaxBytesPerSecond bounds the log cleaner's reads and
// writes together by default (Kafka leaves log.cleaner.io.max.bytes.per.second
// unbounded). Unbounded, a cleaning takes a core to itself and, on a node
// of few cores, produce throughput drops by a third while it runs; at this
// bound the cleaner still cleans about 120 MB of log per second (it reads a
// byte of log about twice and writes what it keeps) and produce keeps its
// pace (docs/benchmarks.md, "Log compaction"). 0 removes the bound.
const DefaultCleanerIOMaxBytesPerSecond = 256e6

// DefaultConfig returns the defaults of the strand-data flags.
func DefaultConfig() Config {
	return Config{
		NodeID:                 1,
		Listen:                 "127.0.0.1:9092",
		DataDir:                "data",
		DefaultPartitions:      1,
		MaxOpenFiles:           partlog.DefaultMaxOpenFiles,
		RetentionCheckInterval: 5 * time.Minute,
		CheckpointInterval:     time.Minute,
		Cleaner: partlog.CleanerOptions{
			Threads: 1, DedupeBufferBytes: 128 << 20, IOBufferBytes: 1 << 20, Backoff: 15 * time.Second,
			IOMaxBytesPerSecond: DefaultCleanerIOMaxBytesPerSecond,
		},
		MaxRequestBytes:   16 << 20,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       5 * time.Minute,
		MaxFetchBytes:     64 << 20,
		MaxConns:          4096,
		MaxFetchWait:      30 * time.Second,
		MaxProduceTimeout: 5 * time.Minute,
		ShutdownTimeout:   15 * time.Second,

		ReplicaLagMax:             30 * time.Second,
		ReplicaFetchMaxBytes:      1 << 20,
		RegisterTimeout:           60 * time.Second,
		ControlledShutdownTimeout: 30 * time.Second,
		MetaTimeout:               5 * time.Second,
	}
}

// Validate checks every field and returns all problems joined, each naming
// the flag it comes from.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.NodeID < 0 {
		bad("--node-id %d: must be >= 0", c.NodeID)
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		bad("--listen %q: %v", c.Listen, err)
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > math.MaxUint16 {
		bad("--listen %q: bad port", c.Listen)
	}
	if c.AdvertiseAddr != "" {
		host, port, err := net.SplitHostPort(c.AdvertiseAddr)
		if err != nil {
			bad("--advertise-addr %q: %v", c.AdvertiseAddr, err)
		} else if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > math.MaxUint16 {
			bad("--advertise-addr %q: bad port", c.AdvertiseAddr)
		} else if host == "" || net.ParseIP(host).IsUnspecified() {
			bad("--advertise-addr %q: needs a host clients can reach", c.AdvertiseAddr)
		}
	}
	if c.DataDir == "" {
		bad("--data-dir is empty")
	}
	switch {
	case c.Standalone && len(c.MetaAddrs) > 0:
		bad("--standalone and --meta: a node runs alone or in a cluster, not both")
	case !c.Standalone && len(c.MetaAddrs) == 0:
		bad("neither --standalone nor --meta: name the strand-meta nodes to join a cluster, or run --standalone")
	case !c.Standalone:
		if c.Gossip.BindAddr == "" {
			bad("--gossip-bind is empty")
		}
		if c.AssignmentFile != "" {
			bad("--assignment-file is for --standalone; in a cluster the controller places topics")
		}
		for _, d := range []struct {
			flag string
			v    time.Duration
		}{
			{"--replica-lag-time-max", c.ReplicaLagMax},
			{"--register-timeout", c.RegisterTimeout},
			{"--controlled-shutdown-timeout", c.ControlledShutdownTimeout},
			{"--meta-timeout", c.MetaTimeout},
		} {
			if d.v <= 0 {
				bad("%s %v: must be > 0", d.flag, d.v)
			}
		}
		if c.ReplicaFetchMaxBytes < 1024 {
			bad("--replica-fetch-max-bytes %d: must be >= 1024", c.ReplicaFetchMaxBytes)
		}
	}
	if c.DefaultPartitions < 1 {
		bad("--default-partitions %d: must be >= 1", c.DefaultPartitions)
	}
	if _, err := parseLogDefaults(c.LogDefaults); err != nil {
		bad("log defaults: %w", err)
	}
	if c.MaxRequestBytes < 1024 || c.MaxRequestBytes > 1<<30 {
		bad("--max-request-bytes %d: must be in [1024, %d]", c.MaxRequestBytes, 1<<30)
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"--read-timeout", c.ReadTimeout},
		{"--write-timeout", c.WriteTimeout},
		{"--idle-timeout", c.IdleTimeout},
		{"--max-fetch-wait", c.MaxFetchWait},
		{"--max-produce-timeout", c.MaxProduceTimeout},
		{"--shutdown-timeout", c.ShutdownTimeout},
		{"--log-retention-check-interval", c.RetentionCheckInterval},
		{"--log-checkpoint-interval", c.CheckpointInterval},
	} {
		if d.v <= 0 {
			bad("%s %v: must be > 0", d.flag, d.v)
		}
	}
	if c.MaxFetchBytes < 1024 {
		bad("--max-fetch-bytes %d: must be >= 1024 (and < 2 GiB)", c.MaxFetchBytes)
	}
	if c.Cleaner.Threads < 0 || c.Cleaner.Threads > 64 {
		bad("--log-cleaner-threads %d: must be in [0, 64]", c.Cleaner.Threads)
	}
	if c.Cleaner.Threads > 0 {
		if c.Cleaner.DedupeBufferBytes < 1<<20 {
			bad("--log-cleaner-dedupe-buffer-size %d: must be >= 1 MiB", c.Cleaner.DedupeBufferBytes)
		}
		if c.Cleaner.IOBufferBytes < 4096 {
			bad("--log-cleaner-io-buffer-size %d: must be >= 4096", c.Cleaner.IOBufferBytes)
		}
		if c.Cleaner.IOMaxBytesPerSecond < 0 {
			bad("--log-cleaner-io-max-bytes-per-second %v: must be >= 0 (0: no bound)", c.Cleaner.IOMaxBytesPerSecond)
		}
		if c.Cleaner.Backoff <= 0 {
			bad("--log-cleaner-backoff %v: must be > 0", c.Cleaner.Backoff)
		}
	}
	if c.MaxOpenFiles < 16 {
		bad("--max-open-files %d: must be >= 16", c.MaxOpenFiles)
	}
	if c.MaxConns < 1 {
		bad("--max-conns %d: must be >= 1", c.MaxConns)
	}
	return errors.Join(errs...)
}

// logger returns the configured logger or one that discards.
func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// limits are the parsing bounds derived from the config.
func (c *Config) limits() paramLimits {
	return paramLimits{
		maxFetchBytes:     c.MaxFetchBytes,
		maxFetchWait:      c.MaxFetchWait,
		maxProduceTimeout: c.MaxProduceTimeout,
	}
}
