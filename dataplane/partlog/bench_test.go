package partlog

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"strand.dev/client/recordbatch"
)

// benchBatch is one batch of 1 KiB records of about size bytes.
func benchBatch(b *testing.B, size int) []byte {
	n := max(size/1024, 1)
	recs := make([]recordbatch.Record, n)
	v := make([]byte, 1024-40) // a 1 KiB record on the wire, headers included
	for i := range recs {
		recs[i] = recordbatch.Record{Timestamp: time.Now().UnixMilli(), Key: []byte("key-000000"), Value: v}
	}
	out, err := recordbatch.Encode(recs, recordbatch.EncodeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// benchTotal is what one operation of the append and dd benchmarks writes.
const benchTotal = 1 << 30

// settle writes dirty pages back (outside the timer), so that every
// operation starts from the same page-cache state.
func settle(b *testing.B) {
	b.StopTimer()
	if err := exec.Command("sync").Run(); err != nil {
		b.Logf("sync: %v", err)
	}
	b.StartTimer()
}

// BenchmarkDDBaseline runs `dd if=/dev/zero of=F bs=1M count=1024` (no
// fsync) on the disk the benchmarks write to: the baseline the append
// target (>= 70% of dd bs=1M) is measured against. bs=16K writes the same
// GiB in the write size of the smallest append batches, for reference.
func BenchmarkDDBaseline(b *testing.B) {
	dd, err := exec.LookPath("dd")
	if err != nil {
		b.Skip("no dd")
	}
	for _, bs := range []struct {
		name  string
		count int
	}{{"1M", 1024}, {"16K", 65536}} {
		b.Run("bs="+bs.name, func(b *testing.B) {
			dir := b.TempDir()
			b.SetBytes(benchTotal)
			for i := 0; i < b.N; i++ {
				out := filepath.Join(dir, fmt.Sprintf("dd-%d.bin", i))
				settle(b)
				cmd := exec.Command(dd, "if=/dev/zero", "of="+out, "bs="+bs.name, "count="+strconv.Itoa(bs.count))
				if msg, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("dd: %v: %s", err, msg)
				}
				b.StopTimer()
				os.Remove(out)
				b.StartTimer()
			}
		})
	}
}

// BenchmarkAppend appends 1 GiB of 1 KiB records per operation, in batches
// of 16 KiB to 1 MiB, round-robin to 1 and to 100 partitions of one manager
// with Kafka's default config (page cache, no forced flush). MB/s compares
// directly with BenchmarkDDBaseline, which writes 1 GiB per operation too;
// run both in the same session (scripts/bench-log).
func BenchmarkAppend(b *testing.B) {
	for _, parts := range []int{1, 100} {
		for _, size := range []int{16 << 10, 64 << 10, 256 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("partitions=%d/batch=%dKiB", parts, size>>10), func(b *testing.B) {
				batch := benchBatch(b, size)
				n := benchTotal / len(batch)
				b.SetBytes(int64(n * len(batch)))
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					dir := b.TempDir()
					m, err := OpenManager(dir, ManagerOptions{Logger: quietLogger()})
					if err != nil {
						b.Fatal(err)
					}
					logs := make([]*Log, parts)
					for p := range logs {
						if logs[p], err = m.Create("bench", int32(p), DefaultConfig()); err != nil {
							b.Fatal(err)
						}
					}
					settle(b)
					for k := 0; k < n; k++ {
						if _, err := logs[k%parts].Append(batch); err != nil {
							b.Fatal(err)
						}
					}
					b.StopTimer()
					m.abandon()
					os.RemoveAll(dir)
					b.StartTimer()
				}
			})
		}
	}
}

// BenchmarkAppendConcurrent is BenchmarkAppend for 100 partitions with
// two appending goroutines (each on its own half of the partitions), as a
// server with several producers runs: one request's validation (CRC-32C,
// record walk) overlaps another's write.
func BenchmarkAppendConcurrent(b *testing.B) {
	const parts, writers = 100, 2
	for _, size := range []int{16 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("partitions=%d/appenders=%d/batch=%dKiB", parts, writers, size>>10), func(b *testing.B) {
			batches := make([][]byte, writers)
			for w := range batches {
				batches[w] = benchBatch(b, size)
			}
			n := benchTotal / len(batches[0])
			b.SetBytes(int64(n * len(batches[0])))
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := b.TempDir()
				m, err := OpenManager(dir, ManagerOptions{Logger: quietLogger()})
				if err != nil {
					b.Fatal(err)
				}
				logs := make([]*Log, parts)
				for p := range logs {
					if logs[p], err = m.Create("bench", int32(p), DefaultConfig()); err != nil {
						b.Fatal(err)
					}
				}
				settle(b)
				var wg sync.WaitGroup
				for w := 0; w < writers; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for k := w; k < n; k += writers {
							if _, err := logs[(k/writers)%(parts/writers)*writers+w].Append(batches[w]); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				m.abandon()
				os.RemoveAll(dir)
				b.StartTimer()
			}
		})
	}
}

// BenchmarkRead reads a 256 MiB log from the start in 1 MiB regions (the
// lookup work of a catching-up consumer; the bytes themselves go by
// sendfile and are not read here).
func BenchmarkRead(b *testing.B) {
	m, err := OpenManager(b.TempDir(), ManagerOptions{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 20
	l, _ := m.Create("read", 0, cfg)
	batch := benchBatch(b, 16<<10)
	for l.Stats().SizeBytes < 256<<20 {
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	end := l.EndOffset()
	b.ResetTimer()
	var bytes int64
	for i := 0; i < b.N; i++ {
		off := int64(0)
		for off < end {
			r, err := l.Read(off, 1<<20, end)
			if err != nil {
				b.Fatal(err)
			}
			bytes += r.Len
			r.File.Close()
			off = r.NextOffset
		}
	}
	b.ReportMetric(float64(bytes)/b.Elapsed().Seconds()/1e6, "MB/s")
}
