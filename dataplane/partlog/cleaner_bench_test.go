package partlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"strand.dev/client/recordbatch"
)

// TestCleanerThroughput measures the cleaner on 1 GiB of updates over
// 100,000 keys (1 KiB values, 64 KiB batches, 128 MiB segments, the
// default 128 MiB key map, real fsyncs): MB/s of log read by one cleaning
// that deduplicates it all. It writes 1 GiB per run, so it runs only with
// PARTLOG_CLEANER_BENCH=<runs>; it prints each run and the median.
func TestCleanerThroughput(t *testing.T) {
	runs, _ := strconv.Atoi(os.Getenv("PARTLOG_CLEANER_BENCH"))
	if runs <= 0 {
		t.Skip("set PARTLOG_CLEANER_BENCH=<runs> to measure cleaning of 1 GiB over 100,000 keys")
	}
	const keys = 100_000
	var rates, cpuRates []float64
	for run := range runs {
		dir := t.TempDir()
		cfg := DefaultConfig()
		cfg.CleanupPolicy = PolicyCompact
		cfg.SegmentBytes = 128 << 20
		l, err := Open(dir, cfg, Options{Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(uint64(run), 1))
		value := make([]byte, 1000)
		for i := range value {
			value[i] = byte('a' + i%26)
		}
		b := recordbatch.NewBuilder(recordbatch.EncodeOptions{})
		var written int64
		ts := time.Now().UnixMilli()
		for written < 1<<30 {
			b.Reset(recordbatch.EncodeOptions{})
			for b.Size() < 64<<10-1100 {
				b.Add(recordbatch.Record{Timestamp: ts, Key: []byte(fmt.Sprintf("key-%06d", rng.IntN(keys))), Value: value})
			}
			out, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Append(out); err != nil {
				t.Fatal(err)
			}
			written += int64(len(out))
		}
		rollNow(t, l)
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		var before, after syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &before)
		cleanStart := time.Now()
		var steps []string
		hook := func(p string) {
			steps = append(steps, fmt.Sprintf("%s@%v", p, time.Since(cleanStart).Round(10*time.Millisecond)))
		}
		res, err := l.Clean(context.Background(), CleanOptions{KeyMapBytes: 128 << 20, BufferBytes: 1 << 20, hook: hook})
		syscall.Getrusage(syscall.RUSAGE_SELF, &after)
		if err != nil {
			t.Fatal(err)
		}
		if res.MapEnd != l.EndOffset() || res.Keys < keys*99/100 {
			t.Fatalf("cleaned to %d of %d with %d keys", res.MapEnd, l.EndOffset(), res.Keys)
		}
		cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
		logMB := float64(written) / 1e6
		mbps := logMB / res.Took.Seconds()
		rates = append(rates, mbps)
		cpuRates = append(cpuRates, logMB/cpu.Seconds())
		t.Logf("run %d: log of %.0f MB (%d segments -> %d, %.0f MB written) cleaned in %v: %.0f MB/s of log (%.0f MB/s read, both passes); CPU %v: %.0f MB of log per CPU-second",
			run, logMB, res.SegmentsIn, res.SegmentsOut, float64(res.BytesWritten)/1e6, res.Took.Round(time.Millisecond), mbps,
			float64(res.BytesRead)/1e6/res.Took.Seconds(), cpu.Round(time.Millisecond), logMB/cpu.Seconds())
		if os.Getenv("PARTLOG_CLEANER_BENCH_STEPS") != "" {
			t.Logf("steps: %v", steps)
		}
		l.Close()
		os.RemoveAll(dir)
	}
	sort.Float64s(rates)
	sort.Float64s(cpuRates)
	t.Logf("median %.0f MB/s of log (wall), %.0f MB per CPU-second, over %d runs", rates[len(rates)/2], cpuRates[len(cpuRates)/2], len(rates))
}
