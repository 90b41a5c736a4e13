package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func topicListCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the topics",
		Action: func(c *cli.Context) error {
			g, err := globalsOf(c)
			if err != nil {
				return err
			}
			if c.NArg() > 0 {
				return usagef("topic list takes no arguments")
			}
			adm, err := g.newAdmin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.withTimeout(c.Context)
			defer cancel()
			topics, err := adm.ListTopics(ctx)
			if err != nil {
				return fmt.Errorf("listing topics: %w", err)
			}
			if g.json {
				return writeJSON(e.stdout, topics)
			}
			t := newTable(e.stdout, "TOPIC", "PARTITIONS", "REPLICATION", "ID")
			for _, tp := range topics {
				rf := 0
				if len(tp.Partitions) > 0 {
					rf = len(tp.Partitions[0].Replicas)
				}
				t.row(tp.Name, len(tp.Partitions), rf, tp.ID)
			}
			return t.flush()
		},
	}
}
