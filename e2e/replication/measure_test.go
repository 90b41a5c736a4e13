package replication

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"strand.dev/client/bench"
	"strand.dev/client/producer"
	"strand.dev/client/recordbatch"
)

// encodeRecords builds one batch of n records of size bytes.
func encodeRecords(n, size int) []byte {
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{Timestamp: time.Now().UnixMilli(), Value: []byte(strings.Repeat("x", size))}
	}
	b, err := recordbatch.Encode(recs, recordbatch.EncodeOptions{})
	if err != nil {
		panic(err)
	}
	return b
}

// workload is one produce run of the measurement.
type workload struct {
	rf    int16
	acks  producer.Acks
	parts int32
}

func (w workload) name() string {
	a := "1"
	if w.acks == producer.AcksAll {
		a = "all"
	}
	return fmt.Sprintf("RF=%d acks=%s, %d partition(s)", w.rf, a, w.parts)
}

// lagSampler polls every node's partitions and records, per sample, the
// largest gap between a partition leader's log end offset and a follower's.
type lagSampler struct {
	c     *cluster
	topic string
	mu    sync.Mutex
	lags  []int64
}

func (s *lagSampler) run(ctx context.Context) {
	for ctx.Err() == nil {
		leo := map[string][2]int64{} // partition -> (leader leo, min follower leo)
		for _, d := range s.c.data {
			lp, err := s.c.localPartitions(d)
			if err != nil {
				continue
			}
			for name, p := range lp {
				if !strings.HasPrefix(name, s.topic+"-") {
					continue
				}
				cur, ok := leo[name]
				if !ok {
					cur = [2]int64{-1, -1}
				}
				if p.Leader {
					cur[0] = p.LogEndOffset
				} else if cur[1] < 0 || p.LogEndOffset < cur[1] {
					cur[1] = p.LogEndOffset
				}
				leo[name] = cur
			}
		}
		var worst int64
		for _, v := range leo {
			if v[0] >= 0 && v[1] >= 0 {
				worst = max(worst, v[0]-v[1])
			}
		}
		s.mu.Lock()
		s.lags = append(s.lags, worst)
		s.mu.Unlock()
		sleepCtx(ctx, 100*time.Millisecond)
	}
}

func (s *lagSampler) summary() (p50, p99, maxLag int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lags) == 0 {
		return 0, 0, 0
	}
	l := slices.Clone(s.lags)
	slices.Sort(l)
	return l[len(l)/2], l[len(l)*99/100], l[len(l)-1]
}

