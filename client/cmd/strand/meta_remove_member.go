package main

import (
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"
)

func metaRemoveMemberCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "remove-member",
		Usage:     "remove a strand-meta node from the raft group",
		ArgsUsage: "ID",
		Action: func(c *cli.Context) error {
			g, err := globalsOf(c)
			if err != nil {
				return err
			}
			arg, err := oneArg(c, "member id")
			if err != nil {
				return err
			}
			id, err := strconv.ParseUint(arg, 10, 64)
			if err != nil || id == 0 {
				return usagef("meta remove-member: %q is not a raft member id", arg)
			}
			ctx, cancel := g.withTimeout(c.Context)
			defer cancel()
			mc, err := metaClient(ctx, g)
			if err != nil {
				return err
			}
			defer mc.Close()
			if err := mc.RemoveMember(ctx, id); err != nil {
				return fmt.Errorf("removing raft member %d: %w", id, err)
			}
			if g.json {
				return writeJSON(e.stdout, map[string]uint64{"removed": id})
			}
			fmt.Fprintf(e.stdout, "removed raft member %d\n", id)
			return nil
		},
	}
}
