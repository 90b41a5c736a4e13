package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"strand.dev/client/logging"

	"strand.dev/controlplane/metaserver"
	"strand.dev/controlplane/raftnode"
)

func env(name string) []string { return []string{"STRAND_" + name} }

func flags() []cli.Flag {
	fs := []cli.Flag{
		&cli.Uint64Flag{Name: "id", Usage: "this member's raft id (a positive integer listed in --initial-cluster)", EnvVars: env("ID"), Required: true},
		&cli.StringFlag{Name: "listen", Usage: "API listen address host:port (also serves the peer transport unless --peer-listen is set)", EnvVars: env("LISTEN"), Value: "127.0.0.1:7001"},
		&cli.StringFlag{Name: "peer-listen", Usage: "separate listen address for the raft peer transport (default: the --listen address)", EnvVars: env("PEER_LISTEN")},
		&cli.StringFlag{Name: "initial-cluster", Usage: "the members as id=peer-host:port@api-host:port,... (the @api part may be left out when one address serves both)", EnvVars: env("INITIAL_CLUSTER"), Required: true},
		&cli.BoolFlag{Name: "join", Usage: "join a running cluster that added this member (strand meta add-member) instead of bootstrapping a new one", EnvVars: env("JOIN")},
		&cli.StringFlag{Name: "data-dir", Usage: "directory of the member's raft log and snapshots", EnvVars: env("DATA_DIR"), Required: true},
		&cli.StringFlag{Name: "cluster-id", Usage: "the cluster's name; a data directory or peer of another cluster is refused", EnvVars: env("CLUSTER_ID"), Value: "strand"},
		&cli.Uint64Flag{Name: "snapshot-count", Usage: "applied entries between snapshots (log compaction)", EnvVars: env("SNAPSHOT_COUNT"), Value: raftnode.DefaultSnapshotCount},
		&cli.Uint64Flag{Name: "snapshot-catchup-entries", Usage: "log entries kept behind a snapshot so that a follower a little behind gets entries, not a snapshot", EnvVars: env("SNAPSHOT_CATCHUP_ENTRIES"), Value: raftnode.DefaultCatchUpEntries},
		&cli.IntFlag{Name: "election-tick", Usage: "election timeout in ticks", EnvVars: env("ELECTION_TICK"), Value: raftnode.DefaultElectionTick},
		&cli.IntFlag{Name: "heartbeat-tick", Usage: "heartbeat interval in ticks", EnvVars: env("HEARTBEAT_TICK"), Value: raftnode.DefaultHeartbeatTick},
		&cli.DurationFlag{Name: "tick-interval", Usage: "duration of one raft tick", EnvVars: env("TICK_INTERVAL"), Value: raftnode.DefaultTickInterval},
		&cli.IntFlag{Name: "max-request-bytes", Usage: "largest request body, and so largest command", EnvVars: env("MAX_REQUEST_BYTES"), Value: metaserver.DefaultMaxRequestBytes},
		&cli.DurationFlag{Name: "propose-timeout", Usage: "how long a proposal waits to be applied", EnvVars: env("PROPOSE_TIMEOUT"), Value: metaserver.DefaultProposeTimeout},
	}
	return append(fs, logging.Flags("text")...)
}

func configFrom(c *cli.Context) (metaserver.Config, error) {
	logger, err := logging.FromFlags(c)
	if err != nil {
		return metaserver.Config{}, err
	}
	members, err := metaserver.ParseInitialCluster(c.String("initial-cluster"))
	if err != nil {
		return metaserver.Config{}, fmt.Errorf("--initial-cluster: %w", err)
	}
	return metaserver.Config{
		ID:              c.Uint64("id"),
		ClusterID:       c.String("cluster-id"),
		ListenAddr:      c.String("listen"),
		PeerListenAddr:  c.String("peer-listen"),
		InitialCluster:  members,
		Join:            c.Bool("join"),
		DataDir:         c.String("data-dir"),
		SnapshotCount:   c.Uint64("snapshot-count"),
		CatchUpEntries:  c.Uint64("snapshot-catchup-entries"),
		ElectionTick:    c.Int("election-tick"),
		HeartbeatTick:   c.Int("heartbeat-tick"),
		TickInterval:    c.Duration("tick-interval"),
		MaxRequestBytes: c.Int("max-request-bytes"),
		ProposeTimeout:  c.Duration("propose-timeout"),
		Logger:          logger,
	}, nil
}
