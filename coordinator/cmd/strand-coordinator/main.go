// Command strand-coordinator is a Strand consumer-group coordinator: group
// membership, incremental rebalancing and committed offsets, with all durable
// state in __consumer_offsets on the data plane. Run it with --help for the
// flags; every flag has a STRAND_... environment twin.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"strand.dev/coordinator/server"
)

func main() {
	app := &cli.App{
		Name:  "strand-coordinator",
		Usage: "a Strand consumer-group coordinator: joins, heartbeats, rebalancing, committed offsets",
		Flags: flags(),
		Action: func(c *cli.Context) error {
			cfg, err := configFrom(c)
			if err != nil {
				return cli.Exit("strand-coordinator: "+err.Error(), 2)
			}
			if err := cfg.Validate(); err != nil {
				return cli.Exit("strand-coordinator: bad flags:\n"+err.Error(), 2)
			}
			s, err := server.New(cfg)
			if err != nil {
				return cli.Exit("strand-coordinator: "+err.Error(), 1)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			if err := s.Run(ctx); err != nil {
				return cli.Exit("strand-coordinator: "+err.Error(), 1)
			}
			return nil
		},
	}
	if err := app.Run(os.Args); err != nil {
		var ec cli.ExitCoder
		if !errors.As(err, &ec) {
			fmt.Fprintln(os.Stderr, "strand-coordinator:", err)
			os.Exit(2)
		}
	}
}
