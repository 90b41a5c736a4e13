package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"strand.dev/client/consumer"
	"strand.dev/client/record"
)

func consumeCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "consume",
		Usage:     "print records, one per line, in offset order per partition; Ctrl-C stops",
		ArgsUsage: "TOPIC",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "group", Usage: "consume as a member of this consumer group: the partitions are shared with the group's other members, and the group resumes at its committed offsets"},
			&cli.BoolFlag{Name: "from-beginning", Usage: "start at the earliest offset (without it, and without --offset: only new records)"},
			&cli.IntFlag{Name: "partition", Value: -1, DefaultText: "all", Usage: "read only this partition"},
			&cli.StringFlag{Name: "offset", Usage: "start at this `OFFSET` (a number, earliest or latest); a number out of range is an error"},
			&cli.IntFlag{Name: "max-messages", DefaultText: "no limit", Usage: "stop after N records"},
			&cli.BoolFlag{Name: "print-key", Usage: "print key, separator, value"},
			&cli.StringFlag{Name: "key-separator", Value: "\t", Usage: "separator printed between key and value"},
			&cli.DurationFlag{Name: "timeout", DefaultText: "wait forever", Usage: "stop (exit 0) when no record arrived for this long"},
		}, groupFlags()...),
		Action: func(c *cli.Context) error { return runConsume(c, e) },
	}
}

// consumedRecord is a record in --output json.
type consumedRecord struct {
	Topic     string            `json:"topic"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Timestamp int64             `json:"timestamp"`
	Key       *string           `json:"key"`
	Value     *string           `json:"value"`
	Headers   map[string]string `json:"headers,omitempty"`
}

func optString(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

func runConsume(c *cli.Context, e *env) error {
	g, err := globalsOf(c)
	if err != nil {
		return err
	}
	topic, err := oneArg(c, "topic")
	if err != nil {
		return err
	}
	if c.String("group") != "" {
		return runGroupConsume(c, e, g, topic)
	}
	for _, f := range []string{"instance-id", "session-timeout", "commit-interval", "coordinator"} {
		if c.IsSet(f) {
			return usagef("--%s goes with --group", f)
		}
	}
	if c.Int("max-messages") < 0 || c.Duration("timeout") < 0 {
		return usagef("--max-messages and --timeout must not be negative")
	}
	start := consumer.OffsetLatest
	reset := consumer.ResetLatest
	if c.Bool("from-beginning") {
		start, reset = consumer.OffsetEarliest, consumer.ResetEarliest
	}
	if o := c.String("offset"); o != "" {
		switch o {
		case "earliest":
			start, reset = consumer.OffsetEarliest, consumer.ResetEarliest
		case "latest":
			start, reset = consumer.OffsetLatest, consumer.ResetLatest
		default:
			n, err := strconv.ParseInt(o, 10, 64)
			if err != nil || n < 0 {
				return usagef("--offset %q: want a number, earliest or latest", o)
			}
			if c.Bool("from-beginning") {
				return usagef("--offset and --from-beginning contradict each other")
			}
			start, reset = n, consumer.ResetNone
		}
	}
	n, err := topicPartitions(c.Context, g, topic)
	if err != nil {
		return err
	}
	var tps []consumer.TopicPartition
	if p := c.Int("partition"); p >= 0 {
		if p >= n {
			return fmt.Errorf("topic %s has partitions 0..%d, not %d", topic, n-1, p)
		}
		tps = append(tps, consumer.TopicPartition{Topic: topic, Partition: int32(p)})
	} else if p < -1 {
		return usagef("--partition %d: want a partition number", p)
	} else {
		for i := 0; i < n; i++ {
			tps = append(tps, consumer.TopicPartition{Topic: topic, Partition: int32(i)})
		}
	}
	cons, err := consumer.New(consumer.Bootstrap(g.bootstrap...), consumer.Logger(g.logger), consumer.AutoOffsetReset(reset))
	if err != nil {
		return err
	}
	defer cons.Close()
	if err := cons.Assign(tps...); err != nil {
		return err
	}
	for _, tp := range tps {
		if err := cons.Seek(tp, start); err != nil {
			return err
		}
	}

	out := bufio.NewWriterSize(e.stdout, 64<<10)
	defer out.Flush()
	sep := c.String("key-separator")
	printKey := c.Bool("print-key")
	limit := c.Int("max-messages")
	idle := c.Duration("timeout")
	count := 0
	last := time.Now()
	defer func() { fmt.Fprintf(e.stderr, "consumed %d records\n", count) }()
	for limit == 0 || count < limit {
		ctx := c.Context
		var cancel context.CancelFunc = func() {}
		if idle > 0 {
			ctx, cancel = context.WithDeadline(ctx, last.Add(idle))
		}
		recs, err := cons.Poll(ctx)
		cancel()
		if err != nil {
			if c.Context.Err() != nil {
				return nil // Ctrl-C: a clean stop
			}
			if errors.Is(err, context.DeadlineExceeded) {
				return nil // no record for --timeout
			}
			var oor *consumer.OffsetOutOfRangeError
			if errors.As(err, &oor) {
				return fmt.Errorf("offset %d of %s-%d is out of range: %w", oor.Offset, oor.Topic, oor.Partition, err)
			}
			return err
		}
		last = time.Now()
		for _, r := range recs {
			if limit > 0 && count >= limit {
				break
			}
			if err := printRecord(out, r, g.json, printKey, sep); err != nil {
				return fmt.Errorf("writing to stdout: %w", err)
			}
			count++
		}
		if err := out.Flush(); err != nil {
			return fmt.Errorf("writing to stdout: %w", err)
		}
	}
	return nil
}

// printRecord writes one record as a line: its value, or key, separator and
// value, or (asJSON) a JSON object.
func printRecord(out *bufio.Writer, r *record.Record, asJSON, printKey bool, sep string) error {
	if asJSON {
		cr := consumedRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(),
			Key: optString(r.Key), Value: optString(r.Value)}
		if len(r.Headers) > 0 {
			cr.Headers = map[string]string{}
			for _, h := range r.Headers {
				cr.Headers[h.Key] = string(h.Value)
			}
		}
		b, err := json.Marshal(cr)
		if err != nil {
			return err
		}
		out.Write(b)
		return out.WriteByte('\n')
	}
	if printKey {
		out.Write(r.Key)
		out.WriteString(sep)
	}
	out.Write(r.Value)
	return out.WriteByte('\n')
}
