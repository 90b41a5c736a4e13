package groups

import (
	"fmt"
	"testing"
	"time"

	"strand.dev/client/consumer"
)

// TestJoinLeaveOneAtATime: 12 partitions, members join one at a time up to
// four and leave one at a time down to one while records are produced. In
// every stable generation each partition is owned by exactly one member and
// consumed by that member alone; cooperative rebalancing moves only the
// partitions that must move (to a newcomer, or from a leaver); no two
// members ever consume a partition at once; every record is consumed, and,
// since every handoff commits on revocation, exactly once.
func TestJoinLeaveOneAtATime(t *testing.T) {
	c := startCluster(t, 2)
	const topic, group, parts = "joinleave", "g-joinleave", 12
	c.createTopic(topic, parts)
	p := c.newProducer()
	l := newLedger(t)
	total := 0
	produce := func(n int) {
		c.produceSeq(p, topic, "r", total, total+n)
		total += n
	}
	produce(600)

	var members []*member
	var prev assignment
	for i := 1; i <= 4; i++ {
		m := startMember(t, c, l, group, fmt.Sprintf("m%d", i), topic, consumer.AutoCommitInterval(200*time.Millisecond))
		members = append(members, m)
		a, gen := waitStable(t, c, group, topic, parts, members, 60*time.Second)
		mine := 0
		for _, o := range a {
			if o == m.gc.MemberID() {
				mine++
			}
		}
		if mv := moved(prev, a, ""); prev != nil && mv > mine {
			t.Errorf("join of %s (generation %d): %d partitions moved, only the newcomer's %d had to", m.name, gen, mv, mine)
		}
		if mine < parts/len(members) {
			t.Errorf("join of %s: the newcomer got %d partitions, want at least %d", m.name, mine, parts/len(members))
		}
		t.Logf("%d members, generation %d: newcomer %s has %d partitions", len(members), gen, m.name, mine)
		prev = a
		produce(300)
	}
	for len(members) > 1 {
		m := members[0]
		gone := m.gc.MemberID()
		m.close(t)
		members = members[1:]
		a, gen := waitStable(t, c, group, topic, parts, members, 60*time.Second)
		if mv := moved(prev, a, gone); mv > 0 {
			t.Errorf("leave of %s (generation %d): %d partitions of staying members moved", m.name, gen, mv)
		}
		t.Logf("%d members, generation %d after %s left", len(members), gen, m.name)
		prev = a
		produce(300)
	}
	eventually(t, 60*time.Second, "every record consumed", func() error {
		if d, _ := l.counts(); d < total {
			return fmt.Errorf("%d of %d records consumed", d, total)
		}
		return nil
	})
	members[0].close(t)
	distinct, dups := l.counts()
	if distinct != total {
		t.Errorf("consumed %d distinct records, produced %d", distinct, total)
	}
	if dups > 0 {
		t.Errorf("%d records consumed twice across graceful handoffs", dups)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.overlaps {
		t.Error(o)
	}
}