// TestMeasureReplication measures, on one cluster and in one run: produce
// throughput and ack latency of 1 KiB records with RF=3 acks=all against
// RF=1 acks=1 on 1 and 12 partitions (median of STRAND_E2E_MEASURE_ROUNDS
// rounds, default 3), the replication lag under that load, and the ack
// latency of RF=3 acks=all at half its maximum throughput. Set
// STRAND_E2E_MEASURE=1 to run it; STRAND_E2E_MEASURE_RECORDS sets the
// records per run (default 300,000).
func TestMeasureReplication(t *testing.T) {
	if os.Getenv("STRAND_E2E_MEASURE") == "" {
		t.Skip("measurement run: set STRAND_E2E_MEASURE=1")
	}
	records := int64(rounds("STRAND_E2E_MEASURE_RECORDS", 300_000))
	nRounds := rounds("STRAND_E2E_MEASURE_ROUNDS", 3)
	c := startCluster(t, clusterOptions{lagMax: 30 * time.Second, dataArgs: []string{"--log-level", "warn"}})
	var boot []string
	for _, d := range c.data {
		boot = append(boot, d.addr)
	}
	works := []workload{
		{1, producer.AcksLeader, 1}, {3, producer.AcksAll, 1},
		{1, producer.AcksLeader, 12}, {3, producer.AcksAll, 12},
	}
	type result struct {
		reports []*bench.Report
		lag     [][3]int64
	}
	results := make([]result, len(works))
	run := func(w workload, topic string, rate float64, n int64) (*bench.Report, [3]int64) {
		configs := map[string]string{}
		if w.rf == 3 {
			configs["min.insync.replicas"] = "2"
		}
		c.createTopic(topic, w.parts, w.rf, configs)
		if w.rf == 3 {
			c.waitFullISR(topic, 60*time.Second)
		}
		ctx, cancel := context.WithCancel(context.Background())
		s := &lagSampler{c: c, topic: topic}
		done := make(chan struct{})
		go func() { defer close(done); s.run(ctx) }()
		rep, err := bench.Produce(context.Background(), bench.Config{
			Bootstrap: boot, Topic: topic, Records: n, RecordSize: 1024, Producers: 4,
			Acks: w.acks, AcksSet: true, BatchSize: 64 << 10, Linger: 2 * time.Millisecond, MaxInFlight: 4, Rate: rate,
		})
		cancel()
		<-done
		if err != nil {
			t.Fatalf("%s: %v", w.name(), err)
		}
		if rep.Errors > 0 {
			t.Fatalf("%s: %d errors, first %s", w.name(), rep.Errors, rep.FirstError)
		}
		p50, p99, mx := s.summary()
		// Each run starts clean: the topic's data goes, and the page cache
		// is written back (dirty pages of earlier runs would otherwise
		// compete with the next run's writes).
		c.deleteTopic(topic)
		syscall.Sync()
		return rep, [3]int64{p50, p99, mx}
	}
	for r := range nRounds {
		for i, w := range works {
			rep, lag := run(w, fmt.Sprintf("m-rf%d-p%d-r%d", w.rf, w.parts, r), 0, records)
			results[i].reports = append(results[i].reports, rep)
			results[i].lag = append(results[i].lag, lag)
			t.Logf("round %d %s: %.0f rec/s (%.1f MB/s), ack p50 %v p99 %v p99.9 %v; follower lag p50/p99/max %d/%d/%d records",
				r, w.name(), rep.RecordsPerSec, rep.MBPerSec, rep.Latency.P50, rep.Latency.P99, rep.Latency.P999, lag[0], lag[1], lag[2])
		}
	}
	med := func(rs []*bench.Report) *bench.Report {
		s := slices.Clone(rs)
		slices.SortFunc(s, func(a, b *bench.Report) int {
			switch {
			case a.RecordsPerSec < b.RecordsPerSec:
				return -1
			case a.RecordsPerSec > b.RecordsPerSec:
				return 1
			}
			return 0
		})
		return s[len(s)/2]
	}
	var tbl strings.Builder
	fmt.Fprintf(&tbl, "| workload (1 KiB records, 4 producers, 64 KiB batches, 4 in flight) | records/s | MB/s | ack p50 | ack p99 | ack p99.9 | follower lag p99 / max (records) |\n|---|---|---|---|---|---|---|\n")
	maxRate := map[int32]float64{}
	for i, w := range works {
		m := med(results[i].reports)
		var lag [3]int64
		for _, l := range results[i].lag {
			lag[1], lag[2] = max(lag[1], l[1]), max(lag[2], l[2])
		}
		lagCell := "—"
		if w.rf == 3 {
			lagCell = fmt.Sprintf("%d / %d", lag[1], lag[2])
			maxRate[w.parts] = m.RecordsPerSec
		}
		fmt.Fprintf(&tbl, "| %s | %.0f | %.1f | %v | %v | %v | %s |\n", w.name(), m.RecordsPerSec, m.MBPerSec,
			m.Latency.P50.Round(10*time.Microsecond), m.Latency.P99.Round(10*time.Microsecond), m.Latency.P999.Round(10*time.Microsecond), lagCell)
	}
	for i := 0; i+1 < len(works); i += 2 {
		rf1, rf3 := med(results[i].reports), med(results[i+1].reports)
		fmt.Fprintf(&tbl, "\nRF=3 acks=all / RF=1 acks=1 on %d partition(s): %.0f%%", works[i].parts, 100*rf3.RecordsPerSec/rf1.RecordsPerSec)
	}
	fmt.Fprintf(&tbl, "\n\n| at half the maximum RF=3 acks=all rate (RF=1 acks=1 at the same rate for comparison) | target rec/s | achieved rec/s | ack p50 | ack p99 | ack p99.9 |\n|---|---|---|---|---|---|\n")
	for _, parts := range []int32{1, 12} {
		rate := maxRate[parts] / 2
		for _, w := range []workload{{3, producer.AcksAll, parts}, {1, producer.AcksLeader, parts}} {
			rep, _ := run(w, fmt.Sprintf("m-half-rf%d-p%d", w.rf, parts), rate, int64(rate*15))
			fmt.Fprintf(&tbl, "| %s | %.0f | %.0f | %v | %v | %v |\n", w.name(), rate, rep.RecordsPerSec,
				rep.Latency.P50.Round(10*time.Microsecond), rep.Latency.P99.Round(10*time.Microsecond), rep.Latency.P999.Round(10*time.Microsecond))
		}
	}
	fmt.Fprintf(&tbl, "\n| one 1 KiB record per request, one request at a time (2,000 requests) | p50 | p99 | p99.9 |\n|---|---|---|---|\n")
	for _, w := range []workload{{1, producer.AcksLeader, 1}, {3, producer.AcksAll, 1}} {
		topic := fmt.Sprintf("m-seq-rf%d", w.rf)
		configs := map[string]string{}
		if w.rf == 3 {
			configs["min.insync.replicas"] = "2"
		}
		c.createTopic(topic, 1, w.rf, configs)
		if w.rf == 3 {
			c.waitFullISR(topic, 60*time.Second)
		}
		syscall.Sync()
		rec := partition(c.image(), topic, 0)
		addr := c.node(rec.Leader).addr
		acks := "1"
		if w.acks == producer.AcksAll {
			acks = "-1"
		}
		b := encodeRecords(1, 1024)
		var lat []time.Duration
		for range 2000 {
			start := time.Now()
			if _, code := produce(context.Background(), c.http, addr, topic, 0, acks, 10*time.Second, b); code != "" {
				t.Fatalf("%s: %s", w.name(), code)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		fmt.Fprintf(&tbl, "| %s | %v | %v | %v |\n", w.name(), lat[len(lat)/2].Round(time.Microsecond),
			lat[len(lat)*99/100].Round(time.Microsecond), lat[len(lat)*999/1000].Round(time.Microsecond))
	}
	fmt.Fprintf(&tbl, "\nmachine: %d cores, %s, %s; one cluster (3 strand-meta, 1 strand-controller, 3 strand-data) and the load in the test process, all on loopback\n",
		runtime.NumCPU(), runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH)
	t.Logf("\n%s", tbl.String())
	if out := os.Getenv("STRAND_E2E_MEASURE_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(tbl.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
