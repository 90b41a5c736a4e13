package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"strand.dev/controlplane/membership"
	"strand.dev/dataplane/server"
)

// clusterFlags are the flags of a node in a cluster (without --standalone).
func clusterFlags(d server.Config) []cli.Flag {
	lan := membership.DefaultTiming()
	cat := "cluster"
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "meta", EnvVars: []string{"STRAND_META"}, Category: cat,
			Usage: "strand-meta API addresses, host:port, comma separated: join that cluster (instead of --standalone)"},
		&cli.StringFlag{Name: "rack", EnvVars: []string{"STRAND_RACK"}, Category: cat,
			Usage: "this node's rack or zone, for rack-aware replica placement"},
		&cli.StringFlag{Name: "gossip-bind", EnvVars: []string{"STRAND_GOSSIP_BIND"}, Value: "127.0.0.1:7401", Category: cat,
			Usage: "host:port gossip listens on (TCP and UDP)"},
		&cli.StringFlag{Name: "gossip-advertise", EnvVars: []string{"STRAND_GOSSIP_ADVERTISE"}, Category: cat,
			Usage: "ip:port others reach this node's gossip at (default: the bind address)"},
		&cli.StringSliceFlag{Name: "join", EnvVars: []string{"STRAND_JOIN"}, Category: cat,
			Usage: "gossip addresses of existing members, comma separated (may include this node's own)"},
		&cli.DurationFlag{Name: "gossip-retry-join", EnvVars: []string{"STRAND_GOSSIP_RETRY_JOIN"}, Value: 2 * time.Second, Category: cat,
			Usage: "while no other member is alive, retry joining this often (0: a failed join at start is fatal)"},
		&cli.StringFlag{Name: "gossip-key", EnvVars: []string{"STRAND_GOSSIP_KEY"}, Category: cat,
			Usage: "base64 gossip encryption key (16, 24 or 32 bytes); the same in every process"},
		&cli.StringFlag{Name: "gossip-keyring-file", EnvVars: []string{"STRAND_GOSSIP_KEYRING_FILE"}, Category: cat,
			Usage: "JSON array of base64 keys, primary first (for key rotation); overrides --gossip-key"},
		&cli.StringFlag{Name: "gossip-profile", EnvVars: []string{"STRAND_GOSSIP_PROFILE"}, Value: "lan", Category: cat,
			Usage: "failure-detection timings: " + strings.Join(membership.Profiles(), ", ") + " (see the membership package doc)"},
		&cli.DurationFlag{Name: "gossip-probe-interval", EnvVars: []string{"STRAND_GOSSIP_PROBE_INTERVAL"}, Category: cat,
			Usage: fmt.Sprintf("override the profile's probe interval (lan: %v)", lan.ProbeInterval)},
		&cli.DurationFlag{Name: "gossip-probe-timeout", EnvVars: []string{"STRAND_GOSSIP_PROBE_TIMEOUT"}, Category: cat,
			Usage: fmt.Sprintf("override the profile's probe timeout (lan: %v)", lan.ProbeTimeout)},
		&cli.IntFlag{Name: "gossip-suspicion-mult", EnvVars: []string{"STRAND_GOSSIP_SUSPICION_MULT"}, Category: cat,
			Usage: fmt.Sprintf("override the profile's suspicion multiplier (lan: %d)", lan.SuspicionMult)},
		&cli.DurationFlag{Name: "gossip-interval", EnvVars: []string{"STRAND_GOSSIP_INTERVAL"}, Category: cat,
			Usage: fmt.Sprintf("override the profile's gossip interval (lan: %v)", lan.GossipInterval)},
		&cli.IntFlag{Name: "gossip-nodes", EnvVars: []string{"STRAND_GOSSIP_NODES"}, Category: cat,
			Usage: fmt.Sprintf("override the profile's gossip fan-out (lan: %d)", lan.GossipNodes)},
		&cli.DurationFlag{Name: "replica-lag-time-max", EnvVars: []string{"STRAND_REPLICA_LAG_TIME_MAX"}, Value: d.ReplicaLagMax, Category: cat,
			Usage: "a follower behind the leader that was last caught up longer ago leaves the ISR (replica.lag.time.max.ms)"},
		&cli.IntFlag{Name: "replica-fetch-max-bytes", EnvVars: []string{"STRAND_REPLICA_FETCH_MAX_BYTES"}, Value: int(d.ReplicaFetchMaxBytes), Category: cat,
			Usage: "records per partition in one replication frame (a frame always carries a whole batch)"},
		&cli.DurationFlag{Name: "register-timeout", EnvVars: []string{"STRAND_REGISTER_TIMEOUT"}, Value: d.RegisterTimeout, Category: cat,
			Usage: "at start, how long to retry registering while the id is still registered live at another address"},
		&cli.DurationFlag{Name: "controlled-shutdown-timeout", EnvVars: []string{"STRAND_CONTROLLED_SHUTDOWN_TIMEOUT"}, Value: d.ControlledShutdownTimeout, Category: cat,
			Usage: "on SIGTERM, how long to wait for the controller to move this node's leaderships away"},
		&cli.DurationFlag{Name: "meta-timeout", EnvVars: []string{"STRAND_META_TIMEOUT"}, Value: d.MetaTimeout, Category: cat,
			Usage: "bound of one strand-meta request"},
	}
}

