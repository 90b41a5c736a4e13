package replication

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"strand.dev/client/bench"
)

// cliRun is one `strand bench` invocation of the load-tester measurement.
type cliRun struct {
	name  string
	mode  string // produce, consume, e2e
	rf    int16
	parts int32
	args  []string // after `bench MODE --topic T`
	// reads names the produce row whose topic a consume run reads.
	reads string
	// procs > 1 runs that many strand processes at once, each with its
	// share of the records; the row counts all records over the longest
	// run.
	procs int
}

// runBenchCLI runs the strand binary's bench command and decodes its JSON
// report.
func runBenchCLI(t *testing.T, bootstrap []string, mode, topic string, args ...string) *bench.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	full := append([]string{"-b", strings.Join(bootstrap, ","), "bench", mode, "--topic", topic, "--json"}, args...)
	cmd := exec.CommandContext(ctx, binary(t, "strand"), full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("strand %s: %v\nstdout: %s\nstderr: %s", strings.Join(full, " "), err, stdout.String(), stderr.String())
	}
	var rep bench.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("strand %s: report %q: %v", strings.Join(full, " "), stdout.String(), err)
	}
	if rep.Errors > 0 {
		t.Fatalf("strand %s: %d errors, first %s", strings.Join(full, " "), rep.Errors, rep.FirstError)
	}
	return &rep
}

// runBenchProcs runs n strand bench processes at once on the same topic,
// each with its share of --records, and sums their reports: records and
// bytes over the longest elapsed time; latency percentiles are the worst
// of the processes'.
func runBenchProcs(t *testing.T, bootstrap []string, n int, mode, topic string, args ...string) *bench.Report {
	t.Helper()
	args = slices.Clone(args)
	for i := range args {
		if args[i] == "--records" && i+1 < len(args) {
			var total int
			fmt.Sscan(args[i+1], &total)
			args[i+1] = fmt.Sprint(total / n)
		}
	}
	reps := make([]*bench.Report, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i] = runBenchCLI(t, bootstrap, mode, topic, args...)
		}()
	}
	wg.Wait()
	sum := &bench.Report{Mode: mode}
	for _, r := range reps {
		if r == nil {
			t.FailNow()
		}
		sum.Records += r.Records
		sum.Bytes += r.Bytes
		sum.Elapsed = max(sum.Elapsed, r.Elapsed)
		sum.Latency.P50 = max(sum.Latency.P50, r.Latency.P50)
		sum.Latency.P95 = max(sum.Latency.P95, r.Latency.P95)
		sum.Latency.P99 = max(sum.Latency.P99, r.Latency.P99)
		sum.Latency.P999 = max(sum.Latency.P999, r.Latency.P999)
		sum.Latency.Max = max(sum.Latency.Max, r.Latency.Max)
	}
	sum.RecordsPerSec = float64(sum.Records) / sum.Elapsed.Seconds()
	sum.MBPerSec = float64(sum.Bytes) / 1e6 / sum.Elapsed.Seconds()
	return sum
}

