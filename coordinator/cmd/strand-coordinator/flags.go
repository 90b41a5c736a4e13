package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"strand.dev/client/logging"

	"strand.dev/controlplane/membership"
	"strand.dev/coordinator/group"
	"strand.dev/coordinator/server"
)

// flags are strand-coordinator's flags; each has a STRAND_ twin.
func flags() []cli.Flag {
	d := server.DefaultConfig()
	g := group.Config{}.WithDefaults()
	fs := []cli.Flag{
		&cli.StringFlag{Name: "id", EnvVars: []string{"STRAND_ID"}, Usage: "this coordinator's id (letters, digits, '.', '_', '-'); required"},
		&cli.StringFlag{Name: "listen", EnvVars: []string{"STRAND_LISTEN"}, Value: d.Listen, Usage: "host:port of the HTTP API (port 0 picks one)"},
		&cli.StringFlag{Name: "advertise-addr", EnvVars: []string{"STRAND_ADVERTISE_ADDR"}, Usage: "host:port clients are told to use (default: the bound listen address)"},
		&cli.StringFlag{Name: "meta", EnvVars: []string{"STRAND_META"}, Usage: "strand-meta API addresses, comma-separated (cluster mode)"},
		&cli.BoolFlag{Name: "standalone", EnvVars: []string{"STRAND_STANDALONE"}, Usage: "run without strand-meta and gossip, owning every offsets partition, against --data (development)"},
		&cli.StringFlag{Name: "data", EnvVars: []string{"STRAND_DATA"}, Usage: "data node API addresses, comma-separated (standalone mode)"},
		&cli.IntFlag{Name: "offsets-partitions", EnvVars: []string{"STRAND_OFFSETS_PARTITIONS"}, Value: int(d.OffsetsPartitions), Usage: "offsets.topic.num.partitions: partitions of __consumer_offsets when this coordinator creates it"},
		&cli.IntFlag{Name: "offsets-replication-factor", EnvVars: []string{"STRAND_OFFSETS_REPLICATION_FACTOR"}, Value: int(d.OffsetsReplicationFactor), Usage: "offsets.topic.replication.factor (lowered to the data nodes up at creation)"},
		&cli.DurationFlag{Name: "offsets-topic-create-wait", EnvVars: []string{"STRAND_OFFSETS_TOPIC_CREATE_WAIT"}, Value: d.OffsetsCreateWait, Usage: "how long to wait for registered data nodes that are down before creating __consumer_offsets with fewer replicas"},
		&cli.Int64Flag{Name: "offsets-segment-bytes", EnvVars: []string{"STRAND_OFFSETS_SEGMENT_BYTES"}, Value: d.OffsetsSegmentBytes, Usage: "segment.bytes of __consumer_offsets"},
		&cli.IntFlag{Name: "offsets-retention-minutes", EnvVars: []string{"STRAND_OFFSETS_RETENTION_MINUTES"}, Value: int(d.OffsetsRetention / time.Minute), Usage: "offsets.retention.minutes: committed offsets of an empty group expire after this"},
		&cli.DurationFlag{Name: "offsets-retention-check-interval", EnvVars: []string{"STRAND_OFFSETS_RETENTION_CHECK_INTERVAL"}, Value: d.RetentionCheckInterval, Usage: "how often expired offsets are looked for"},
		&cli.IntFlag{Name: "offset-metadata-max-bytes", EnvVars: []string{"STRAND_OFFSET_METADATA_MAX_BYTES"}, Value: d.MaxOffsetMetadataBytes, Usage: "offset.metadata.max.bytes: largest metadata string of a commit"},
		&cli.DurationFlag{Name: "session-timeout", EnvVars: []string{"STRAND_SESSION_TIMEOUT"}, Value: g.DefaultSessionTimeout, Usage: "session.timeout.ms given to members that ask for none"},
		&cli.DurationFlag{Name: "min-session-timeout", EnvVars: []string{"STRAND_MIN_SESSION_TIMEOUT"}, Value: g.MinSessionTimeout, Usage: "group.min.session.timeout.ms"},
		&cli.DurationFlag{Name: "max-session-timeout", EnvVars: []string{"STRAND_MAX_SESSION_TIMEOUT"}, Value: g.MaxSessionTimeout, Usage: "group.max.session.timeout.ms"},
		&cli.DurationFlag{Name: "rebalance-timeout", EnvVars: []string{"STRAND_REBALANCE_TIMEOUT"}, Value: g.DefaultRebalanceTimeout, Usage: "max.poll.interval.ms given to members that ask for none"},
		&cli.DurationFlag{Name: "heartbeat-interval", EnvVars: []string{"STRAND_HEARTBEAT_INTERVAL"}, Value: g.HeartbeatInterval, Usage: "heartbeat interval told to members that do not long-poll"},
		&cli.IntFlag{Name: "group-max-size", EnvVars: []string{"STRAND_GROUP_MAX_SIZE"}, Value: g.MaxMembers, Usage: "group.max.size"},
		&cli.DurationFlag{Name: "max-heartbeat-wait", EnvVars: []string{"STRAND_MAX_HEARTBEAT_WAIT"}, Value: d.MaxHeartbeatWait, Usage: "longest long-poll of a heartbeat"},
		&cli.DurationFlag{Name: "ownership-lease", EnvVars: []string{"STRAND_OWNERSHIP_LEASE"}, Value: d.OwnershipLease, Usage: "lease of an offsets partition: a takeover from a failed owner waits this long"},
		&cli.IntFlag{Name: "max-write-queue", EnvVars: []string{"STRAND_MAX_WRITE_QUEUE"}, Value: d.MaxWriteQueue, Usage: "writes waiting per offsets partition"},
		&cli.IntFlag{Name: "writers-per-partition", EnvVars: []string{"STRAND_WRITERS_PER_PARTITION"}, Value: d.WritersPerPartition, Usage: "acks=all produces in flight per offsets partition (each group's records keep their order)"},
		&cli.IntFlag{Name: "max-request-bytes", EnvVars: []string{"STRAND_MAX_REQUEST_BYTES"}, Value: d.MaxRequestBytes, Usage: "largest request body"},
		&cli.DurationFlag{Name: "shutdown-timeout", EnvVars: []string{"STRAND_SHUTDOWN_TIMEOUT"}, Value: d.ShutdownTimeout, Usage: "on SIGTERM, how long the graceful stop may take"},
	}
	fs = append(fs, logging.Flags("text")...)
	// Gossip (cluster mode): ownership of offsets partitions follows the
	// live coordinators, so --gossip-bind has no default and cluster mode
	// requires it.
	return append(fs, membership.Flags(membership.FlagOptions{Category: "gossip"})...)
}

