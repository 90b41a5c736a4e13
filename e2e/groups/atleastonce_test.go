package groups

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"strand.dev/e2e/harness"
)

// pOff is a record's partition and offset.
type pOff struct {
	p   int32
	off int64
}

// incarnation is the output of one run of a consumer process.
type incarnation struct {
	name      string
	processed []pOff
	// acked is, per partition, the highest commit the process saw
	// acknowledged (the offset of the next record to process).
	acked map[int32]int64
}

// parseIncarnation reads the "rec" and "commit" lines of one run.
func parseIncarnation(name string, out []byte) *incarnation {
	in := &incarnation{name: name, acked: map[int32]int64{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var p int32
		var off int64
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "rec "):
			if _, err := fmt.Sscanf(line, "rec %d %d", &p, &off); err == nil {
				in.processed = append(in.processed, pOff{p, off})
			}
		case strings.HasPrefix(line, "commit "):
			if _, err := fmt.Sscanf(line, "commit %d %d", &p, &off); err == nil && off > in.acked[p] {
				in.acked[p] = off
			}
		}
	}
	return in
}

// roleProc is a consumer process whose runs are told apart by the length
// of its log when each run started.
type roleProc struct {
	*harness.Proc
	starts []int64
}

func (r *roleProc) markStart() {
	fi, err := os.Stat(r.Log)
	size := int64(0)
	if err == nil {
		size = fi.Size()
	}
	r.starts = append(r.starts, size)
}

// incarnations splits the log into runs.
func (r *roleProc) incarnations() []*incarnation {
	b, _ := os.ReadFile(r.Log)
	var out []*incarnation
	for i, s := range r.starts {
		end := int64(len(b))
		if i+1 < len(r.starts) {
			end = r.starts[i+1]
		}
		if s > end {
			s = end
		}
		out = append(out, parseIncarnation(fmt.Sprintf("%s#%d", r.Name, i+1), b[s:end]))
	}
	return out
}

// TestAtLeastOnceWithKilledConsumers: producers write sequence-numbered
// records while three consumer processes, which commit synchronously after
// processing each batch, are SIGKILLed at random and restarted. Every record
// is processed at least once, and a record processed twice was in the
// uncommitted window of a run (processed after that run's last
// acknowledged commit of its partition).
func TestAtLeastOnceWithKilledConsumers(t *testing.T) {
	c := startCluster(t, 2)
	const topic, group, parts, total = "alo", "g-alo", 6, 12000
	c.createTopic(topic, parts)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	boot := strings.Join(c.bootstrap(), ",")
	var procs []*roleProc
	for i := range 3 {
		rp := &roleProc{}
		rp.Proc = harness.Start(t, fmt.Sprintf("alo-consumer-%d", i+1), self, roleArg, boot, group, topic)
		rp.starts = []int64{0}
		procs = append(procs, rp)
	}

	// Two producers, in the background, 12,000 records over a few seconds.
	var wg sync.WaitGroup
	prodErrs := make(chan error, 2)
	for w := range 2 {
		p := c.newProducer()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for from := w * total / 2; from < (w+1)*total/2; from += 100 {
				if err := sendSeq(p, topic, "r", from, from+100); err != nil {
					prodErrs <- err
					return
				}
				time.Sleep(60 * time.Millisecond) // spread the records over the kills
			}
		}()
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	produced := make(chan struct{})
	go func() { wg.Wait(); close(produced) }()
	kills := 0
	for done := false; !done || kills < 6; kills++ {
		select {
		case <-produced:
			done = true
		default:
		}
		// Fault pacing, not synchronisation: kill at a random moment.
		time.Sleep(time.Duration(300+rng.IntN(900)) * time.Millisecond)
		rp := procs[rng.IntN(len(procs))]
		rp.Kill()
		rp.markStart()
		if err := rp.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(prodErrs)
	for err := range prodErrs {
		t.Fatalf("produce: %v", err)
	}
	t.Logf("%d kills done, %d records produced", kills, total)

	end := c.endOffsets(topic)
	sum := int64(0)
	for _, e := range end {
		sum += e
	}
	if sum != total {
		t.Fatalf("the partitions hold %d records, %d were produced", sum, total)
	}
	eventually(t, 90*time.Second, "every record processed and committed", func() error {
		committed, err := c.committed(group, topic)
		if err != nil {
			return err
		}
		for p, e := range end {
			if committed[p] != e {
				return fmt.Errorf("partition %d: committed %d of %d", p, committed[p], e)
			}
		}
		return nil
	})
	for _, rp := range procs {
		if err := rp.Stop(30 * time.Second); err != nil {
			t.Errorf("%s after SIGTERM: %v", rp.Name, err)
		}
	}

	seen := map[pOff]int{}
	window := map[pOff]bool{}
	for _, rp := range procs {
		for _, in := range rp.incarnations() {
			defer func() {
				if t.Failed() {
					t.Logf("%s processed %d records, last acknowledged commits %v", in.name, len(in.processed), in.acked)
				}
			}()
			for _, po := range in.processed {
				seen[po]++
				if a, ok := in.acked[po.p]; !ok || po.off >= a {
					window[po] = true
				}
			}
		}
	}
	missing, dups, bad := 0, 0, 0
	for p, e := range end {
		for off := int64(0); off < e; off++ {
			po := pOff{p, off}
			switch n := seen[po]; {
			case n == 0:
				missing++
				if missing <= 10 {
					t.Errorf("record %d@%d never processed", p, off)
				}
			case n > 1:
				dups += n - 1
				if !window[po] {
					bad++
					if bad <= 10 {
						t.Errorf("record %d@%d processed %d times, but never in an uncommitted window", p, off, n)
					}
				}
			}
		}
	}
	t.Logf("%d records, %d kills: %d missing, %d duplicates (%d outside an uncommitted window)", total, kills, missing, dups, bad)
}
