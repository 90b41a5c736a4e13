package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"strand.dev/controlplane/membership"
	"strand.dev/dataplane/server"
)

// clusterFlags are the flags of a node in a cluster (without --standalone).
func clusterFlags(d server.Config) []cli.Flag {
	cat := "cluster"
	fs := []cli.Flag{
		&cli.StringSliceFlag{Name: "meta", EnvVars: []string{"STRAND_META"}, Category: cat,
			Usage: "strand-meta API addresses, host:port, comma separated: join that cluster (instead of --standalone)"},
		&cli.StringFlag{Name: "rack", EnvVars: []string{"STRAND_RACK"}, Category: cat,
			Usage: "this node's rack or zone, for rack-aware replica placement"},
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
	return append(fs, membership.Flags(membership.FlagOptions{DefaultBind: "127.0.0.1:7401", Category: "gossip"})...)
}

// clusterConfig fills in the cluster fields of cfg from the flags.
func clusterConfig(c *cli.Context, cfg *server.Config) error {
	cfg.MetaAddrs = membership.SplitList(c.StringSlice("meta"))
	cfg.Rack = c.String("rack")
	gossip, err := membership.ConfigFromFlags(c)
	if err != nil {
		return err
	}
	cfg.Gossip = gossip
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
func splitAll(vals []string) []string { return membership.SplitList(vals) }
