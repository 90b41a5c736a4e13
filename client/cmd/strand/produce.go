package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"strand.dev/client/partitioner"
	"strand.dev/client/producer"
	"strand.dev/client/record"
)

// maxReportedFailures bounds the per-line failure messages of produce.
const maxReportedFailures = 100

func produceCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "produce",
		Usage:     "send one record per line of stdin; exit 0 only once every line is acknowledged",
		ArgsUsage: "TOPIC",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "acks", Value: "all", Usage: "all, 1 or 0: how many replicas must have a record before it counts as acknowledged"},
			&cli.StringFlag{Name: "key-separator", Usage: "split each line at the first `SEP`: the text before is the key (a line without it has no key)"},
			&cli.IntFlag{Name: "partition", Value: -1, DefaultText: "by key: Kafka's murmur2; sticky batches for lines without a key", Usage: "send every record to this partition"},
			&cli.StringFlag{Name: "compression", Value: "none", Usage: "none, gzip, snappy, lz4 or zstd"},
			&cli.DurationFlag{Name: "linger", Value: 5 * time.Millisecond, Usage: "how long a batch waits for more lines"},
			&cli.IntFlag{Name: "batch-size", Value: 16 << 10, Usage: "batch size in bytes"},
			&cli.IntFlag{Name: "max-request-size", Value: 1 << 20, Usage: "largest request, and so largest line, in bytes"},
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "how long a line may take to be acknowledged, retries included"},
		},
		Action: func(c *cli.Context) error { return runProduce(c, e) },
	}
}

func runProduce(c *cli.Context, e *env) error {
	g, err := globalsOf(c)
	if err != nil {
		return err
	}
	topic, err := oneArg(c, "topic")
	if err != nil {
		return err
	}
	acks, err := producer.ParseAcks(c.String("acks"))
	if err != nil {
		return usagef("--acks: %v", err)
	}
	comp, err := producer.ParseCompression(c.String("compression"))
	if err != nil {
		return usagef("--compression: %v", err)
	}
	timeout, linger := c.Duration("timeout"), c.Duration("linger")
	if timeout <= 0 || linger < 0 || linger >= timeout {
		return usagef("--timeout must be positive and above --linger")
	}
	if c.Int("batch-size") < 1 || c.Int("max-request-size") < 1024 {
		return usagef("--batch-size must be positive and --max-request-size at least 1024")
	}
	sep := []byte(c.String("key-separator"))
	part := c.Int("partition")
	if part < -1 {
		return usagef("--partition %d: want a partition number", part)
	}
	n, err := topicPartitions(c.Context, g, topic)
	if err != nil {
		return err
	}
	if part >= n {
		return fmt.Errorf("topic %s has partitions 0..%d, not %d", topic, n-1, part)
	}
	opts := []producer.Option{
		producer.Bootstrap(g.bootstrap...), producer.Logger(g.logger), producer.RequiredAcks(acks),
		producer.WithCompression(comp), producer.Linger(linger), producer.BatchSize(c.Int("batch-size")),
		producer.MaxRequestSize(c.Int("max-request-size")), producer.BufferMemory(max(32<<20, int64(c.Int("max-request-size")))),
		producer.RequestTimeout(timeout - linger), producer.DeliveryTimeout(timeout), producer.MaxBlock(timeout),
	}
	if part >= 0 {
		opts = append(opts, producer.WithPartitioner(partitioner.Manual()))
	}
	p, err := producer.New(opts...)
	if err != nil {
		return usagef("%v", err)
	}

	var (
		mu       sync.Mutex // guards failed and reported, and stderr writes
		failed   int
		reported int
		acked    int
	)
	fail := func(line int, err error) {
		mu.Lock()
		defer mu.Unlock()
		failed++
		if reported < maxReportedFailures {
			reported++
			fmt.Fprintf(e.stderr, "strand: line %d not acknowledged: %v\n", line, err)
		}
	}
	lines := 0
	lr := newLineReader(e.stdin, c.Int("max-request-size"))
	var readErr error
	for c.Context.Err() == nil {
		text, tooLong, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		lines++
		n := lines
		if tooLong {
			fail(n, fmt.Errorf("the line is longer than --max-request-size (%d bytes)", c.Int("max-request-size")))
			continue
		}
		r := &record.Record{Topic: topic, Value: text}
		if len(sep) > 0 {
			if k, v, ok := bytes.Cut(text, sep); ok {
				r.Key, r.Value = k, v
			}
		}
		if part >= 0 {
			r.Partition = int32(part)
		}
		p.Send(c.Context, r, func(r *record.Record, err error) {
			if err != nil {
				fail(n, err)
				return
			}
			mu.Lock()
			acked++
			mu.Unlock()
		})
	}
	interrupted := c.Context.Err() != nil
	// Give what was sent its full delivery timeout to be acknowledged.
	cctx, cancel := context.WithTimeout(context.Background(), timeout+5*time.Second)
	defer cancel()
	closeErr := p.Close(cctx)
	mu.Lock()
	defer mu.Unlock()
	if g.json {
		if err := writeJSON(e.stdout, map[string]any{"topic": topic, "lines": lines, "acknowledged": acked, "failed": lines - acked}); err != nil {
			return err
		}
	}
	switch {
	case readErr != nil:
		return fmt.Errorf("reading stdin after line %d: %w; %d of %d lines acknowledged", lines, readErr, acked, lines)
	case acked != lines || failed > 0:
		if failed > reported {
			fmt.Fprintf(e.stderr, "strand: ... and %d more lines not acknowledged\n", failed-reported)
		}
		msg := fmt.Sprintf("%d of %d lines were not acknowledged", lines-acked, lines)
		if closeErr != nil {
			msg += ": " + closeErr.Error()
		}
		return &exitError{code: exitFailure, msg: msg}
	case interrupted:
		return &exitError{code: exitFailure, msg: fmt.Sprintf("interrupted: stdin was not read to its end (%d lines read, all acknowledged)", lines)}
	}
	return nil
}

// topicPartitions returns a topic's partition count, failing clearly when
// the topic does not exist.
func topicPartitions(ctx context.Context, g *globals, topic string) (int, error) {
	adm, err := g.newAdmin()
	if err != nil {
		return 0, err
	}
	defer adm.Close()
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	md, err := adm.Metadata(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the cluster metadata: %w", err)
	}
	t, ok := md.Topic(topic)
	if !ok {
		return 0, fmt.Errorf("topic %q does not exist (create it with: strand topic create %s --partitions N)", topic, topic)
	}
	return len(t.Partitions), nil
}