// list splits a comma-separated flag.
func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// configFrom builds the server's Config from the flags.
func configFrom(c *cli.Context) (server.Config, error) {
	logger, err := logging.FromFlags(c)
	if err != nil {
		return server.Config{}, err
	}
	if err := checkFlags(c); err != nil {
		return server.Config{}, err
	}
	gossip, err := membership.ConfigFromFlags(c)
	if err != nil {
		return server.Config{}, err
	}
	cfg := server.Config{
		ID:                       c.String("id"),
		Listen:                   c.String("listen"),
		AdvertiseAddr:            c.String("advertise-addr"),
		MetaAddrs:                list(c.String("meta")),
		Standalone:               c.Bool("standalone"),
		DataAddrs:                list(c.String("data")),
		GossipBind:               gossip.BindAddr,
		GossipAdvertise:          gossip.AdvertiseAddr,
		GossipJoin:               gossip.Join,
		GossipRetryJoin:          gossip.RetryJoin,
		GossipKeys:               gossip.Keys,
		GossipTiming:             gossip.Timing,
		OffsetsPartitions:        int32(c.Int("offsets-partitions")),
		OffsetsReplicationFactor: int16(c.Int("offsets-replication-factor")),
		OffsetsCreateWait:        c.Duration("offsets-topic-create-wait"),
		OffsetsSegmentBytes:      c.Int64("offsets-segment-bytes"),
		OffsetsRetention:         time.Duration(c.Int("offsets-retention-minutes")) * time.Minute,
		RetentionCheckInterval:   c.Duration("offsets-retention-check-interval"),
		MaxOffsetMetadataBytes:   c.Int("offset-metadata-max-bytes"),
		Group: group.Config{
			MinSessionTimeout:       c.Duration("min-session-timeout"),
			MaxSessionTimeout:       c.Duration("max-session-timeout"),
			DefaultSessionTimeout:   c.Duration("session-timeout"),
			DefaultRebalanceTimeout: c.Duration("rebalance-timeout"),
			HeartbeatInterval:       c.Duration("heartbeat-interval"),
			MaxMembers:              c.Int("group-max-size"),
		},
		MaxHeartbeatWait:    c.Duration("max-heartbeat-wait"),
		OwnershipLease:      c.Duration("ownership-lease"),
		MaxWriteQueue:       c.Int("max-write-queue"),
		WritersPerPartition: c.Int("writers-per-partition"),
		MaxRequestBytes:     c.Int("max-request-bytes"),
		ShutdownTimeout:     c.Duration("shutdown-timeout"),
		Logger:              logger,
	}
	if cfg.OffsetsRetention <= 0 {
		return cfg, fmt.Errorf("--offsets-retention-minutes must be positive")
	}
	return cfg, nil
}

// checkFlags refuses a missing or contradictory setting before anything
// starts, naming the flag and its STRAND_ twin: the id, the mode (--meta for
// a cluster or --standalone with --data, not both), and, in a cluster, an
// advertised address when the listen address binds every interface (the
// coordinator's address goes to strand-meta and to clients, and 0.0.0.0 is
// no address another process can use).
func checkFlags(c *cli.Context) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if strings.TrimSpace(c.String("id")) == "" {
		bad("--id is empty (STRAND_ID): every coordinator needs an id of its own")
	}
	meta, data, standalone := list(c.String("meta")), list(c.String("data")), c.Bool("standalone")
	switch {
	case standalone && len(meta) > 0:
		bad("--standalone (STRAND_STANDALONE) and --meta (STRAND_META) exclude each other: a standalone coordinator owns every offsets partition against --data, a cluster one follows strand-meta")
	case standalone && len(data) == 0:
		bad("--standalone (STRAND_STANDALONE) needs --data (STRAND_DATA): the data node addresses")
	case !standalone && len(meta) == 0:
		bad("--meta (STRAND_META) is empty: name the strand-meta addresses to run in a cluster, or run --standalone with --data")
	case !standalone && len(data) > 0:
		bad("--data (STRAND_DATA) is for --standalone; in a cluster the data nodes come from strand-meta")
	case !standalone && strings.TrimSpace(c.String(membership.FlagBind)) == "":
		bad("--gossip-bind (STRAND_GOSSIP_BIND) is empty: a coordinator in a cluster gossips to see the other coordinators")
	}
	if err := membership.CheckAdvertise(c.String("listen"), "advertise-addr", strings.TrimSpace(c.String("advertise-addr")), !standalone); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