// loadAvg is the machine's 1-minute load average (other work on the
// machine bounds these figures; the log says how busy it was).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// TestMeasureLoadTester runs the load tester (the strand binary's `bench`
// command, as an operator would) against one cluster of 3 strand-meta, 1
// strand-controller and 3 strand-data: produce of 1 KiB records with RF=3
// acks=all (min.insync.replicas=2) and acks=1 beside RF=1 acks=1, on 1 and
// 12 partitions; consume of what RF=3 acks=all produced; e2e latency at
// 10,000 records/s on RF=3. Rows run in turn within a round; each round
// uses fresh topics, and each topic is deleted and the page cache written
// back before the next produce. Set STRAND_E2E_MEASURE=1 to run it;
// STRAND_E2E_LOADTEST_ROUNDS (default 3), STRAND_E2E_LOADTEST_RECORDS
// (default 1,000,000 per produce or consume), STRAND_E2E_LOADTEST_E2E_RECORDS
// (default 200,000 at 10,000 records/s).
func TestMeasureLoadTester(t *testing.T) {
	if os.Getenv("STRAND_E2E_MEASURE") == "" {
		t.Skip("measurement run: set STRAND_E2E_MEASURE=1")
	}
	nRounds := rounds("STRAND_E2E_LOADTEST_ROUNDS", 3)
	records := fmt.Sprint(rounds("STRAND_E2E_LOADTEST_RECORDS", 1_000_000))
	e2eRecords := fmt.Sprint(rounds("STRAND_E2E_LOADTEST_E2E_RECORDS", 200_000))
	c := startCluster(t, clusterOptions{lagMax: 30 * time.Second, dataArgs: []string{"--log-level", "warn"}})
	var boot []string
	for _, d := range c.data {
		boot = append(boot, d.addr)
	}
	common := []string{"--records", records, "--record-size", "1024"}
	runs := []cliRun{
		{name: "produce RF=1 acks=1, 1 partition", mode: "produce", rf: 1, parts: 1, args: []string{"--acks", "1"}},
		{name: "produce RF=3 acks=1, 1 partition", mode: "produce", rf: 3, parts: 1, args: []string{"--acks", "1"}},
		{name: "produce RF=3 acks=all, 1 partition", mode: "produce", rf: 3, parts: 1, args: []string{"--acks", "all"}},
		{name: "consume RF=3, 1 partition", mode: "consume", rf: 3, parts: 1, reads: "produce RF=3 acks=all, 1 partition"},
		{name: "produce RF=1 acks=1, 12 partitions", mode: "produce", rf: 1, parts: 12, args: []string{"--acks", "1"}},
		{name: "produce RF=3 acks=1, 12 partitions", mode: "produce", rf: 3, parts: 12, args: []string{"--acks", "1"}},
		{name: "produce RF=3 acks=all, 12 partitions", mode: "produce", rf: 3, parts: 12, args: []string{"--acks", "all"}},
		{name: "produce RF=3 acks=all, 12 partitions, 3 processes", mode: "produce", rf: 3, parts: 12, procs: 3,
			args: []string{"--acks", "all"}},
		{name: "consume RF=3, 12 partitions", mode: "consume", rf: 3, parts: 12, reads: "produce RF=3 acks=all, 12 partitions"},
		{name: "e2e RF=3 acks=all at 10,000 rec/s, 12 partitions", mode: "e2e", rf: 3, parts: 12,
			args: []string{"--acks", "all", "--rate", "10000"}},
		{name: "e2e RF=3 acks=all at 10,000 rec/s, 1 partition", mode: "e2e", rf: 3, parts: 1,
			args: []string{"--acks", "all", "--rate", "10000"}},
	}
	results := make([][]*bench.Report, len(runs))
	for r := range nRounds {
		topics := map[string]string{}
		for i, run := range runs {
			topic := fmt.Sprintf("lt-r%d-%d", r, i)
			if run.reads != "" {
				topic = topics[run.reads]
			} else {
				configs := map[string]string{}
				if run.rf == 3 {
					configs["min.insync.replicas"] = "2"
				}
				c.createTopic(topic, run.parts, run.rf, configs)
				if run.rf == 3 {
					c.waitFullISR(topic, 60*time.Second)
				}
				syscall.Sync()
			}
			topics[run.name] = topic
			var args []string
			switch run.mode {
			case "e2e":
				args = append([]string{"--records", e2eRecords, "--record-size", "1024"}, run.args...)
			case "consume":
				args = []string{"--records", records, "--record-size", "1024"}
			default:
				args = append(slices.Clone(common), run.args...)
			}
			var rep *bench.Report
			if run.procs > 1 {
				rep = runBenchProcs(t, boot, run.procs, run.mode, topic, args...)
			} else {
				rep = runBenchCLI(t, boot, run.mode, topic, args...)
			}
			results[i] = append(results[i], rep)
			t.Logf("round %d, %s: %.0f rec/s, %.1f MB/s, p50 %v p95 %v p99 %v p99.9 %v max %v; load average %s", r, run.name,
				rep.RecordsPerSec, rep.MBPerSec, rep.Latency.P50, rep.Latency.P95, rep.Latency.P99, rep.Latency.P999, rep.Latency.Max, loadAvg())
		}
		// Every topic of the round goes, with its data.
		for _, topic := range topics {
			c.deleteTopic(topic)
		}
		syscall.Sync()
	}

	med := func(rs []*bench.Report, get func(*bench.Report) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	ms := func(get func(*bench.Report) time.Duration) func(*bench.Report) float64 {
		return func(r *bench.Report) float64 { return float64(get(r)) / float64(time.Millisecond) }
	}
	var tbl strings.Builder
	fmt.Fprintf(&tbl, "| run (1 KiB records; medians of %d rounds) | records/s | MB/s | p50 ms | p99 ms | p99.9 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|\n", nRounds)
	byName := map[string]float64{}
	for i, run := range runs {
		rs := results[i]
		rps := med(rs, func(r *bench.Report) float64 { return r.RecordsPerSec })
		byName[run.name] = rps
		lat := "– | – | – | –"
		if run.mode != "consume" {
			lat = fmt.Sprintf("%.2f | %.2f | %.2f | %.2f",
				med(rs, ms(func(r *bench.Report) time.Duration { return r.Latency.P50 })),
				med(rs, ms(func(r *bench.Report) time.Duration { return r.Latency.P99 })),
				med(rs, ms(func(r *bench.Report) time.Duration { return r.Latency.P999 })),
				med(rs, ms(func(r *bench.Report) time.Duration { return r.Latency.Max })))
		}
		var all []string
		for _, r := range rs {
			all = append(all, fmt.Sprintf("%.0f", r.RecordsPerSec))
		}
		fmt.Fprintf(&tbl, "| %s | %.0f | %.1f | %s |\n", run.name, rps,
			med(rs, func(r *bench.Report) float64 { return r.MBPerSec }), lat)
		t.Logf("%s: records/s of each round %s", run.name, strings.Join(all, ", "))
	}
	for _, parts := range []string{"1 partition", "12 partitions"} {
		base := byName["produce RF=1 acks=1, "+parts]
		fmt.Fprintf(&tbl, "\n%s: RF=3 acks=1 / RF=1 acks=1 = %.0f%%, RF=3 acks=all / RF=1 acks=1 = %.0f%%", parts,
			100*byName["produce RF=3 acks=1, "+parts]/base, 100*byName["produce RF=3 acks=all, "+parts]/base)
	}
	fmt.Fprintf(&tbl, "\none producer process / three, RF=3 acks=all, 12 partitions: %.0f%%",
		100*byName["produce RF=3 acks=all, 12 partitions"]/byName["produce RF=3 acks=all, 12 partitions, 3 processes"])
	fmt.Fprintf(&tbl, "\n\nmachine: %d cores, %s; 3 strand-meta, 1 strand-controller, 3 strand-data and the strand load tester on loopback\n",
		runtime.NumCPU(), runtime.Version())
	t.Logf("\n%s", tbl.String())
	if out := os.Getenv("STRAND_E2E_MEASURE_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(tbl.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
