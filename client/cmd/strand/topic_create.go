package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/urfave/cli/v2"

	"strand.dev/client/admin"
)

func topicCreateCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "create a topic",
		ArgsUsage: "NAME",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "partitions", Aliases: []string{"p"}, Value: 1, Usage: "number of partitions"},
			&cli.IntFlag{Name: "replication-factor", Aliases: []string{"r"}, DefaultText: "the cluster's default", Usage: "replicas per partition"},
			&cli.StringSliceFlag{Name: "config", Aliases: []string{"c"}, Usage: "topic config `KEY=VALUE` (Kafka names: retention.ms, cleanup.policy, ...); repeatable"},
		},
		Action: func(c *cli.Context) error {
			g, err := globalsOf(c)
			if err != nil {
				return err
			}
			name, err := oneArg(c, "topic name")
			if err != nil {
				return err
			}
			parts, rf := c.Int("partitions"), c.Int("replication-factor")
			if parts < 1 || parts > math.MaxInt32 {
				return usagef("--partitions %d: want at least 1", parts)
			}
			if rf < 0 || rf > math.MaxInt16 {
				return usagef("--replication-factor %d: want 0 (default) or more", rf)
			}
			configs, err := parseConfigs(c.StringSlice("config"))
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
			tm, err := adm.CreateTopic(ctx, admin.NewTopic{Name: name, Partitions: int32(parts), ReplicationFactor: int16(rf), Configs: configs})
			if err != nil {
				return fmt.Errorf("creating topic %s: %w", name, err)
			}
			if g.json {
				return writeJSON(e.stdout, tm)
			}
			fmt.Fprintf(e.stdout, "created topic %s with %d partitions\n", name, parts)
			return nil
		},
	}
}

// parseConfigs parses KEY=VALUE pairs.
func parseConfigs(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, usagef("--config %q: want KEY=VALUE", p)
		}
		out[k] = v
	}
	return out, nil
}
