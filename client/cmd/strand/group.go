package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"strand.dev/client/admin"
	"strand.dev/client/internal/routing"
	"strand.dev/client/wire"
)

func groupCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "group",
		Usage: "list, describe and delete consumer groups, reset their committed offsets",
		// Also here so that `strand group --coordinator X list` works.
		Flags: []cli.Flag{coordinatorFlag()},
		Subcommands: []*cli.Command{
			groupListCommand(e),
			groupDescribeCommand(e),
			groupDeleteCommand(e),
			groupResetOffsetsCommand(e),
		},
	}
}

// coordinatorFlag is the --coordinator flag of the group commands.
func coordinatorFlag() cli.Flag {
	return &cli.StringFlag{Name: "coordinator", EnvVars: []string{"STRAND_COORDINATOR"},
		Usage: "host:port[,host:port] of strand-coordinators to ask (default: the live coordinators the cluster metadata names; needed for a standalone coordinator)"}
}

// newGroupAdmin opens an admin client from the global flags and
// --coordinator.
func newGroupAdmin(c *cli.Context, g *globals) (*admin.Admin, error) {
	opts := []admin.Option{admin.Bootstrap(g.bootstrap...), admin.Logger(g.logger), admin.RetryTimeout(g.requestTimeout)}
	if s := coordinatorsOf(c); s != "" {
		addrs, err := routing.ParseBootstrap(s)
		if err != nil {
			return nil, fmt.Errorf("--coordinator: %w", err)
		}
		opts = append(opts, admin.Coordinators(addrs...))
	}
	return admin.New(opts...)
}

// coordinatorsOf returns --coordinator as given to the subcommand or to
// `strand group` (each defines it; the nearest one set wins).
func coordinatorsOf(c *cli.Context) string {
	for _, cc := range c.Lineage() {
		if cc.IsSet("coordinator") {
			return cc.String("coordinator")
		}
	}
	return ""
}

// groupError adds what to do to the errors an operator can act on.
func groupError(err error) error {
	switch {
	case errors.Is(err, admin.ErrGroupNotEmpty):
		return fmt.Errorf("%w (stop or close its consumers first)", err)
	case errors.Is(err, admin.ErrNoCoordinator):
		return fmt.Errorf("%w (is a strand-coordinator running? a standalone one needs --coordinator)", err)
	}
	return err
}

// partitionsOf formats topic partitions as "t:0,1,2 u:3", "-" for none.
func partitionsOf(tps []wire.TopicPartitions) string {
	var parts []string
	for _, tp := range tps {
		ps := append([]int32(nil), tp.Partitions...)
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		if len(ps) == 0 {
			continue
		}
		parts = append(parts, tp.Topic+":"+ids(ps))
	}
	if len(parts) == 0 {
		return "-"
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// orDash prints "-" for an empty string.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
