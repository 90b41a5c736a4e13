// Command strand-data is a Strand data node: it stores partition logs and
// serves produce, fetch (zero-copy), offsets, metadata and admin requests
// over HTTP. Run it with --help for the flags; every flag has a STRAND_...
// environment twin.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"strand.dev/dataplane/server"
)

func main() {
	app := &cli.App{
		Name:  "strand-data",
		Usage: "a Strand data node: partition logs, produce and zero-copy fetch over HTTP",
		Flags: flags(),
		Action: func(c *cli.Context) error {
			cfg, err := configFrom(c)
			if err != nil {
				return cli.Exit(err.Error(), 2)
			}
			if err := cfg.Validate(); err != nil {
				return cli.Exit("strand-data: bad flags:\n"+err.Error(), 2)
			}
			node, err := server.New(cfg)
			if err != nil {
				return cli.Exit("strand-data: "+err.Error(), 1)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			if err := node.Run(ctx); err != nil {
				return cli.Exit("strand-data: "+err.Error(), 1)
			}
			return nil
		},
	}
	if err := app.Run(os.Args); err != nil {
		var ec cli.ExitCoder
		if !errors.As(err, &ec) {
			fmt.Fprintln(os.Stderr, "strand-data:", err)
			os.Exit(2)
		}
	}
}
