package groups

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"strand.dev/client/consumer"
	"strand.dev/client/wire"
)

// TestStaticMemberRestart: a static member (group.instance.id) that closes
// does not leave; a new process with the same instance id takes its
// partitions back without a rebalance (same generation, the other member
// untouched) and resumes at its committed offsets. A third process with
// the same id fences the second, whose Poll then fails with ErrFenced.
func TestStaticMemberRestart(t *testing.T) {
	c := startCluster(t, 1)
	const topic, group, parts = "static", "g-static", 6
	c.createTopic(topic, parts)
	c.produceSeq(c.newProducer(), topic, "r", 0, 600)
	l := newLedger(t)
	static := []consumer.Option{consumer.GroupInstanceID("i-a"), consumer.SessionTimeout(20 * time.Second)}
	a := startMember(t, c, l, group, "a", topic, static...)
	b := startMember(t, c, l, group, "b", topic)
	before, gen := waitStable(t, c, group, topic, parts, []*member{a, b}, 60*time.Second)
	eventually(t, 60*time.Second, "all 600 records consumed", func() error {
		if d, _ := l.counts(); d < 600 {
			return fmt.Errorf("%d consumed", d)
		}
		return nil
	})
	aParts := a.gc.Assignment()
	a.close(t) // static: commits, but does not leave

	d, err := c.describe(group)
	if err != nil || len(d.Members) != 2 {
		t.Fatalf("after the static member closed: %+v %v (want it still in the group)", d, err)
	}
	a2 := startMember(t, c, l, group, "a2", topic, static...)
	after, gen2 := waitStable(t, c, group, topic, parts, []*member{a2, b}, 30*time.Second)
	if gen2 != gen {
		t.Errorf("the restart changed the generation from %d to %d (a rebalance)", gen, gen2)
	}
	if got := a2.gc.Assignment(); fmt.Sprint(got) != fmt.Sprint(aParts) {
		t.Errorf("the restarted member consumes %v, its predecessor had %v", got, aParts)
	}
	for p, o := range before {
		if o == b.gc.MemberID() && after[p] != o {
			t.Errorf("partition %d moved away from the other member", p)
		}
	}
	// It resumed at the committed offsets: no record consumed twice.
	if _, dups := l.counts(); dups > 0 {
		t.Errorf("%d records consumed again after the static restart", dups)
	}

	// A third process with the same instance id fences the second.
	a3 := startMember(t, c, l, group, "a3", topic, static...)
	eventually(t, 30*time.Second, "the second process fenced", func() error {
		select {
		case <-a2.done:
		default:
			return errors.New("still polling")
		}
		if !errors.Is(a2.err, consumer.ErrFenced) || !errors.Is(a2.err, wire.ErrFencedInstanceID) {
			return fmt.Errorf("poll ended with %v, want ErrFenced", a2.err)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := a2.gc.Poll(ctx); !errors.Is(err, consumer.ErrFenced) {
		t.Errorf("Poll after the fencing: %v", err)
	}
	waitStable(t, c, group, topic, parts, []*member{a3, b}, 30*time.Second)
	a2.gc.Close()
	for _, m := range []*member{a3, b} {
		m.close(t)
	}
}
