package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

// TestCleanerProduceImpact measures produce throughput on a standalone
// strand-data while its cleaner compacts 1 GiB of updates over 100,000
// keys of another topic, against the same node with the cleaner held back
// (min.compaction.lag.ms of an hour; the alter to 0 starts it). Produce: 4
// connections of 64 KiB batches of 1 KiB records, acks=1, to a plain
// topic, for as long as the cleaning takes; the baseline for as long.
// The two windows run back to back in alternating order. It writes several
// GiB per run, so it runs only with STRAND_CLEANER_BENCH=<runs>;
// STRAND_CLEANER_BENCH_ARGS adds strand-data flags (the I/O bound, say).
func TestCleanerProduceImpact(t *testing.T) {
	runs, _ := strconv.Atoi(os.Getenv("STRAND_CLEANER_BENCH"))
	if runs <= 0 {
		t.Skip("set STRAND_CLEANER_BENCH=<runs> to measure produce throughput while the cleaner runs")
	}
	var ratios []float64
	for run := range runs {
		args := append([]string{"--standalone", "--data-dir", t.TempDir(), "--log-cleaner-backoff", "50ms"},
			strings.Fields(os.Getenv("STRAND_CLEANER_BENCH_ARGS"))...)
		p := start(t, args...)
		p.must("POST", wire.PathAdminTopics, []byte(`{"topic":"table","partitions":1,"configs":{"cleanup.policy":"compact","segment.bytes":"134217728","min.compaction.lag.ms":"3600000"}}`))
		p.must("POST", wire.PathAdminTopics, []byte(`{"topic":"load","partitions":1}`))
		fillTable(t, p, 1<<30, 100_000)

		cleanerFirst := run%2 == 0
		var with, without float64
		var window time.Duration
		measureWith := func() {
			runsBefore := scrapeMetric(t, p, "strand_data_log_cleaner_runs_total")
			p.must("POST", wire.PathAdminConfigs, []byte(`{"topic":"table","set":{"min.compaction.lag.ms":"0"}}`))
			startAt := time.Now()
			with = produceLoad(t, p, func() bool {
				return scrapeMetric(t, p, "strand_data_log_cleaner_runs_total") > runsBefore
			})
			window = time.Since(startAt)
		}
		if cleanerFirst {
			measureWith()
			deadline := time.Now().Add(window)
			without = produceLoad(t, p, func() bool { return time.Now().After(deadline) })
		} else {
			deadline := time.Now().Add(12 * time.Second)
			without = produceLoad(t, p, func() bool { return time.Now().After(deadline) })
			measureWith()
		}
		took := scrapeMetric(t, p, "strand_data_log_cleaner_last_run_duration_seconds")
		ratios = append(ratios, with/without)
		t.Logf("run %d (cleaner window %s): produce %.0f MB/s with the cleaner running, %.0f MB/s without: %.0f%%; the cleaning took %.1f s under the load (%.0f MB/s of log)",
			run, map[bool]string{true: "first", false: "second"}[cleanerFirst], with, without, 100*with/without, took, 1073.7/took)
		if code := p.stop(); code != 0 {
			t.Fatalf("exit %d", code)
		}
	}
	sort.Float64s(ratios)
	t.Logf("median produce throughput with the cleaner: %.0f%% of without, over %d runs (%v)", 100*ratios[len(ratios)/2], len(ratios), ratios)
}

// fillTable produces total bytes of 64 KiB batches of 1 KiB values over
// keys keys to topic table.
func fillTable(t *testing.T, p *proc, total int64, keys int) {
	t.Helper()
	value := bytes.Repeat([]byte("v"), 1000)
	var sent atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			c := &http.Client{Timeout: 60 * time.Second}
			b := recordbatch.NewBuilder(recordbatch.EncodeOptions{})
			for sent.Load() < total {
				b.Reset(recordbatch.EncodeOptions{})
				for b.Size() < 64<<10-1100 {
					b.Add(recordbatch.Record{Timestamp: time.Now().UnixMilli(), Key: []byte(fmt.Sprintf("key-%06d", rng.IntN(keys))), Value: value})
				}
				out, err := b.Build()
				if err != nil {
					t.Error(err)
					return
				}
				if err := post(c, p.addr, "table", out); err != nil {
					t.Error(err)
					return
				}
				sent.Add(int64(len(out)))
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// produceLoad produces 64 KiB batches of 1 KiB records to topic load over 4
// connections until done says so (checked every 100 ms) and returns MB/s.
func produceLoad(t *testing.T, p *proc, done func() bool) float64 {
	t.Helper()
	b := recordbatch.NewBuilder(recordbatch.EncodeOptions{})
	for b.Size() < 64<<10-1100 {
		b.Add(recordbatch.Record{Timestamp: time.Now().UnixMilli(), Value: bytes.Repeat([]byte("x"), 1024)})
	}
	batch, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var sent atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 60 * time.Second}
			for !stop.Load() {
				if err := post(c, p.addr, "load", batch); err != nil {
					t.Error(err)
					return
				}
				sent.Add(int64(len(batch)))
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Minute)
	for !done() && !t.Failed() {
		if time.Now().After(deadline) {
			t.Error("the measured window did not end within 10 minutes")
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop.Store(true)
	took := time.Since(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return float64(sent.Load()) / took.Seconds() / 1e6
}

// post produces one batch with acks=1.
func post(c *http.Client, addr, topic string, batch []byte) error {
	resp, err := c.Post("http://"+addr+wire.PathProduce+"?topic="+topic+"&partition=0&acks=1", "application/vnd.strand.batch", bytes.NewReader(batch))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("produce to %s: HTTP %d %s", topic, resp.StatusCode, body)
	}
	return nil
}

// scrapeMetric returns the value of an unlabelled series of /metrics (-1
// when absent).
func scrapeMetric(t *testing.T, p *proc, name string) float64 {
	t.Helper()
	_, body := p.request("GET", wire.PathMetrics, nil)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}
