package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func metaMembersCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "members",
		Usage: "list the strand-meta raft members",
		Action: func(c *cli.Context) error {
			g, err := globalsOf(c)
			if err != nil {
				return err
			}
			if c.NArg() > 0 {
				return usagef("meta members takes no arguments")
			}
			ctx, cancel := g.withTimeout(c.Context)
			defer cancel()
			mc, err := metaClient(ctx, g)
			if err != nil {
				return err
			}
			defer mc.Close()
			members, err := mc.Members(ctx)
			if err != nil {
				return fmt.Errorf("listing raft members: %w", err)
			}
			if g.json {
				return writeJSON(e.stdout, members)
			}
			t := newTable(e.stdout, "ID", "PEER-ADDR", "API-ADDR", "ROLE", "MATCH", "PROGRESS")
			for _, m := range members {
				role := "voter"
				if m.Learner {
					role = "learner"
				}
				state := m.State
				if state == "" {
					state = "-"
				}
				t.row(m.ID, m.PeerAddr, m.APIAddr, role, m.Match, state)
			}
			return t.flush()
		},
	}
}
