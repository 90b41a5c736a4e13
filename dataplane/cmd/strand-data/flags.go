package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"strand.dev/client/logging"
	"strand.dev/controlplane/membership"
	"strand.dev/dataplane/partlog"
	"strand.dev/dataplane/server"
)

// logFlag is a node-wide topic config default: the flag, its environment
// twin and the topic config (Kafka name) it sets.
type logFlag struct {
	flag, env, key, usage string
}

// logFlags are the topic config defaults settable per node, named after
// Kafka's broker settings (log.segment.bytes -> --log-segment-bytes).
var logFlags = []logFlag{
	{"log-segment-bytes", "STRAND_LOG_SEGMENT_BYTES", "segment.bytes", "segment size before a new segment is rolled"},
	{"log-roll-ms", "STRAND_LOG_ROLL_MS", "segment.ms", "segment age (ms) before a new segment is rolled"},
	{"log-retention-ms", "STRAND_LOG_RETENTION_MS", "retention.ms", "age (ms) after which whole segments are deleted; -1 keeps forever"},
	{"log-retention-bytes", "STRAND_LOG_RETENTION_BYTES", "retention.bytes", "partition size beyond which the oldest segments are deleted; -1 for no limit"},
	{"log-flush-interval-messages", "STRAND_LOG_FLUSH_INTERVAL_MESSAGES", "flush.messages", "fsync after this many records (default: leave it to the page cache and replication)"},
	{"log-flush-interval-ms", "STRAND_LOG_FLUSH_INTERVAL_MS", "flush.ms", "fsync when the oldest unflushed record is this old (ms)"},
	{"log-index-interval-bytes", "STRAND_LOG_INDEX_INTERVAL_BYTES", "index.interval.bytes", "bytes between sparse offset/time index entries"},
	{"log-message-max-bytes", "STRAND_LOG_MESSAGE_MAX_BYTES", "max.message.bytes", "largest record batch accepted"},
	{"log-message-timestamp-type", "STRAND_LOG_MESSAGE_TIMESTAMP_TYPE", "message.timestamp.type", "CreateTime or LogAppendTime"},
	{"log-cleanup-policy", "STRAND_LOG_CLEANUP_POLICY", "cleanup.policy", "delete, compact or compact,delete"},
	{"min-insync-replicas", "STRAND_MIN_INSYNC_REPLICAS", "min.insync.replicas", "in-sync replicas an acks=all produce needs"},
	{"log-cleaner-min-cleanable-ratio", "STRAND_LOG_CLEANER_MIN_CLEANABLE_RATIO", "min.cleanable.dirty.ratio", "dirty share of a compacted log's cleanable bytes that makes it due for cleaning"},
	{"log-cleaner-min-compaction-lag-ms", "STRAND_LOG_CLEANER_MIN_COMPACTION_LAG_MS", "min.compaction.lag.ms", "records younger than this (ms) are not compacted"},
	{"log-cleaner-max-compaction-lag-ms", "STRAND_LOG_CLEANER_MAX_COMPACTION_LAG_MS", "max.compaction.lag.ms", "a dirty record this old (ms) makes its log due for cleaning whatever the ratio"},
	{"log-cleaner-delete-retention-ms", "STRAND_LOG_CLEANER_DELETE_RETENTION_MS", "delete.retention.ms", "how long (ms) tombstones stay in a compacted log"},
}

