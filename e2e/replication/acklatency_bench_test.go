package replication

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"strand.dev/client/producer"
	"strand.dev/client/record"
)

// sample is one reading of the machine and the cluster's processes.
type sample struct {
	at          time.Duration
	dirtyMB     float64 // /proc/meminfo Dirty + Writeback
	busy        float64 // machine CPU busy, in cores, since the previous sample
	procs       []float64
	leaderLag   int64 // leader's log end offset minus its high watermark
	followerLag int64 // leader's log end offset minus the smallest follower's
}

// meminfoDirtyMB reads Dirty + Writeback from /proc/meminfo.
func meminfoDirtyMB() float64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return -1
	}
	var kb float64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "Dirty:" || f[0] == "Writeback:") {
			v, _ := strconv.ParseFloat(f[1], 64)
			kb += v
		}
	}
	return kb / 1024
}

// cpuTicks reads the machine's busy jiffies (all but idle and iowait) from
// /proc/stat.
func cpuTicks() (busy float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line := strings.SplitN(string(b), "\n", 2)[0]
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseFloat(f, 64)
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy
}

// procTicks reads a process's user+system jiffies.
func procTicks(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return u + st
}

// TestMeasureAckLatency produces 1 KiB records at a fixed rate and prints,
// per second, the ack latency (p50, p99, max of the records sent in that
// second) beside the machine's dirty page cache, CPU use (machine and per
// process: the test process, then data nodes 1..3) and the leader's and
// followers' lag, to find what bounds the tail. Set STRAND_E2E_MEASURE=1;
// STRAND_E2E_ACKLAT_RATE (default 120000 records/s),
// STRAND_E2E_ACKLAT_SECONDS (15), STRAND_E2E_ACKLAT_RF (3; acks=all with
// min.insync.replicas=2, or 1 with acks=1), STRAND_E2E_ACKLAT_PARTITIONS (1),
// STRAND_E2E_ACKLAT_BATCH (producer batch.size, 65536) and
// STRAND_E2E_ACKLAT_IN_FLIGHT (requests in flight per partition, 4). It also
// prints the leader's own histogram of produce handling time, so time spent
// in the data plane can be told from time queued in the producers.
func TestMeasureAckLatency(t *testing.T) {
	if os.Getenv("STRAND_E2E_MEASURE") == "" {
		t.Skip("measurement run: set STRAND_E2E_MEASURE=1")
	}
	rate := rounds("STRAND_E2E_ACKLAT_RATE", 120_000)
	secs := rounds("STRAND_E2E_ACKLAT_SECONDS", 15)
	rf := int16(rounds("STRAND_E2E_ACKLAT_RF", 3))
	parts := int32(rounds("STRAND_E2E_ACKLAT_PARTITIONS", 1))
	c := startCluster(t, clusterOptions{lagMax: 30 * time.Second, dataArgs: []string{"--log-level", "warn"}})
	var boot []string
	for _, d := range c.data {
		boot = append(boot, d.addr)
	}
	topic := fmt.Sprintf("acklat-rf%d-p%d", rf, parts)
	acks := producer.AcksLeader
	configs := map[string]string{}
	if rf == 3 {
		acks = producer.AcksAll
		configs["min.insync.replicas"] = "2"
	}
	c.createTopic(topic, parts, rf, configs)
	if rf == 3 {
		c.waitFullISR(topic, 60*time.Second)
	}
	syscall.Sync()
	leader := c.node(partition(c.image(), topic, 0).Leader)
	batch := rounds("STRAND_E2E_ACKLAT_BATCH", 64<<10)
	inFlight := rounds("STRAND_E2E_ACKLAT_IN_FLIGHT", 4)
	// The leader's own view: its produce handler's time, arrival to
	// answer (the acks=all wait included), as a histogram.
	buckets := []string{"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "+Inf"}
	serverHist := func() []float64 {
		out := make([]float64, len(buckets))
		for i, le := range buckets {
			out[i] = metricValue(c, leader, `strand_data_http_request_duration_seconds_bucket{endpoint="produce",le="`+le+`"}`)
		}
		return out
	}
	histBefore := serverHist()

	const nProducers = 4
	type ack struct{ sent, lat time.Duration }
	var (
		mu    sync.Mutex
		acked []ack
		errs  int
	)
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	var samples []sample
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		pids := []int{os.Getpid()}
		for _, d := range c.data {
			pids = append(pids, d.PID())
		}
		prevBusy := cpuTicks()
		prev := make([]float64, len(pids))
		for i, p := range pids {
			prev[i] = procTicks(p)
		}
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		last := time.Now()
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			now := time.Now()
			dt := now.Sub(last).Seconds()
			last = now
			busy := cpuTicks()
			s := sample{at: now.Sub(start), dirtyMB: meminfoDirtyMB()}
			s.busy = (busy - prevBusy) / 100 / dt
			prevBusy = busy
			for i, p := range pids {
				v := procTicks(p)
				s.procs = append(s.procs, (v-prev[i])/100/dt)
				prev[i] = v
			}
			var leo, minF int64 = -1, -1
			for _, d := range c.data {
				lp, err := c.localPartitions(d)
				if err != nil {
					continue
				}
				p, ok := lp[topic+"-0"]
				if !ok {
					continue
				}
				if p.Leader {
					leo = p.LogEndOffset
					s.leaderLag = p.LogEndOffset - p.HighWatermark
				} else if minF < 0 || p.LogEndOffset < minF {
					minF = p.LogEndOffset
				}
			}
			if leo >= 0 && minF >= 0 {
				s.followerLag = leo - minF
			}
			samples = append(samples, s)
		}
	}()

	var wg sync.WaitGroup
	total := int64(rate) * int64(secs)
	payload := make([]byte, 1024)
	for i := range payload {
		payload[i] = byte(i*7 + 3)
	}
	for i := range nProducers {
		p, err := producer.New(producer.Bootstrap(boot...), producer.RequiredAcks(acks),
			producer.BatchSize(batch), producer.Linger(2*time.Millisecond), producer.MaxInFlight(inFlight),
			producer.BufferMemory(64<<20), producer.MaxRequestSize(1<<20))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer p.Close(context.Background())
			n := total / nProducers
			interval := time.Duration(float64(time.Second) * nProducers / float64(rate))
			base := start.Add(time.Duration(i) * interval / nProducers)
			for j := range n {
				if d := time.Until(base.Add(time.Duration(j) * interval)); d > 0 {
					time.Sleep(d)
				}
				sent := time.Since(start)
				p.Send(ctx, &record.Record{Topic: topic, Value: payload}, func(_ *record.Record, err error) {
					lat := time.Since(start) - sent
					mu.Lock()
					if err != nil {
						errs++
					} else {
						acked = append(acked, ack{sent, lat})
					}
					mu.Unlock()
				})
			}
		}()
	}
	wg.Wait()
	histAfter := serverHist()
	cancel()
	<-sampled
	if errs > 0 {
		t.Fatalf("%d records failed", errs)
	}
	pct := func(l []time.Duration, q float64) time.Duration {
		if len(l) == 0 {
			return 0
		}
		return l[min(len(l)-1, int(float64(len(l))*q))]
	}
	var all []time.Duration
	win := map[int][]time.Duration{}
	for _, a := range acked {
		all = append(all, a.lat)
		w := int(a.sent / time.Second)
		win[w] = append(win[w], a.lat)
	}
	slices.Sort(all)
	var out strings.Builder
	fmt.Fprintf(&out, "RF=%d acks=%v, %d partition(s), target %d rec/s for %d s: %d acked in %v; ack p50 %v p99 %v p99.9 %v max %v; leader is node %d\n",
		rf, acks, parts, rate, secs, len(acked), time.Since(start).Round(time.Millisecond),
		pct(all, .5).Round(10*time.Microsecond), pct(all, .99).Round(10*time.Microsecond), pct(all, .999).Round(10*time.Microsecond),
		all[len(all)-1].Round(10*time.Microsecond), leader.id)
	fmt.Fprintf(&out, "producers: %d, batch.size %d, linger 2ms, max in flight %d per partition; load average at the end %s\n", nProducers, batch, inFlight, loadAvg())
	if n := histAfter[len(buckets)-1] - histBefore[len(buckets)-1]; n > 0 {
		fmt.Fprintf(&out, "leader's produce handler (%0.f requests), share answered within:", n)
		for i, le := range buckets[:len(buckets)-1] {
			fmt.Fprintf(&out, " %ss %.2f%%", le, 100*(histAfter[i]-histBefore[i])/n)
		}
		fmt.Fprintln(&out)
	}
	fmt.Fprintf(&out, "%-5s %8s %9s %9s %9s\n", "sec", "records", "p50", "p99", "max")
	for w := 0; w <= secs+1; w++ {
		l := win[w]
		if len(l) == 0 {
			continue
		}
		slices.Sort(l)
		fmt.Fprintf(&out, "%-5d %8d %9v %9v %9v\n", w, len(l), pct(l, .5).Round(10*time.Microsecond), pct(l, .99).Round(10*time.Microsecond), l[len(l)-1].Round(10*time.Microsecond))
	}
	fmt.Fprintf(&out, "\n%-7s %8s %6s %s %9s %9s\n", "at", "dirtyMB", "busy", "cores: test data1 data2 data3", "hw lag", "f lag")
	for _, s := range samples {
		var ps []string
		for _, p := range s.procs {
			ps = append(ps, fmt.Sprintf("%.2f", p))
		}
		fmt.Fprintf(&out, "%-7v %8.0f %6.2f %-29s %9d %9d\n", s.at.Round(10*time.Millisecond), s.dirtyMB, s.busy, strings.Join(ps, " "), s.leaderLag, s.followerLag)
	}
	t.Logf("\n%s", out.String())
	if o := os.Getenv("STRAND_E2E_MEASURE_OUT"); o != "" {
		if err := os.WriteFile(o, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
