package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"strand.dev/client/bench"
	"strand.dev/client/producer"
)

func benchCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "load-test the cluster: records/s, MB/s and latency percentiles",
		Subcommands: []*cli.Command{
			benchProduceCommand(e),
			benchConsumeCommand(e),
			benchE2ECommand(e),
		},
	}
}

// benchFlags are the flags every bench mode takes.
func benchFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "topic", Value: "strand-bench", Usage: "topic to use"},
		&cli.Int64Flag{Name: "records", Value: 100000, Usage: "records to produce or consume"},
		&cli.IntFlag{Name: "record-size", Value: 1024, Usage: "value size in bytes"},
		&cli.IntFlag{Name: "partitions", DefaultText: "use the topic as it is", Usage: "create the topic with this many partitions if it does not exist"},
		&cli.IntFlag{Name: "replication-factor", DefaultText: "the cluster's default", Usage: "replicas per partition of a topic created by --partitions"},
		&cli.BoolFlag{Name: "json", Usage: "print the report as JSON (same as --output json)"},
	}
}

// producerFlags are the flags of the modes that produce.
func producerFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "producers", Value: 1, Usage: "producers in parallel, each with its own connections"},
		&cli.StringFlag{Name: "acks", Value: "all", Usage: "all, 1 or 0"},
		&cli.StringFlag{Name: "compression", Value: "none", Usage: "none, gzip, snappy, lz4 or zstd"},
		&cli.Float64Flag{Name: "rate", DefaultText: "as fast as possible", Usage: "target records/s over all producers"},
		&cli.IntFlag{Name: "max-in-flight", DefaultText: "the producer's: 5 with acks=all (idempotent), else 1", Usage: "produce requests in flight per partition"},
		&cli.IntFlag{Name: "batch-size", Value: 256 << 10, Usage: "producer batch size in bytes"},
		&cli.DurationFlag{Name: "linger", Value: 5 * time.Millisecond, Usage: "producer linger"},
	}
}

// consumerFlags are the flags of the modes that consume.
func consumerFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "consumers", Value: 1, Usage: "consumers in parallel (partitions are dealt among them)"},
		&cli.DurationFlag{Name: "idle-timeout", Value: 30 * time.Second, Usage: "stop when no record arrived for this long"},
	}
}

// benchConfig builds the run's configuration from the flags.
func benchConfig(c *cli.Context, g *globals, produces, consumes bool) (bench.Config, error) {
	cfg := bench.Config{
		Bootstrap: g.bootstrap, Topic: c.String("topic"), Records: c.Int64("records"), RecordSize: c.Int("record-size"),
		Partitions: int32(c.Int("partitions")), ReplicationFactor: int16(c.Int("replication-factor")), Logger: g.logger,
	}
	if cfg.Records <= 0 || cfg.RecordSize <= 0 || c.Int("partitions") < 0 || c.Int("partitions") > 1<<20 || c.Int("replication-factor") < 0 {
		return cfg, usagef("--records and --record-size must be positive, --partitions and --replication-factor not negative")
	}
	if produces {
		acks, err := producer.ParseAcks(c.String("acks"))
		if err != nil {
			return cfg, usagef("--acks: %v", err)
		}
		comp, err := producer.ParseCompression(c.String("compression"))
		if err != nil {
			return cfg, usagef("--compression: %v", err)
		}
		cfg.Acks, cfg.AcksSet, cfg.Compression = acks, true, comp
		cfg.Producers, cfg.Rate, cfg.MaxInFlight = c.Int("producers"), c.Float64("rate"), c.Int("max-in-flight")
		cfg.BatchSize, cfg.Linger = c.Int("batch-size"), c.Duration("linger")
		if c.IsSet("max-in-flight") && cfg.MaxInFlight < 1 {
			return cfg, usagef("--max-in-flight must be at least 1")
		}
		if cfg.Producers < 1 || cfg.Rate < 0 || cfg.BatchSize < 1 || cfg.Linger < 0 {
			return cfg, usagef("--producers and --batch-size must be at least 1, --rate and --linger not negative")
		}
	}
	if consumes {
		cfg.Consumers, cfg.IdleTimeout = c.Int("consumers"), c.Duration("idle-timeout")
		if cfg.Consumers < 1 || cfg.IdleTimeout <= 0 {
			return cfg, usagef("--consumers must be at least 1 and --idle-timeout positive")
		}
	}
	return cfg, nil
}

// runBench runs one mode with a live progress line when stdout is a
// terminal, then prints the report.
func runBench(c *cli.Context, e *env, produces, consumes bool, fn func(context.Context, bench.Config) (*bench.Report, error)) error {
	g, err := globalsOf(c)
	if err != nil {
		return err
	}
	if c.NArg() > 0 {
		return usagef("%s takes flags, not arguments", c.Command.HelpName)
	}
	cfg, err := benchConfig(c, g, produces, consumes)
	if err != nil {
		return err
	}
	var mu sync.Mutex // guards progress lines against the final report
	drew := false
	if e.stdoutTTY {
		cfg.Progress = func(p bench.Progress) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(e.stdout, "\r\033[K%s", p.Line())
			drew = true
		}
	}
	rep, err := fn(c.Context, cfg)
	mu.Lock()
	if drew {
		fmt.Fprint(e.stdout, "\r\033[K")
	}
	cfg.Progress = nil
	mu.Unlock()
	if err != nil {
		return err
	}
	if g.json || c.Bool("json") {
		err = rep.WriteJSON(e.stdout)
	} else {
		err = rep.WriteText(e.stdout)
	}
	if err != nil {
		return err
	}
	if rep.Errors > 0 {
		return &exitError{code: exitFailure, msg: fmt.Sprintf("%d errors; the first: %s", rep.Errors, strings.TrimSpace(rep.FirstError))}
	}
	if c.Context.Err() != nil {
		return &exitError{code: exitFailure, msg: "interrupted"}
	}
	return nil
}
