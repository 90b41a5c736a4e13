// Command strand-controller is Strand's controller: one active per cluster
// (by a lease in strand-meta), it detects data-node failures through gossip,
// elects partition leaders, places replicas and serves the admin API; the
// others stand by and forward admin requests. Run it with --help for the
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

	"strand.dev/client/metaclient"
	"strand.dev/controlplane/controller"
)

func main() {
	app := &cli.App{
		Name:  "strand-controller",
		Usage: "Strand's controller: failure detection, partition leader election, replica placement",
		Flags: flags(),
		Action: func(c *cli.Context) error {
			cfg, metaAddrs, err := configFrom(c)
			if err != nil {
				return cli.Exit("strand-controller: bad flags: "+err.Error(), 2)
			}
			if err := cfg.Validate(); err != nil {
				return cli.Exit("strand-controller: bad flags: "+err.Error(), 2)
			}
			meta := metaclient.New(metaAddrs, metaclient.WithLogger(cfg.Logger), metaclient.WithName("strand-controller/"+cfg.ID))
			defer meta.Close()
			ctl, err := controller.New(cfg, controller.Deps{Meta: meta})
			if err != nil {
				return cli.Exit("strand-controller: "+err.Error(), 1)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			if err := ctl.Run(ctx); err != nil {
				return cli.Exit("strand-controller: "+err.Error(), 1)
			}
			return nil
		},
	}
	if err := app.Run(os.Args); err != nil {
		var ec cli.ExitCoder
		if !errors.As(err, &ec) {
			fmt.Fprintln(os.Stderr, "strand-controller:", err)
			os.Exit(2)
		}
	}
}
