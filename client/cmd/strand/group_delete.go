package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func groupDeleteCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "delete an empty consumer group and its committed offsets",
		ArgsUsage: "GROUP",
		Flags:     []cli.Flag{coordinatorFlag()},
		Action: func(c *cli.Context) error {
			g, err := globalsOf(c)
			if err != nil {
				return err
			}
			name, err := oneArg(c, "group id")
			if err != nil {
				return err
			}
			adm, err := newGroupAdmin(c, g)
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.withTimeout(c.Context)
			defer cancel()
			n, err := adm.DeleteGroup(ctx, name)
			if err != nil {
				return fmt.Errorf("deleting group %s: %w", name, groupError(err))
			}
			if g.json {
				return writeJSON(e.stdout, map[string]any{"deleted": name, "offsets_deleted": n})
			}
			fmt.Fprintf(e.stdout, "deleted group %s and its %d committed offsets\n", name, n)
			return nil
		},
	}
}
