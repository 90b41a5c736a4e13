package groups

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"strand.dev/client/consumer"
)

// roleArg as the first argument makes the test binary a consumer process
// instead of running tests (TestMain): the at-least-once test starts it as
// a real process to SIGKILL it.
const roleArg = "strand-e2e-group-consumer"

// runRole is the consumer process: args are bootstrap (comma-separated),
// group, topic. For each record it prints "rec <partition> <offset>" once
// processed; after each batch it commits synchronously and prints
// "commit <partition> <offset>" for each committed offset once durable.
func runRole() int {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: ", roleArg, "BOOTSTRAP GROUP TOPIC")
		return 2
	}
	boot, group, topic := strings.Split(os.Args[2], ","), os.Args[3], os.Args[4]
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	gc, err := consumer.NewGroup(group, consumer.Bootstrap(boot...), consumer.AutoOffsetReset(consumer.ResetEarliest),
		consumer.AutoCommit(false), consumer.SessionTimeout(3*time.Second), consumer.MaxPollRecords(50),
		consumer.FetchMaxWait(200*time.Millisecond), consumer.RetryBackoff(20*time.Millisecond, 300*time.Millisecond))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out := bufio.NewWriter(os.Stdout)
	lis := &roleListener{gc: gc, out: out}
	if err := gc.Subscribe([]string{topic}, lis); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	lis.processed = map[consumer.TopicPartition]int64{}
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		recs, err := gc.Poll(pctx)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "poll:", err)
			return 1
		}
		for _, r := range recs {
			// Processing: the record's line reaches the kernel before
			// its offset is committed.
			fmt.Fprintf(out, "rec %d %d\n", r.Partition, r.Offset)
			lis.processed[consumer.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = r.Offset + 1
		}
		out.Flush()
		if len(recs) > 0 {
			lis.commit(ctx, nil)
		}
	}
	lis.commit(context.Background(), nil)
	gc.Close()
	return 0
}

// roleListener commits what was processed of revoked partitions.
type roleListener struct {
	gc        *consumer.GroupConsumer
	out       *bufio.Writer
	processed map[consumer.TopicPartition]int64 // touched by the polling goroutine only
}

// commit commits the processed offsets of tps (all when nil) and prints
// them once durable.
func (l *roleListener) commit(ctx context.Context, tps []consumer.TopicPartition) {
	offs := map[consumer.TopicPartition]int64{}
	owned := map[consumer.TopicPartition]bool{}
	for _, tp := range l.gc.Assignment() {
		owned[tp] = true
	}
	for tp, o := range l.processed {
		if owned[tp] && (tps == nil || contains(tps, tp)) {
			offs[tp] = o
		}
	}
	if len(offs) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := l.gc.CommitOffsets(cctx, offs); err != nil {
		fmt.Fprintln(os.Stderr, "commit:", err)
		return
	}
	for tp, o := range offs {
		fmt.Fprintf(l.out, "commit %d %d\n", tp.Partition, o)
	}
	l.out.Flush()
}

func contains(tps []consumer.TopicPartition, tp consumer.TopicPartition) bool {
	for _, x := range tps {
		if x == tp {
			return true
		}
	}
	return false
}

func (l *roleListener) OnPartitionsRevoked(ctx context.Context, tps []consumer.TopicPartition) {
	l.commit(ctx, tps)
	for _, tp := range tps {
		delete(l.processed, tp)
	}
}

func (l *roleListener) OnPartitionsAssigned(context.Context, []consumer.TopicPartition) {}

func (l *roleListener) OnPartitionsLost(_ context.Context, tps []consumer.TopicPartition) {
	for _, tp := range tps {
		delete(l.processed, tp)
	}
}
