package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

func groupListCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the consumer groups of every coordinator: state, members, assignor, coordinator",
		Flags: []cli.Flag{coordinatorFlag()},
		Action: func(c *cli.Context) error {
			g, err := globalsOf(c)
			if err != nil {
				return err
			}
			if c.NArg() > 0 {
				return usagef("group list takes no arguments")
			}
			adm, err := newGroupAdmin(c, g)
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.withTimeout(c.Context)
			defer cancel()
			l, err := adm.ListGroups(ctx)
			if err != nil {
				return fmt.Errorf("listing groups: %w", groupError(err))
			}
			if len(l.Unreachable) > 0 {
				fmt.Fprintf(e.stderr, "strand: warning: coordinators %s did not answer; the list may be incomplete\n", strings.Join(l.Unreachable, ", "))
			}
			if g.json {
				return writeJSON(e.stdout, l)
			}
			t := newTable(e.stdout, "GROUP", "STATE", "MEMBERS", "ASSIGNOR", "COORDINATOR")
			for _, gl := range l.Groups {
				t.row(gl.GroupID, gl.State, gl.Members, orDash(gl.Assignor), gl.Coordinator)
			}
			return t.flush()
		},
	}
}