// clusterConfig fills in the cluster fields of cfg from the flags.
func clusterConfig(c *cli.Context, cfg *server.Config) error {
	cfg.MetaAddrs = splitAll(c.StringSlice("meta"))
	cfg.Rack = c.String("rack")
	timing, err := membership.TimingProfile(c.String("gossip-profile"))
	if err != nil {
		return fmt.Errorf("--gossip-profile: %w", err)
	}
	if c.IsSet("gossip-probe-interval") {
		timing.ProbeInterval = c.Duration("gossip-probe-interval")
	}
	if c.IsSet("gossip-probe-timeout") {
		timing.ProbeTimeout = c.Duration("gossip-probe-timeout")
	}
	if c.IsSet("gossip-suspicion-mult") {
		timing.SuspicionMult = c.Int("gossip-suspicion-mult")
	}
	if c.IsSet("gossip-interval") {
		timing.GossipInterval = c.Duration("gossip-interval")
	}
	if c.IsSet("gossip-nodes") {
		timing.GossipNodes = c.Int("gossip-nodes")
	}
	var keys [][]byte
	switch {
	case c.String("gossip-keyring-file") != "":
		if keys, err = membership.LoadKeyringFile(c.String("gossip-keyring-file")); err != nil {
			return fmt.Errorf("--gossip-keyring-file: %w", err)
		}
	case c.String("gossip-key") != "":
		key, err := membership.ParseKey(c.String("gossip-key"))
		if err != nil {
			return fmt.Errorf("--gossip-key: %w", err)
		}
		keys = [][]byte{key}
	}
	cfg.Gossip = membership.Config{
		BindAddr:      c.String("gossip-bind"),
		AdvertiseAddr: c.String("gossip-advertise"),
		Join:          splitAll(c.StringSlice("join")),
		RetryJoin:     c.Duration("gossip-retry-join"),
		Keys:          keys,
		Timing:        timing,
	}
	cfg.ReplicaLagMax = c.Duration("replica-lag-time-max")
	if v := c.Int("replica-fetch-max-bytes"); v < 1024 || v > 1<<30 {
		return fmt.Errorf("--replica-fetch-max-bytes %d: must be in [1024, %d]", v, 1<<30)
	}
	cfg.ReplicaFetchMaxBytes = int32(c.Int("replica-fetch-max-bytes"))
	cfg.RegisterTimeout = c.Duration("register-timeout")
	cfg.ControlledShutdownTimeout = c.Duration("controlled-shutdown-timeout")
	cfg.MetaTimeout = c.Duration("meta-timeout")
	return nil
}

// splitAll flattens comma-separated values and drops empty ones.
func splitAll(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
