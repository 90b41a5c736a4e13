package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"strand.dev/client/consumer"
	"strand.dev/client/internal/routing"
	"strand.dev/client/record"
)

// groupFlags are the flags of `strand consume` that only --group uses.
func groupFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "instance-id", Usage: "group.instance.id: a static member (with --group); a restart with the same id takes its partitions back without a rebalance"},
		&cli.DurationFlag{Name: "session-timeout", Value: 45 * time.Second, Usage: "session.timeout.ms (with --group)"},
		&cli.DurationFlag{Name: "commit-interval", Value: time.Second, Usage: "how often the offsets of printed records are committed (with --group); revocations and the exit commit at once"},
		&cli.StringFlag{Name: "coordinator", Usage: "strand-coordinator addresses, comma-separated, to find the group's coordinator (with --group; default: those the cluster metadata lists)"},
	}
}

// printedOffsets tracks, per partition, the offset after the last record
// printed: what a commit may claim as processed.
type printedOffsets struct {
	mu   sync.Mutex
	next map[consumer.TopicPartition]int64
}

func (p *printedOffsets) set(r *record.Record) {
	p.mu.Lock()
	p.next[consumer.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = r.Offset + 1
	p.mu.Unlock()
}

// of returns the printed offsets of tps (all when tps is nil).
func (p *printedOffsets) of(tps []consumer.TopicPartition) map[consumer.TopicPartition]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[consumer.TopicPartition]int64{}
	if tps == nil {
		for tp, o := range p.next {
			out[tp] = o
		}
		return out
	}
	for _, tp := range tps {
		if o, ok := p.next[tp]; ok {
			out[tp] = o
		}
	}
	return out
}

func (p *printedOffsets) drop(tps []consumer.TopicPartition) {
	p.mu.Lock()
	for _, tp := range tps {
		delete(p.next, tp)
	}
	p.mu.Unlock()
}

// groupListener commits what was printed of a partition before it goes.
type groupListener struct {
	gc      *consumer.GroupConsumer
	printed *printedOffsets
	e       *env
	timeout time.Duration
}

func (l *groupListener) OnPartitionsRevoked(ctx context.Context, revoked []consumer.TopicPartition) {
	if offs := l.printed.of(revoked); len(offs) > 0 {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
		if err := l.gc.CommitOffsets(cctx, offs); err != nil {
			fmt.Fprintf(l.e.stderr, "strand: committing revoked partitions: %v\n", err)
		}
		cancel()
	}
	l.printed.drop(revoked)
}

func (l *groupListener) OnPartitionsAssigned(context.Context, []consumer.TopicPartition) {}

func (l *groupListener) OnPartitionsLost(_ context.Context, lost []consumer.TopicPartition) {
	l.printed.drop(lost)
}

// runGroupConsume is `strand consume --group`: the group's coordinator
// shares the topic's partitions among the processes of the group; each
// prints its records, commits what it printed every --commit-interval and
// when a partition is revoked, and on SIGTERM/SIGINT (or --timeout,
// --max-messages) commits what it printed, leaves the group and exits 0.
func runGroupConsume(c *cli.Context, e *env, g *globals, topic string) error {
	if c.IsSet("partition") || c.IsSet("offset") {
		return usagef("--partition and --offset do not go with --group: the group assigns partitions and resumes at its committed offsets")
	}
	if c.Int("max-messages") < 0 || c.Duration("timeout") < 0 {
		return usagef("--max-messages and --timeout must not be negative")
	}
	if c.Duration("commit-interval") <= 0 {
		return usagef("--commit-interval must be positive")
	}
	reset := consumer.ResetLatest
	if c.Bool("from-beginning") {
		reset = consumer.ResetEarliest
	}
	opts := []consumer.Option{
		consumer.Bootstrap(g.bootstrap...), consumer.Logger(g.logger), consumer.AutoOffsetReset(reset),
		consumer.AutoCommit(false), consumer.SessionTimeout(c.Duration("session-timeout")),
		consumer.ClientID("strand-cli"),
	}
	if id := c.String("instance-id"); id != "" {
		opts = append(opts, consumer.GroupInstanceID(id))
	}
	if s := c.String("coordinator"); s != "" {
		addrs, err := routing.ParseBootstrap(s)
		if err != nil {
			return fmt.Errorf("--coordinator: %w", err)
		}
		opts = append(opts, consumer.Coordinators(addrs...))
	}
	gc, err := consumer.NewGroup(c.String("group"), opts...)
	if err != nil {
		return err
	}
	printed := &printedOffsets{next: map[consumer.TopicPartition]int64{}}
	lis := &groupListener{gc: gc, printed: printed, e: e, timeout: g.requestTimeout}
	if err := gc.Subscribe([]string{topic}, lis); err != nil {
		gc.Close()
		return err
	}

	out := bufio.NewWriterSize(e.stdout, 64<<10)
	sep := c.String("key-separator")
	printKey := c.Bool("print-key")
	limit := c.Int("max-messages")
	idle := c.Duration("timeout")
	interval := c.Duration("commit-interval")
	count := 0
	last := time.Now()
	nextCommit := time.Now().Add(interval)
	var loopErr error
	for limit == 0 || count < limit {
		ctx, cancel := context.WithDeadline(c.Context, time.Now().Add(interval))
		if idle > 0 && last.Add(idle).Before(time.Now().Add(interval)) {
			cancel()
			ctx, cancel = context.WithDeadline(c.Context, last.Add(idle))
		}
		recs, err := gc.Poll(ctx)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			if c.Context.Err() == nil {
				loopErr = err
			}
			break
		}
		if len(recs) > 0 {
			last = time.Now()
		}
		for _, r := range recs {
			if limit > 0 && count >= limit {
				break
			}
			if err := printRecord(out, r, g.json, printKey, sep); err != nil {
				loopErr = fmt.Errorf("writing to stdout: %w", err)
				break
			}
			printed.set(r)
			count++
		}
		if err := out.Flush(); err != nil && loopErr == nil {
			loopErr = fmt.Errorf("writing to stdout: %w", err)
		}
		if loopErr != nil || c.Context.Err() != nil || idle > 0 && time.Since(last) >= idle {
			break
		}
		if time.Now().After(nextCommit) {
			nextCommit = time.Now().Add(interval)
			if offs := printed.of(gc.Assignment()); len(offs) > 0 {
				gc.CommitOffsetsAsync(offs, func(_ map[consumer.TopicPartition]int64, err error) {
					if err != nil && g.logger != nil {
						g.logger.Warn("commit failed", "err", err)
					}
				})
			}
		}
	}
	// Commit what was printed (and only that), then leave at once.
	if err := out.Flush(); err != nil && loopErr == nil {
		loopErr = fmt.Errorf("writing to stdout: %w", err)
	}
	fmt.Fprintf(e.stderr, "consumed %d records\n", count)
	ctx, cancel := context.WithTimeout(context.Background(), g.requestTimeout)
	defer cancel()
	var commitErr error
	if offs := printed.of(gc.Assignment()); len(offs) > 0 {
		commitErr = gc.CommitOffsets(ctx, offs)
	}
	closeErr := gc.CloseContext(ctx)
	switch {
	case loopErr != nil:
		return loopErr
	case commitErr != nil:
		return fmt.Errorf("committing the printed offsets: %w", commitErr)
	case closeErr != nil:
		return fmt.Errorf("leaving the group: %w", closeErr)
	}
	return nil
}
