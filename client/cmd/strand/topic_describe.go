package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

func topicDescribeCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "describe",
		Usage:     "show a topic's partitions: leader, leader epoch, replicas, ISR, log start offset, high watermark",
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
			d, err := adm.DescribeTopic(ctx, name)
			if err != nil {
				return fmt.Errorf("describing topic %s: %w", name, err)
			}
			if g.json {
				return writeJSON(e.stdout, d)
			}
			var cfgs []string
			for k, v := range d.Configs {
				cfgs = append(cfgs, k+"="+v)
			}
			sort.Strings(cfgs)
			if len(cfgs) == 0 {
				cfgs = []string{"(cluster defaults)"}
			}
			fmt.Fprintf(e.stdout, "topic %s  id %s  partitions %d\nconfigs: %s\n\n", d.Name, d.ID, len(d.Partitions), strings.Join(cfgs, " "))
			t := newTable(e.stdout, "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "LOG-START", "HIGH-WATERMARK", "SIZE", "NOTE")
			for _, p := range d.Partitions {
				leader := fmt.Sprint(p.Leader)
				if p.Leader < 0 {
					leader = "none"
				}
				t.row(p.Partition, leader, p.LeaderEpoch, ids(p.Replicas), ids(p.ISR), dash(p.LogStartOffset), dash(p.HighWatermark), dash(p.SizeBytes), p.Error)
			}
			return t.flush()
		},
	}
}
