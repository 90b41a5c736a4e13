package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"strand.dev/client/admin"
	"strand.dev/client/wire"
)

func groupResetOffsetsCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "reset-offsets",
		Usage:     "set an empty consumer group's committed offsets of a topic: to the earliest or latest offsets, an offset, or a time",
		ArgsUsage: "GROUP",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "topic", Aliases: []string{"t"}, Usage: "the topic whose offsets to reset (required)"},
			&cli.StringFlag{Name: "partitions", Usage: "partitions to reset, comma-separated `LIST` like 0,1,2 (default: all of the topic's)"},
			&cli.BoolFlag{Name: "to-earliest", Usage: "to each partition's log start offset"},
			&cli.BoolFlag{Name: "to-latest", Usage: "to each partition's end (skip everything written so far)"},
			&cli.Int64Flag{Name: "to-offset", DefaultText: "none", Usage: "to offset `N` (clamped to each partition's earliest and latest offsets)"},
			&cli.StringFlag{Name: "to-datetime", Usage: "to each partition's first record at or after `TIME` (RFC 3339 like 2026-01-02T15:04:05Z, or 2026-01-02T15:04:05[.000] and 2026-01-02 in local time); the end when there is none"},
			&cli.BoolFlag{Name: "dry-run", Usage: "show the offsets that would be set without committing them"},
			coordinatorFlag(),
		},
		Action: func(c *cli.Context) error {
			g, err := globalsOf(c)
			if err != nil {
				return err
			}
			name, err := oneArg(c, "group id")
			if err != nil {
				return err
			}
			r, err := resetFromFlags(c, time.Local)
			if err != nil {
				return err
			}
			r.Group = name
			adm, err := newGroupAdmin(c, g)
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.withTimeout(c.Context)
			defer cancel()
			prev, err := adm.CommittedOffsets(ctx, name, wire.TopicPartitions{Topic: r.Topic, Partitions: r.Partitions})
			if err != nil {
				return fmt.Errorf("reading the offsets of group %s: %w", name, groupError(err))
			}
			offs, err := adm.ResetOffsets(ctx, r)
			if err != nil {
				return fmt.Errorf("resetting the offsets of group %s: %w", name, groupError(err))
			}
			return printReset(e, g.json, r, prev, offs)
		},
	}
}

// resetFromFlags checks reset-offsets' flags: a topic, exactly one target,
// a partition list of numbers. Bad flags are usage errors.
func resetFromFlags(c *cli.Context, loc *time.Location) (admin.OffsetReset, error) {
	r := admin.OffsetReset{Topic: c.String("topic"), DryRun: c.Bool("dry-run")}
	if r.Topic == "" {
		return r, usagef("group reset-offsets: --topic is required")
	}
	var targets []string
	if c.Bool("to-earliest") {
		targets, r.To = append(targets, "--to-earliest"), wire.ResetToEarliest
	}
	if c.Bool("to-latest") {
		targets, r.To = append(targets, "--to-latest"), wire.ResetToLatest
	}
	if c.IsSet("to-offset") {
		targets, r.To, r.Offset = append(targets, "--to-offset"), wire.ResetToOffset, c.Int64("to-offset")
		if r.Offset < 0 {
			return r, usagef("--to-offset %d: offsets are not negative", r.Offset)
		}
	}
	if c.IsSet("to-datetime") {
		targets, r.To = append(targets, "--to-datetime"), wire.ResetToDatetime
		t, err := parseDatetime(c.String("to-datetime"), loc)
		if err != nil {
			return r, err
		}
		r.Time = t
	}
	switch len(targets) {
	case 0:
		return r, usagef("group reset-offsets: give one of --to-earliest, --to-latest, --to-offset N, --to-datetime TIME")
	case 1:
	default:
		return r, usagef("group reset-offsets: %s: give only one target", strings.Join(targets, ", "))
	}
	if s := c.String("partitions"); c.IsSet("partitions") {
		ps, err := parsePartitions(s)
		if err != nil {
			return r, err
		}
		r.Partitions = ps
	}
	return r, nil
}

// parsePartitions parses "0,1,2".
func parsePartitions(s string) ([]int32, error) {
	var out []int32
	seen := map[int32]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		p, err := strconv.ParseInt(f, 10, 32)
		if err != nil || p < 0 || p > math.MaxInt32 {
			return nil, usagef("--partitions %q: %q is not a partition number", s, f)
		}
		if seen[int32(p)] {
			return nil, usagef("--partitions %q: partition %d named twice", s, p)
		}
		seen[int32(p)] = true
		out = append(out, int32(p))
	}
	return out, nil
}

// datetimeLayouts are the accepted --to-datetime forms without a zone
// (taken in local time), after RFC 3339.
var datetimeLayouts = []string{"2006-01-02T15:04:05.000", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"}

// parseDatetime parses --to-datetime.
func parseDatetime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, l := range datetimeLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usagef("--to-datetime %q: want RFC 3339 (2026-01-02T15:04:05Z), 2026-01-02T15:04:05[.000] or 2026-01-02", s)
}

// resetRow is one partition of reset-offsets' answer.
type resetRow struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Previous is the committed offset before, -1 when there was none.
	Previous int64 `json:"previous"`
	Offset   int64 `json:"offset"`
}

func printReset(e *env, asJSON bool, r admin.OffsetReset, prev, offs []wire.CommittedOffset) error {
	before := map[int32]int64{}
	for _, o := range prev {
		if o.Topic == r.Topic {
			before[o.Partition] = o.Offset
		}
	}
	rows := make([]resetRow, 0, len(offs))
	for _, o := range offs {
		p, ok := before[o.Partition]
		if !ok {
			p = wire.NoOffset
		}
		rows = append(rows, resetRow{Topic: o.Topic, Partition: o.Partition, Previous: p, Offset: o.Offset})
	}
	if asJSON {
		return writeJSON(e.stdout, map[string]any{"group": r.Group, "topic": r.Topic, "dry_run": r.DryRun, "offsets": rows})
	}
	t := newTable(e.stdout, "GROUP", "TOPIC", "PARTITION", "PREVIOUS", "NEW-OFFSET")
	for _, row := range rows {
		t.row(r.Group, row.Topic, row.Partition, dash(row.Previous), row.Offset)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if r.DryRun {
		fmt.Fprintln(e.stdout, "dry run: nothing was committed")
	}
	return nil
}
