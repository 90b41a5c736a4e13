package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"strand.dev/client/wire"
)

func groupDescribeCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "describe",
		Usage:     "show a consumer group: state, members and their assignment, committed offset, log end offset and lag per partition",
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
			d, err := adm.DescribeGroup(ctx, name)
			if err != nil {
				return fmt.Errorf("describing group %s: %w", name, groupError(err))
			}
			if g.json {
				return writeJSON(e.stdout, d)
			}
			return printGroup(e, d)
		},
	}
}

// printGroup prints a description as a header, the partitions and the
// members.
func printGroup(e *env, d *wire.GroupDescription) error {
	var total int64
	for _, o := range d.Offsets {
		total += max(o.Lag, 0)
	}
	fmt.Fprintf(e.stdout, "group %s  state %s  generation %d  assignor %s  coordinator %s (%s)\nmembers %d  total lag %d\n\n",
		d.GroupID, d.State, d.Generation, orDash(d.Assignor), orDash(d.Coordinator), orDash(d.CoordinatorAddr), len(d.Members), total)
	members := map[string]wire.MemberDescription{}
	for _, m := range d.Members {
		members[m.MemberID] = m
	}
	t := newTable(e.stdout, "TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "MEMBER", "CLIENT-ID", "HOST")
	for _, o := range d.Offsets {
		m := members[o.MemberID]
		t.row(o.Topic, o.Partition, dash(o.Offset), dash(o.LogEndOffset), dash(o.Lag), orDash(o.MemberID), orDash(m.ClientID), orDash(m.ClientHost))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(d.Members) == 0 {
		return nil
	}
	fmt.Fprintln(e.stdout)
	t = newTable(e.stdout, "MEMBER", "INSTANCE-ID", "CLIENT-ID", "HOST", "ASSIGNED", "REVOKING", "LAST-HEARTBEAT")
	for _, m := range d.Members {
		ago := (time.Duration(m.LastHeartbeatAgoMs) * time.Millisecond).Round(time.Millisecond)
		t.row(m.MemberID, orDash(m.GroupInstanceID), orDash(m.ClientID), orDash(m.ClientHost), partitionsOf(m.Assigned), partitionsOf(m.Revoking), ago.String()+" ago")
	}
	return t.flush()
}
