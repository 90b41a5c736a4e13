package groups

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"strand.dev/e2e/harness"
)

var recordLine = regexp.MustCompile(`(?m)^(r-\d+)$`)

// printedBy counts the record lines in the output of consumer processes.
func printedBy(procs []*harness.Proc) map[string]int {
	out := map[string]int{}
	for _, p := range procs {
		b, err := os.ReadFile(p.Log)
		if err != nil {
			continue
		}
		for _, m := range recordLine.FindAllStringSubmatch(string(b), -1) {
			out[m[1]]++
		}
	}
	return out
}

// endOffsets returns the high watermark of each partition of topic.
func (c *cluster) endOffsets(topic string) map[int32]int64 {
	c.t.Helper()
	d, err := c.adm.DescribeTopic(c.ctx(), topic)
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, p := range d.Partitions {
		out[p.Partition] = p.HighWatermark
	}
	return out
}

// TestThreeCLIConsumersSurviveCoordinatorKill: three `strand consume
// --group g` processes share a topic; the coordinator owning the group is
// SIGKILLed mid-run; the other coordinator takes the group over, the
// consumers go on, no committed offset goes back, every record is printed,
// and on SIGTERM each process commits what it printed, leaves and exits 0.
func TestThreeCLIConsumersSurviveCoordinatorKill(t *testing.T) {
	c := startCluster(t, 2)
	const topic, group, parts = "shared", "g", 6
	c.createTopic(topic, parts)
	p := c.newProducer()
	c.produceSeq(p, topic, "r", 0, 3000)

	var procs []*harness.Proc
	for i := range 3 {
		procs = append(procs, harness.Start(t, fmt.Sprintf("consume-%d", i+1), binary(t, "strand"),
			"--bootstrap", strings.Join(c.bootstrap(), ","), "consume", topic, "--group", group,
			"--from-beginning", "--commit-interval", "200ms", "--session-timeout", "10s"))
	}
	waitAllCommitted := func(total int, what string) map[int32]int64 {
		t.Helper()
		var committed map[int32]int64
		eventually(t, 90*time.Second, what, func() error {
			if n := len(printedBy(procs)); n < total {
				return fmt.Errorf("%d of %d records printed", n, total)
			}
			var err error
			if committed, err = c.committed(group, topic); err != nil {
				return err
			}
			end := c.endOffsets(topic)
			for p, e := range end {
				if committed[p] != e {
					return fmt.Errorf("partition %d: committed %d, end %d", p, committed[p], e)
				}
			}
			return nil
		})
		return committed
	}
	before := waitAllCommitted(3000, "the first 3000 records printed and committed")
	d, err := c.describe(group)
	if err != nil || len(d.Members) != 3 {
		t.Fatalf("describe before the kill: %+v %v", d, err)
	}

	owner := c.groupOwner(group)
	t.Logf("SIGKILL %s, the owner of group %s", owner.id, group)
	killed := time.Now()
	owner.Kill()
	c.produceSeq(p, topic, "r", 3000, 6000)
	eventually(t, 60*time.Second, "another coordinator serves the group without losing a committed offset", func() error {
		now, err := c.committed(group, topic)
		if err != nil {
			return err
		}
		for p, o := range before {
			if now[p] < o {
				return fmt.Errorf("partition %d: committed %d after the takeover, %d before", p, now[p], o)
			}
		}
		return nil
	})
	t.Logf("the group is served again %v after the kill", time.Since(killed).Round(time.Millisecond))
	if o := c.groupOwner(group); o == owner {
		t.Fatalf("the killed coordinator still owns the group")
	}
	after := waitAllCommitted(6000, "all 6000 records printed and committed after the takeover")
	d, err = c.describe(group)
	if err != nil || len(d.Members) != 3 {
		t.Fatalf("describe after the takeover: %+v %v", d, err)
	}
	t.Logf("after the takeover: generation %d, committed %v", d.Generation, after)

	// SIGTERM: each commits what it printed, leaves, exits 0.
	for _, pr := range procs {
		if err := pr.Stop(30 * time.Second); err != nil {
			t.Errorf("%s after SIGTERM: %v\n%s", pr.Name, err, pr.Tail(2000))
		}
	}
	eventually(t, 30*time.Second, "the group empty", func() error {
		d, err := c.describe(group)
		if err != nil {
			return err
		}
		if len(d.Members) != 0 {
			return fmt.Errorf("%d members", len(d.Members))
		}
		return nil
	})
	final, err := c.committed(group, topic)
	if err != nil {
		t.Fatal(err)
	}
	sum := int64(0)
	for _, o := range final {
		sum += o
	}
	if sum != 6000 {
		t.Errorf("committed offsets sum to %d, want 6000: %v", sum, final)
	}
	printed := printedBy(procs)
	dups := 0
	for i := range 6000 {
		n := printed[fmt.Sprintf("r-%d", i)]
		if n == 0 {
			t.Errorf("r-%d never printed", i)
		}
		dups += max(n-1, 0)
	}
	t.Logf("printed %d distinct records, %d duplicates", len(printed), dups)
}
