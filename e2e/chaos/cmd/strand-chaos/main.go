// Command strand-chaos runs Strand's chaos suite against the compose
// cluster (scripts/compose up, with STRAND_RESTART=no): an acks=all workload
// and consumer groups run while faults are injected one after another, then
// the checker prints the table (fault, records acknowledged, lost,
// duplicated, longest unavailability per partition) and exits 1 if any
// promise was broken. scripts/chaos builds the images, starts a fresh
// cluster and runs it. Run it with --help for the flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"strand.dev/e2e/chaos"
)

func main() {
	app := &cli.App{
		Name:  "strand-chaos",
		Usage: "fault drills against the compose cluster, and the checker of what survived them",
		Flags: flags(),
		Action: func(c *cli.Context) error {
			cfg, report, err := configFrom(c)
			if err != nil {
				return cli.Exit("strand-chaos: "+err.Error(), 2)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			rep, err := chaos.Run(ctx, cfg)
			if err != nil {
				return cli.Exit("strand-chaos: the run could not be carried out: "+err.Error(), 2)
			}
			fmt.Println()
			if err := rep.WriteTable(os.Stdout); err != nil {
				return cli.Exit("strand-chaos: "+err.Error(), 2)
			}
			if report != "" {
				if err := writeReport(report, cfg, rep); err != nil {
					return cli.Exit("strand-chaos: "+err.Error(), 2)
				}
			}
			if !rep.OK() {
				return cli.Exit("", 1)
			}
			return nil
		},
	}
	if err := app.Run(os.Args); err != nil {
		var ec cli.ExitCoder
		if !errors.As(err, &ec) {
			fmt.Fprintln(os.Stderr, "strand-chaos:", err)
			os.Exit(2)
		}
	}
}

func env(name string) []string { return []string{"STRAND_CHAOS_" + name} }

func flags() []cli.Flag {
	var names []string
	for _, f := range chaos.Faults() {
		names = append(names, f.Name)
	}
	return []cli.Flag{
		&cli.StringFlag{Name: "run", EnvVars: env("RUN"), Usage: "name of the run (default: the start time)"},
		&cli.StringFlag{Name: "network", EnvVars: env("NETWORK"), Value: "strand", Usage: "the compose cluster's docker network"},
		&cli.StringFlag{Name: "topics", EnvVars: env("TOPICS"), Value: "chaos-a,chaos-b,chaos-c", Usage: "topics written, comma separated (a group per topic)"},
		&cli.IntFlag{Name: "partitions", EnvVars: env("PARTITIONS"), Value: 4, Usage: "partitions per topic"},
		&cli.IntFlag{Name: "replication-factor", EnvVars: env("REPLICATION_FACTOR"), Value: 3, Usage: "replicas per partition"},
		&cli.IntFlag{Name: "min-insync-replicas", EnvVars: env("MIN_INSYNC_REPLICAS"), Value: 2, Usage: "min.insync.replicas of the topics"},
		&cli.IntFlag{Name: "producers-per-topic", EnvVars: env("PRODUCERS_PER_TOPIC"), Value: 2, Usage: "acks=all producers per topic"},
		&cli.Float64Flag{Name: "rate", EnvVars: env("RATE"), Value: 50, Usage: "records per second per producer"},
		&cli.IntFlag{Name: "value-bytes", EnvVars: env("VALUE_BYTES"), Value: 100, Usage: "size of each record's value"},
		&cli.BoolFlag{Name: "idempotence", EnvVars: env("IDEMPOTENCE"), Value: true, Usage: "idempotent producers (falls back to plain ones, with a warning, where the client has none)"},
		&cli.IntFlag{Name: "group-members", EnvVars: env("GROUP_MEMBERS"), Value: 2, Usage: "members of each topic's consumer group (0: no groups)"},
		&cli.DurationFlag{Name: "baseline", EnvVars: env("BASELINE"), Value: 5 * time.Second, Usage: "workload time before the first fault"},
		&cli.DurationFlag{Name: "hold", EnvVars: env("HOLD"), Value: 8 * time.Second, Usage: "how long a killed container stays down or a node stays cut off"},
		&cli.DurationFlag{Name: "pause", EnvVars: env("PAUSE"), Value: 15 * time.Second, Usage: "how long a data node stays paused (above the failure-detection and session timeouts)"},
		&cli.DurationFlag{Name: "settle", EnvVars: env("SETTLE"), Value: 3 * time.Second, Usage: "workload time on the healthy cluster after each fault"},
		&cli.DurationFlag{Name: "recover", EnvVars: env("RECOVER"), Value: 2 * time.Minute, Usage: "how long the cluster may take to be healthy again"},
		&cli.StringFlag{Name: "faults", EnvVars: env("FAULTS"), Usage: "faults to run, comma separated, in order (default all: " + strings.Join(names, ", ") + ")"},
		&cli.StringFlag{Name: "report", EnvVars: env("REPORT"), Usage: "also append the table, as Markdown, to this file"},
		&cli.StringFlag{Name: "log-level", EnvVars: env("LOG_LEVEL"), Value: "warn", Usage: "client library log level (debug, info, warn, error)"},
	}
}

func configFrom(c *cli.Context) (chaos.Config, string, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return chaos.Config{}, "", fmt.Errorf("--log-level: %w", err)
	}
	cfg := chaos.Config{
		Run:               c.String("run"),
		Docker:            &chaos.Docker{Network: c.String("network")},
		Partitions:        int32(c.Int("partitions")),
		ReplicationFactor: int16(c.Int("replication-factor")),
		MinInsyncReplicas: c.Int("min-insync-replicas"),
		ProducersPerTopic: c.Int("producers-per-topic"),
		Rate:              c.Float64("rate"),
		ValueBytes:        c.Int("value-bytes"),
		Idempotence:       c.Bool("idempotence"),
		GroupMembers:      c.Int("group-members"),
		Baseline:          c.Duration("baseline"),
		Hold:              c.Duration("hold"),
		Pause:             c.Duration("pause"),
		Settle:            c.Duration("settle"),
		Recover:           c.Duration("recover"),
		Logger:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
	if cfg.Run == "" {
		cfg.Run = time.Now().UTC().Format("20060102t150405")
	}
	for _, t := range strings.Split(c.String("topics"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			cfg.Topics = append(cfg.Topics, t)
		}
	}
	var errs []error
	if len(cfg.Topics) == 0 {
		errs = append(errs, errors.New("--topics: no topic"))
	}
	if cfg.Partitions < 1 || cfg.ReplicationFactor < 1 || cfg.MinInsyncReplicas < 1 || cfg.MinInsyncReplicas > int(cfg.ReplicationFactor) {
		errs = append(errs, fmt.Errorf("--partitions %d, --replication-factor %d, --min-insync-replicas %d: want 1 <= min.insync <= rf",
			cfg.Partitions, cfg.ReplicationFactor, cfg.MinInsyncReplicas))
	}
	if cfg.ProducersPerTopic < 1 || cfg.Rate <= 0 {
		errs = append(errs, fmt.Errorf("--producers-per-topic %d, --rate %v: want at least one producer sending", cfg.ProducersPerTopic, cfg.Rate))
	}
	if f := c.String("faults"); f != "" {
		all := map[string]chaos.Fault{}
		for _, fa := range chaos.Faults() {
			all[fa.Name] = fa
		}
		cfg.Faults = []chaos.Fault{}
		for _, name := range strings.Split(f, ",") {
			fa, ok := all[strings.TrimSpace(name)]
			if !ok {
				errs = append(errs, fmt.Errorf("--faults: unknown fault %q", name))
				continue
			}
			cfg.Faults = append(cfg.Faults, fa)
		}
	}
	return cfg, c.String("report"), errors.Join(errs...)
}

// writeReport appends the run's table to a Markdown file.
func writeReport(path string, cfg chaos.Config, rep *chaos.Report) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "\n### Run %s\n\n%d topics x %d partitions (RF %d, min.insync.replicas %d), %d acks=all producers at %v records/s each, %d-member groups; faults held %v (pause %v).\n\n",
		cfg.Run, len(cfg.Topics), cfg.Partitions, cfg.ReplicationFactor, cfg.MinInsyncReplicas,
		len(cfg.Topics)*cfg.ProducersPerTopic, cfg.Rate, cfg.GroupMembers, cfg.Hold, cfg.Pause)
	if err := rep.WriteTable(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