// flags are strand-data's command-line flags; each has a STRAND_ twin.
func flags() []cli.Flag {
	d := server.DefaultConfig()
	fs := []cli.Flag{
		&cli.IntFlag{Name: "node-id", EnvVars: []string{"STRAND_NODE_ID"}, Value: int(d.NodeID), Usage: "this node's id (>= 0); the data directory remembers it"},
		&cli.StringFlag{Name: "listen", EnvVars: []string{"STRAND_LISTEN"}, Value: d.Listen, Usage: "host:port of the HTTP API (port 0 picks one)"},
		&cli.StringFlag{Name: "advertise-addr", EnvVars: []string{"STRAND_ADVERTISE_ADDR"}, Usage: "host:port clients are told to use (default: the bound listen address)"},
		&cli.StringFlag{Name: "data-dir", EnvVars: []string{"STRAND_DATA_DIR"}, Value: d.DataDir, Usage: "directory of the partition logs"},
		&cli.BoolFlag{Name: "standalone", EnvVars: []string{"STRAND_STANDALONE"}, Usage: "run without the control plane: serve admin topic requests locally and lead every partition (otherwise --meta names the cluster to join)"},
		&cli.StringFlag{Name: "assignment-file", EnvVars: []string{"STRAND_ASSIGNMENT_FILE"}, Usage: "JSON list of topics ({\"topic\",\"partitions\",\"configs\"}) created or updated at start; idempotent"},
		&cli.IntFlag{Name: "default-partitions", EnvVars: []string{"STRAND_DEFAULT_PARTITIONS"}, Value: int(d.DefaultPartitions), Usage: "partitions of a topic created without a count"},
		&cli.IntFlag{Name: "max-open-files", EnvVars: []string{"STRAND_MAX_OPEN_FILES"}, Value: d.MaxOpenFiles, Usage: "segment descriptors the logs keep open (cold segments are closed and reopened on demand)"},
		&cli.DurationFlag{Name: "log-retention-check-interval", EnvVars: []string{"STRAND_LOG_RETENTION_CHECK_INTERVAL"}, Value: d.RetentionCheckInterval, Usage: "how often retention deletes old segments"},
		&cli.DurationFlag{Name: "log-checkpoint-interval", EnvVars: []string{"STRAND_LOG_CHECKPOINT_INTERVAL"}, Value: d.CheckpointInterval, Usage: "how often the recovery-point checkpoint is written"},
		&cli.BoolFlag{Name: "log-cleaner-enable", EnvVars: []string{"STRAND_LOG_CLEANER_ENABLE"}, Value: d.Cleaner.Threads > 0, Usage: "run the log cleaner for topics with cleanup.policy compact"},
		&cli.IntFlag{Name: "log-cleaner-threads", EnvVars: []string{"STRAND_LOG_CLEANER_THREADS"}, Value: d.Cleaner.Threads, Usage: "logs cleaned at once"},
		&cli.Int64Flag{Name: "log-cleaner-dedupe-buffer-size", EnvVars: []string{"STRAND_LOG_CLEANER_DEDUPE_BUFFER_SIZE"}, Value: d.Cleaner.DedupeBufferBytes, Usage: "memory (bytes) of the cleaner's key maps, shared by its threads; 24 bytes a key"},
		&cli.Float64Flag{Name: "log-cleaner-io-max-bytes-per-second", EnvVars: []string{"STRAND_LOG_CLEANER_IO_MAX_BYTES_PER_SECOND"}, Value: d.Cleaner.IOMaxBytesPerSecond, DefaultText: fmt.Sprintf("%.0f", d.Cleaner.IOMaxBytesPerSecond), Usage: "bytes per second the cleaner may read and write together, so that cleaning does not starve produce and fetch (0: no bound)"},
		&cli.IntFlag{Name: "log-cleaner-io-buffer-size", EnvVars: []string{"STRAND_LOG_CLEANER_IO_BUFFER_SIZE"}, Value: d.Cleaner.IOBufferBytes, Usage: "read and write buffer (bytes) of each cleaner thread"},
		&cli.DurationFlag{Name: "log-cleaner-backoff", EnvVars: []string{"STRAND_LOG_CLEANER_BACKOFF"}, Value: d.Cleaner.Backoff, Usage: "how long the cleaner sleeps when no log needs cleaning"},
		&cli.IntFlag{Name: "max-request-bytes", EnvVars: []string{"STRAND_MAX_REQUEST_BYTES"}, Value: d.MaxRequestBytes, Usage: "largest request body (a produce's batches)"},
		&cli.DurationFlag{Name: "read-timeout", EnvVars: []string{"STRAND_READ_TIMEOUT"}, Value: d.ReadTimeout, Usage: "time to receive one request, headers and body"},
		&cli.DurationFlag{Name: "write-timeout", EnvVars: []string{"STRAND_WRITE_TIMEOUT"}, Value: d.WriteTimeout, Usage: "time to send one response"},
		&cli.DurationFlag{Name: "idle-timeout", EnvVars: []string{"STRAND_IDLE_TIMEOUT"}, Value: d.IdleTimeout, Usage: "keep-alive connections idle this long are closed"},
		&cli.IntFlag{Name: "max-fetch-bytes", EnvVars: []string{"STRAND_MAX_FETCH_BYTES"}, Value: int(d.MaxFetchBytes), Usage: "largest fetch answer; larger max_bytes are clamped to it"},
		&cli.DurationFlag{Name: "max-fetch-wait", EnvVars: []string{"STRAND_MAX_FETCH_WAIT"}, Value: d.MaxFetchWait, Usage: "longest fetch long-poll; larger max_wait_ms are clamped to it"},
		&cli.DurationFlag{Name: "max-produce-timeout", EnvVars: []string{"STRAND_MAX_PRODUCE_TIMEOUT"}, Value: d.MaxProduceTimeout, Usage: "longest acks=all wait; larger timeout_ms are clamped to it"},
		&cli.IntFlag{Name: "max-conns", EnvVars: []string{"STRAND_MAX_CONNS"}, Value: d.MaxConns, Usage: "most concurrent connections; bodies are read whole, so this times --max-request-bytes bounds their memory"},
		&cli.DurationFlag{Name: "shutdown-timeout", EnvVars: []string{"STRAND_SHUTDOWN_TIMEOUT"}, Value: d.ShutdownTimeout, Usage: "on SIGTERM, how long in-flight requests may take to finish"},
	}
	fs = append(fs, logging.Flags("text")...)
	fs = append(fs, clusterFlags(d)...)
	defaults := partlog.DefaultConfig().Map()
	for _, lf := range logFlags {
		fs = append(fs, &cli.StringFlag{
			Name: lf.flag, EnvVars: []string{lf.env}, Value: defaults[lf.key], Category: "topic config defaults",
			Usage: fmt.Sprintf("%s (topic config %s)", lf.usage, lf.key),
		})
	}
	return fs
}

