package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"strand.dev/client/internal/routing"
	"strand.dev/client/wire"
)

func metaAddMemberCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "add-member",
		Usage: "add a strand-meta node to the raft group (start it with the same id and addresses)",
		Flags: []cli.Flag{
			&cli.Uint64Flag{Name: "id", Usage: "the new member's raft id (> 0)"},
			&cli.StringFlag{Name: "peer-addr", Usage: "its raft peer `host:port`"},
			&cli.StringFlag{Name: "api-addr", Usage: "its API `host:port`"},
		},
		Action: func(c *cli.Context) error {
			g, err := globalsOf(c)
			if err != nil {
				return err
			}
			if c.NArg() > 0 {
				return usagef("meta add-member takes flags, not arguments")
			}
			req := wire.AddMemberRequest{ID: c.Uint64("id"), PeerAddr: c.String("peer-addr"), APIAddr: c.String("api-addr")}
			if req.ID == 0 {
				return usagef("meta add-member: --id must be set (> 0)")
			}
			for _, a := range []string{req.PeerAddr, req.APIAddr} {
				if err := routing.CheckAddr(a); err != nil {
					return usagef("meta add-member: --peer-addr and --api-addr must be host:port: %v", err)
				}
			}
			ctx, cancel := g.withTimeout(c.Context)
			defer cancel()
			mc, err := metaClient(ctx, g)
			if err != nil {
				return err
			}
			defer mc.Close()
			if err := mc.AddMember(ctx, req); err != nil {
				return fmt.Errorf("adding raft member %d: %w", req.ID, err)
			}
			if g.json {
				return writeJSON(e.stdout, req)
			}
			fmt.Fprintf(e.stdout, "added raft member %d (peer %s, api %s)\n", req.ID, req.PeerAddr, req.APIAddr)
			return nil
		},
	}
}
