package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"strand.dev/controlplane/controller"
	"strand.dev/controlplane/membership"
)

func env(name string) []string { return []string{"STRAND_" + name} }

func flags() []cli.Flag {
	lan := membership.DefaultTiming()
	return []cli.Flag{
		&cli.StringFlag{Name: "id", EnvVars: env("CONTROLLER_ID"), Required: true,
			Usage: "this controller's id (lease holder name and gossip id), e.g. controller-1"},
		&cli.StringFlag{Name: "listen", EnvVars: env("LISTEN"), Value: "127.0.0.1:7201",
			Usage: "host:port of the admin API, /healthz and /metrics"},
		&cli.StringFlag{Name: "advertise", EnvVars: env("ADVERTISE"),
			Usage: "admin API address others use, written into the lease (default: the listen address)"},
		&cli.StringSliceFlag{Name: "meta", EnvVars: env("META"), Required: true,
			Usage: "strand-meta API addresses, host:port, comma separated"},
		&cli.StringFlag{Name: "gossip-bind", EnvVars: env("GOSSIP_BIND"), Value: "127.0.0.1:7301",
			Usage: "host:port gossip listens on (TCP and UDP)"},
		&cli.StringFlag{Name: "gossip-advertise", EnvVars: env("GOSSIP_ADVERTISE"),
			Usage: "ip:port others reach this member's gossip at (default: the bind address)"},
		&cli.StringSliceFlag{Name: "join", EnvVars: env("JOIN"),
			Usage: "gossip addresses of existing members, comma separated (may include this one's own)"},
		&cli.DurationFlag{Name: "gossip-retry-join", EnvVars: env("GOSSIP_RETRY_JOIN"), Value: 2 * time.Second,
			Usage: "while no other member is alive, retry joining this often (0: a failed join at start is fatal)"},
		&cli.StringFlag{Name: "gossip-key", EnvVars: env("GOSSIP_KEY"),
			Usage: "base64 gossip encryption key (16, 24 or 32 bytes); the same in every process"},
		&cli.StringFlag{Name: "gossip-keyring-file", EnvVars: env("GOSSIP_KEYRING_FILE"),
			Usage: "JSON array of base64 keys, primary first (for key rotation); overrides --gossip-key"},
		&cli.StringFlag{Name: "gossip-profile", EnvVars: env("GOSSIP_PROFILE"), Value: "lan",
			Usage: "failure-detection timings: " + strings.Join(membership.Profiles(), ", ") + " (see the membership package doc)"},
		&cli.DurationFlag{Name: "gossip-probe-interval", EnvVars: env("GOSSIP_PROBE_INTERVAL"),
			Usage: fmt.Sprintf("override the profile's probe interval (lan: %v)", lan.ProbeInterval)},
		&cli.DurationFlag{Name: "gossip-probe-timeout", EnvVars: env("GOSSIP_PROBE_TIMEOUT"),
			Usage: fmt.Sprintf("override the profile's probe timeout (lan: %v)", lan.ProbeTimeout)},
		&cli.IntFlag{Name: "gossip-suspicion-mult", EnvVars: env("GOSSIP_SUSPICION_MULT"),
			Usage: fmt.Sprintf("override the profile's suspicion multiplier (lan: %d)", lan.SuspicionMult)},
		&cli.DurationFlag{Name: "gossip-interval", EnvVars: env("GOSSIP_INTERVAL"),
			Usage: fmt.Sprintf("override the profile's gossip interval (lan: %v)", lan.GossipInterval)},
		&cli.IntFlag{Name: "gossip-nodes", EnvVars: env("GOSSIP_NODES"),
			Usage: fmt.Sprintf("override the profile's gossip fan-out (lan: %d)", lan.GossipNodes)},
		&cli.DurationFlag{Name: "lease", EnvVars: env("LEASE"), Value: 3 * time.Second,
			Usage: "controller lease: renewed every lease/3; a standby takes over this long after the last renewal"},
		&cli.DurationFlag{Name: "reconcile-interval", EnvVars: env("RECONCILE_INTERVAL"), Value: 2 * time.Second,
			Usage: "period of the full reconcile of gossip against the metadata image"},
		&cli.DurationFlag{Name: "rebalance-interval", EnvVars: env("REBALANCE_INTERVAL"), Value: 10 * time.Second,
			Usage: "period of preferred-leader rebalancing"},
		&cli.BoolFlag{Name: "auto-leader-rebalance", EnvVars: env("AUTO_LEADER_REBALANCE"), Value: true,
			Usage: "move leadership back to preferred replicas once they are in sync (auto.leader.rebalance.enable)"},
		&cli.BoolFlag{Name: "unclean-leader-election", EnvVars: env("UNCLEAN_LEADER_ELECTION"),
			Usage: "default of the topic config unclean.leader.election.enable (may lose acknowledged records)"},
		&cli.IntFlag{Name: "default-replication-factor", EnvVars: env("DEFAULT_REPLICATION_FACTOR"), Value: 3,
			Usage: "replication factor of topics created without one"},
		&cli.StringFlag{Name: "log-level", EnvVars: env("LOG_LEVEL"), Value: "info",
			Usage: "debug, info, warn or error"},
	}
}

// configFrom builds the controller's config and the strand-meta addresses.
func configFrom(c *cli.Context) (controller.Config, []string, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return controller.Config{}, nil, fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	timing, err := membership.TimingProfile(c.String("gossip-profile"))
	if err != nil {
		return controller.Config{}, nil, fmt.Errorf("--gossip-profile: %w", err)
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
			return controller.Config{}, nil, err
		}
	case c.String("gossip-key") != "":
		key, err := membership.ParseKey(c.String("gossip-key"))
		if err != nil {
			return controller.Config{}, nil, fmt.Errorf("--gossip-key: %w", err)
		}
		keys = [][]byte{key}
	}
	cfg := controller.Config{
		ID:                       c.String("id"),
		ListenAddr:               c.String("listen"),
		AdvertiseAddr:            c.String("advertise"),
		Lease:                    c.Duration("lease"),
		ReconcileInterval:        c.Duration("reconcile-interval"),
		RebalanceInterval:        c.Duration("rebalance-interval"),
		AutoLeaderRebalance:      c.Bool("auto-leader-rebalance"),
		UncleanLeaderElection:    c.Bool("unclean-leader-election"),
		DefaultReplicationFactor: c.Int("default-replication-factor"),
		Membership: membership.Config{
			BindAddr:      c.String("gossip-bind"),
			AdvertiseAddr: c.String("gossip-advertise"),
			Join:          splitAll(c.StringSlice("join")),
			RetryJoin:     c.Duration("gossip-retry-join"),
			Keys:          keys,
			Timing:        timing,
		},
		Logger: logger,
	}
	return cfg, splitAll(c.StringSlice("meta")), nil
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