// configFrom builds the node's Config from the flags.
func configFrom(c *cli.Context) (server.Config, error) {
	logger, err := logging.FromFlags(c)
	if err != nil {
		return server.Config{}, err
	}
	cfg := server.DefaultConfig()
	cfg.NodeID = int32(c.Int("node-id"))
	if c.Int("node-id") != int(cfg.NodeID) {
		return cfg, fmt.Errorf("--node-id %d is out of range", c.Int("node-id"))
	}
	cfg.Listen = c.String("listen")
	cfg.AdvertiseAddr = c.String("advertise-addr")
	cfg.DataDir = c.String("data-dir")
	cfg.Standalone = c.Bool("standalone")
	if cfg.Standalone && len(splitAll(c.StringSlice("meta"))) > 0 {
		return cfg, fmt.Errorf("--standalone and --meta exclude each other: a standalone node leads every partition itself, a cluster node follows strand-meta")
	}
	if err := membership.CheckAdvertise(cfg.Listen, "advertise-addr", cfg.AdvertiseAddr, !cfg.Standalone); err != nil {
		return cfg, err
	}
	if !cfg.Standalone {
		if err := clusterConfig(c, &cfg); err != nil {
			return cfg, err
		}
	}
	cfg.AssignmentFile = c.String("assignment-file")
	cfg.DefaultPartitions = int32(min(c.Int("default-partitions"), 1<<30))
	cfg.MaxOpenFiles = c.Int("max-open-files")
	cfg.RetentionCheckInterval = c.Duration("log-retention-check-interval")
	cfg.CheckpointInterval = c.Duration("log-checkpoint-interval")
	cfg.Cleaner.Threads = c.Int("log-cleaner-threads")
	if !c.Bool("log-cleaner-enable") {
		cfg.Cleaner.Threads = 0
	}
	cfg.Cleaner.DedupeBufferBytes = c.Int64("log-cleaner-dedupe-buffer-size")
	cfg.Cleaner.IOMaxBytesPerSecond = c.Float64("log-cleaner-io-max-bytes-per-second")
	cfg.Cleaner.IOBufferBytes = c.Int("log-cleaner-io-buffer-size")
	cfg.Cleaner.Backoff = c.Duration("log-cleaner-backoff")
	cfg.MaxRequestBytes = c.Int("max-request-bytes")
	cfg.ReadTimeout = c.Duration("read-timeout")
	cfg.WriteTimeout = c.Duration("write-timeout")
	cfg.IdleTimeout = c.Duration("idle-timeout")
	if v := c.Int("max-fetch-bytes"); v < 1 || v > 1<<31-1 {
		return cfg, fmt.Errorf("--max-fetch-bytes %d: must be in [1024, %d]", v, 1<<31-1)
	}
	cfg.MaxFetchBytes = int32(c.Int("max-fetch-bytes"))
	cfg.MaxFetchWait = c.Duration("max-fetch-wait")
	cfg.MaxProduceTimeout = c.Duration("max-produce-timeout")
	cfg.MaxConns = c.Int("max-conns")
	cfg.ShutdownTimeout = c.Duration("shutdown-timeout")
	cfg.LogDefaults = make(map[string]string, len(logFlags))
	for _, lf := range logFlags {
		if v := c.String(lf.flag); v != "" {
			cfg.LogDefaults[lf.key] = v
		}
	}
	cfg.Logger = logger
	return cfg, nil
}
