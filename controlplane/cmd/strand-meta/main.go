// Command strand-meta is a member of Strand's raft-replicated metadata
// service: the source of truth for nodes, topics, partitions, leaders, ISR,
// epochs and leases. Run it with --help for the flags; every flag has a
// STRAND_... environment twin.
//
// A three-member cluster on one machine:
//
//	strand-meta --id 1 --listen 127.0.0.1:7001 --peer-listen 127.0.0.1:7101 --data-dir .strand/meta-1 \
//	  --cluster-id strand-local \
//	  --initial-cluster 1=127.0.0.1:7101@127.0.0.1:7001,2=127.0.0.1:7102@127.0.0.1:7002,3=127.0.0.1:7103@127.0.0.1:7003
//
// and the same for --id 2 and 3 with their own addresses and data directory.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"strand.dev/controlplane/metaserver"
	"strand.dev/controlplane/raftnode"
)

func main() {
	app := &cli.App{
		Name:  "strand-meta",
		Usage: "a member of Strand's raft-replicated metadata service",
		Flags: flags(),
		Action: func(c *cli.Context) error {
			cfg, err := configFrom(c)
			if err != nil {
				return cli.Exit("strand-meta: bad flags: "+err.Error(), 2)
			}
			if err := cfg.Validate(); err != nil {
				return cli.Exit("strand-meta: bad flags:\n"+err.Error(), 2)
			}
			srv, err := metaserver.New(cfg)
			if err != nil {
				return cli.Exit("strand-meta: "+err.Error(), 1)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			err = srv.Run(ctx)
			switch {
			case errors.Is(err, raftnode.ErrRemoved):
				fmt.Fprintln(os.Stderr, "strand-meta: this member was removed from the cluster; exiting")
				return nil
			case err != nil:
				return cli.Exit("strand-meta: "+err.Error(), 1)
			}
			return nil
		},
	}
	if err := app.Run(os.Args); err != nil {
		var ec cli.ExitCoder
		if !errors.As(err, &ec) {
			fmt.Fprintln(os.Stderr, "strand-meta:", err)
			os.Exit(2)
		}
	}
}
