package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func topicDeleteCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "delete a topic and its data",
		ArgsUsage: "NAME",
		Action: func(c *cli.Context) error {
			g, err := globalsOf(c)
			if err != nil {
				return err
			}
			name, err := oneArg(c, "topic name")
			if err != nil {
				return err
			}
			adm, err := g.newAdmin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.withTimeout(c.Context)
			defer cancel()
			if err := adm.DeleteTopic(ctx, name); err != nil {
				return fmt.Errorf("deleting topic %s: %w", name, err)
			}
			if g.json {
				return writeJSON(e.stdout, map[string]string{"deleted": name})
			}
			fmt.Fprintf(e.stdout, "deleted topic %s\n", name)
			return nil
		},
	}
}
