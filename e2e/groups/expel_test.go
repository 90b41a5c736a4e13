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

// TestStuckMemberExpelledAfterMaxPollInterval: of three members, one stops
// polling (stuck in processing). After max.poll.interval.ms the coordinator
// expels it and the other two take its partitions; its commits are refused
// (a zombie cannot overwrite progress); when it polls again it hears that
// its partitions were lost and joins again as a new member.
func TestStuckMemberExpelledAfterMaxPollInterval(t *testing.T) {
	c := startCluster(t, 1)
	const topic, group, parts = "stuck", "g-stuck", 6
	const maxPoll = 2 * time.Second
	c.createTopic(topic, parts)
	c.produceSeq(c.newProducer(), topic, "r", 0, 600)
	l := newLedger(t)
	var ms []*member
	for i := range 3 {
		ms = append(ms, startMember(t, c, l, group, fmt.Sprintf("m%d", i+1), topic,
			consumer.MaxPollInterval(maxPoll), consumer.SessionTimeout(6*time.Second), consumer.AutoCommit(false)))
	}
	waitStable(t, c, group, topic, parts, ms, 60*time.Second)
	stuck := ms[1]
	stuckID := stuck.gc.MemberID()
	stuckParts := stuck.gc.Assignment()
	if len(stuckParts) == 0 {
		t.Fatal("the member to stop owns nothing")
	}
	stuck.setPaused(true)
	paused := time.Now()
	waitStable(t, c, group, topic, parts, []*member{ms[0], ms[2]}, 30*time.Second)
	took := time.Since(paused)
	t.Logf("the stuck member was expelled and its %d partitions moved %v after it stopped polling", len(stuckParts), took.Round(time.Millisecond))
	if took < maxPoll {
		t.Errorf("expelled after %v, before max.poll.interval.ms %v", took, maxPoll)
	}
	if took > maxPoll+6*time.Second {
		t.Errorf("expelled only after %v (max.poll.interval.ms %v)", took, maxPoll)
	}
	d, err := c.describe(group)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range d.Members {
		if m.MemberID == stuckID {
			t.Fatalf("the stuck member %s is still in the group", stuckID)
		}
	}
	// A zombie commit is refused.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = stuck.gc.CommitOffsets(ctx, map[consumer.TopicPartition]int64{stuckParts[0]: 1})
	var ce *consumer.CommitError
	if !errors.As(err, &ce) || !errors.Is(err, wire.ErrUnknownMember) {
		t.Errorf("commit of the expelled member: %v, want a CommitError of UNKNOWN_MEMBER_ID", err)
	}
	// Polling again: the partitions are lost, the member joins anew.
	stuck.setPaused(false)
	waitStable(t, c, group, topic, parts, ms, 30*time.Second)
	if id := stuck.gc.MemberID(); id == stuckID || id == "" {
		t.Errorf("after polling again the member id is %q (was %q): want a new one", id, stuckID)
	}
	for _, m := range ms {
		m.close(t)
	}
}
