package replication

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"strand.dev/client/bench"
	"strand.dev/client/producer"
)

// catchUpRound is one follower catch-up: the follower was away while the
// leader took the bytes, then came back at start.
type catchUpRound struct {
	mode    string
	bytes   int64 // bytes of the leader's log the follower lacked
	healthy time.Duration
	caughtU time.Duration // start → the follower's log end offset reached the leader's
	inISR   time.Duration // start → the image's ISR names the follower again
}

// logBytes is the size of a partition replica's segment files.
func logBytes(t *testing.T, d *dataNode, topic string, p int32) int64 {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(d.dir, fmt.Sprintf("%s-%d", topic, p), "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, m := range matches {
		fi, err := os.Stat(m)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// TestMeasureFollowerCatchUp measures how long a follower that missed 1 GiB
// of writes takes to be back in the ISR. Per round: a topic of 1 partition,
// RF=3, min.insync.replicas=2; one follower goes away (mode "restart":
// SIGKILL, and it is started again on its data; mode "sigstop": SIGSTOP,
// then SIGCONT); the leader takes STRAND_E2E_CATCHUP_BYTES (default 1 GiB)
// of 1 KiB records with acks=1; once the image shows the follower out of
// the ISR it comes back, and the clock runs from the restart (or SIGCONT)
// until the image's ISR names it again. Set STRAND_E2E_MEASURE=1 to run it;
// STRAND_E2E_CATCHUP_ROUNDS (default 3) rounds per mode,
// STRAND_E2E_CATCHUP_MODES (default "restart,sigstop").
func TestMeasureFollowerCatchUp(t *testing.T) {
	if os.Getenv("STRAND_E2E_MEASURE") == "" {
		t.Skip("measurement run: set STRAND_E2E_MEASURE=1")
	}
	total := int64(rounds("STRAND_E2E_CATCHUP_BYTES", 1<<30))
	nRounds := rounds("STRAND_E2E_CATCHUP_ROUNDS", 3)
	modes := strings.Split(os.Getenv("STRAND_E2E_CATCHUP_MODES"), ",")
	if os.Getenv("STRAND_E2E_CATCHUP_MODES") == "" {
		modes = []string{"restart", "sigstop"}
	}
	// lagMax 3 s: a follower that went away leaves the ISR soon after the
	// load starts (Kafka's default is 30 s; it only moves when the follower
	// leaves, not how fast it returns).
	c := startCluster(t, clusterOptions{lagMax: 3 * time.Second, dataArgs: []string{"--log-level", "warn"}})
	var boot []string
	for _, d := range c.data {
		boot = append(boot, d.addr)
	}
	const recordSize = 1024
	records := total / recordSize

	var results []catchUpRound
	for r := range nRounds {
		for _, mode := range modes {
			topic := fmt.Sprintf("cu-%s-r%d", mode, r)
			c.createTopic(topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
			c.waitFullISR(topic, 60*time.Second)
			rec := partition(c.image(), topic, 0)
			leader := c.node(rec.Leader)
			var f *dataNode
			for _, id := range rec.Replicas {
				if id != rec.Leader {
					f = c.node(id)
					break
				}
			}
			switch mode {
			case "restart":
				f.kill()
			case "sigstop":
				f.signal(syscall.SIGSTOP)
			default:
				t.Fatalf("unknown mode %q (restart or sigstop)", mode)
			}
			rep, err := bench.Produce(context.Background(), bench.Config{
				Bootstrap: boot, Topic: topic, Records: records, RecordSize: recordSize, Producers: 2,
				Acks: producer.AcksLeader, AcksSet: true, BatchSize: 256 << 10, Linger: 5 * time.Millisecond, MaxInFlight: 4,
			})
			if err != nil || rep.Errors > 0 {
				if mode == "sigstop" {
					f.signal(syscall.SIGCONT)
				}
				t.Fatalf("%s round %d: produce: %v (%d errors, first %s)", mode, r, err, rep.Errors, rep.FirstError)
			}
			c.eventually(90*time.Second, fmt.Sprintf("node %d out of the ISR of %s", f.id, topic), func() error {
				if p := partition(c.image(), topic, 0); slices.Contains(p.ISR, f.id) {
					return fmt.Errorf("isr %v", p.ISR)
				}
				return nil
			})
			lp, err := c.localPartitions(leader)
			if err != nil {
				t.Fatal(err)
			}
			leaderLEO := lp[topic+"-0"].LogEndOffset
			size := logBytes(t, leader, topic, 0)
			have := logBytes(t, f, topic, 0)
			// Dirty pages of the produce would compete with the catch-up.
			syscall.Sync()

			start := time.Now()
			switch mode {
			case "restart":
				if err := f.Restart(); err != nil {
					t.Fatal(err)
				}
			case "sigstop":
				f.signal(syscall.SIGCONT)
			}
			res := catchUpRound{mode: mode, bytes: size - have}
			deadline := start.Add(5 * time.Minute)
			for res.inISR == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%s round %d: node %d not back in the ISR of %s within 5 min", mode, r, f.id, topic)
				}
				if !f.Running() {
					t.Fatalf("node %d exited:\n%s", f.id, f.Tail(4000))
				}
				if res.healthy == 0 && healthyNow(c, f) {
					res.healthy = time.Since(start)
				}
				if res.caughtU == 0 && res.healthy > 0 {
					if lp, err := c.localPartitions(f); err == nil && lp[topic+"-0"].LogEndOffset >= leaderLEO {
						res.caughtU = time.Since(start)
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				img, err := c.meta.Image(ctx, false)
				cancel()
				if err == nil {
					if p := partition(img, topic, 0); p != nil && slices.Contains(p.ISR, f.id) {
						res.inISR = time.Since(start)
						if res.caughtU == 0 {
							res.caughtU = res.inISR
						}
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
			results = append(results, res)
			t.Logf("%s round %d: %d records (%.1f MB) produced at %.0f MB/s; node %d lacked %.1f MB; healthy after %v, caught up after %v, back in the ISR after %v (%.0f MB/s); load average %s",
				mode, r, leaderLEO, float64(size)/1e6, rep.MBPerSec, f.id, float64(res.bytes)/1e6,
				res.healthy.Round(time.Millisecond), res.caughtU.Round(time.Millisecond), res.inISR.Round(time.Millisecond),
				float64(res.bytes)/1e6/res.inISR.Seconds(), loadAvg())
			c.deleteTopic(topic)
			syscall.Sync()
		}
	}

	var tbl strings.Builder
	fmt.Fprintf(&tbl, "| follower away for %.2f GiB of 1 KiB records | rounds | healthy (median) | caught up (median) | back in the ISR (median, min–max) | MB/s to the ISR (median) |\n|---|---|---|---|---|---|\n",
		float64(total)/(1<<30))
	for _, mode := range modes {
		var rs []catchUpRound
		for _, r := range results {
			if r.mode == mode {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		med := func(get func(catchUpRound) time.Duration) time.Duration {
			var ds []time.Duration
			for _, r := range rs {
				ds = append(ds, get(r))
			}
			return median(ds)
		}
		isr := func(r catchUpRound) time.Duration { return r.inISR }
		var mbs []float64
		lo, hi := rs[0].inISR, rs[0].inISR
		for _, r := range rs {
			mbs = append(mbs, float64(r.bytes)/1e6/r.inISR.Seconds())
			lo, hi = min(lo, r.inISR), max(hi, r.inISR)
		}
		slices.Sort(mbs)
		healthyCell := med(func(r catchUpRound) time.Duration { return r.healthy }).Round(time.Millisecond).String()
		if mode == "sigstop" {
			healthyCell = "—"
		}
		fmt.Fprintf(&tbl, "| %s | %d | %s | %v | %v (%v–%v) | %.0f |\n", mode, len(rs), healthyCell,
			med(func(r catchUpRound) time.Duration { return r.caughtU }).Round(time.Millisecond),
			med(isr).Round(time.Millisecond), lo.Round(time.Millisecond), hi.Round(time.Millisecond), mbs[len(mbs)/2])
	}
	fmt.Fprintf(&tbl, "\nmachine: %d cores, %s; 3 strand-meta, 1 strand-controller, 3 strand-data on loopback\n", runtime.NumCPU(), runtime.Version())
	t.Logf("\n%s", tbl.String())
	if out := os.Getenv("STRAND_E2E_MEASURE_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(tbl.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// healthyNow reports whether a node answers /healthz with 200.
func healthyNow(c *cluster, d *dataNode) bool {
	resp, err := c.http.Get("http://" + d.addr + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
