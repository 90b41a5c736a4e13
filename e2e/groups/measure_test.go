package groups

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"strand.dev/client/consumer"
)

// covering reports whether the members consume every partition of topic
// (0..parts-1) exactly once, each consuming between min and max of them.
func covering(ms []*member, parts int, lo, hi int) bool {
	seen := make([]bool, parts)
	for _, m := range ms {
		a := m.gc.Assignment()
		if len(a) < lo || len(a) > hi {
			return false
		}
		for _, tp := range a {
			if seen[tp.Partition] {
				return false
			}
			seen[tp.Partition] = true
		}
	}
	return !slices.Contains(seen, false)
}

// waitCovering polls the members' assignments every millisecond.
func waitCovering(t *testing.T, ms []*member, parts, lo, hi int, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !covering(ms, parts, lo, hi) {
		if time.Now().After(deadline) {
			t.Fatalf("%d members do not consume %d partitions in shares of %d..%d within %v", len(ms), parts, lo, hi, timeout)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Now()
}

// TestMeasureRebalance measures, for 10 consumers over 100 partitions, the
// time from a single join (Subscribe of the 10th) or leave (Close of one of
// 10) to every member consuming under its new assignment, as the members
// themselves see it (their Assignment: the partitions whose fetchers run).
// Run with STRAND_E2E_MEASURE=1.
func TestMeasureRebalance(t *testing.T) {
	if os.Getenv("STRAND_E2E_MEASURE") == "" {
		t.Skip("measurement run: set STRAND_E2E_MEASURE=1")
	}
	const topic, group, parts, rounds = "measure", "g-measure", 100, 10
	c := startCluster(t, 2)
	c.createTopic(topic, parts)
	c.produceSeq(c.newProducer(), topic, "r", 0, 2000)
	l := newLedger(t)
	opts := []consumer.Option{consumer.SessionTimeout(10 * time.Second)}
	var ms []*member
	for i := range 9 {
		ms = append(ms, startMember(t, c, l, group, fmt.Sprintf("m%d", i), topic, opts...))
	}
	waitCovering(t, ms, parts, 11, 12, 60*time.Second)
	var joins, leaves []time.Duration
	for r := range rounds {
		start := time.Now()
		m := startMember(t, c, l, group, fmt.Sprintf("j%d", r), topic, opts...)
		ms = append(ms, m)
		joins = append(joins, waitCovering(t, ms, parts, 10, 10, 30*time.Second).Sub(start))

		gone := ms[0]
		ms = ms[1:]
		start = time.Now()
		close(gone.stop)
		<-gone.done
		if err := gone.gc.Close(); err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, waitCovering(t, ms, parts, 11, 12, 30*time.Second).Sub(start))
	}
	med := func(d []time.Duration) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[len(s)/2]
	}
	t.Logf("join of a 10th member, 100 partitions: median %v, min %v, max %v (%v)", med(joins), slices.Min(joins), slices.Max(joins), joins)
	t.Logf("leave of one of 10 members: median %v, min %v, max %v (%v)", med(leaves), slices.Min(leaves), slices.Max(leaves), leaves)
	for _, m := range ms {
		m.close(t)
	}
}
