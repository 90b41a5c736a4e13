package main

import (
	"time"

	"github.com/urfave/cli/v2"

	"strand.dev/client/logging"

	"strand.dev/controlplane/controller"
	"strand.dev/controlplane/membership"
)

func env(name string) []string { return []string{"STRAND_" + name} }

func flags() []cli.Flag {
	fs := []cli.Flag{
		&cli.StringFlag{Name: "id", EnvVars: env("CONTROLLER_ID"), Required: true,
			Usage: "this controller's id (lease holder name and gossip id), e.g. controller-1"},
		&cli.StringFlag{Name: "listen", EnvVars: env("LISTEN"), Value: "127.0.0.1:7201",
			Usage: "host:port of the admin API, /healthz and /metrics"},
		&cli.StringFlag{Name: "advertise", EnvVars: env("ADVERTISE"),
			Usage: "admin API address others use, written into the lease (default: the listen address)"},
		&cli.StringSliceFlag{Name: "meta", EnvVars: env("META"), Required: true,
			Usage: "strand-meta API addresses, host:port, comma separated"},
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
	}
	fs = append(fs, logging.Flags("json")...)
	return append(fs, membership.Flags(membership.FlagOptions{DefaultBind: "127.0.0.1:7301", Category: "gossip"})...)
}

// configFrom builds the controller's config and the strand-meta addresses.
func configFrom(c *cli.Context) (controller.Config, []string, error) {
	logger, err := logging.FromFlags(c)
	if err != nil {
		return controller.Config{}, nil, err
	}
	gossip, err := membership.ConfigFromFlags(c)
	if err != nil {
		return controller.Config{}, nil, err
	}
	if err := membership.CheckAdvertise(c.String("listen"), "advertise", c.String("advertise"), true); err != nil {
		return controller.Config{}, nil, err
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
		Membership:               gossip,
		Logger:                   logger,
	}
	return cfg, membership.SplitList(c.StringSlice("meta")), nil
}
