package partlog

import (
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// openFDs counts this process's open descriptors.
func openFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestManyPartitions creates many logs on one manager with a small
// descriptor bound, appends to every one (twice, so every log is touched
// after the pool evicted it), reopens them all, and checks that the open
// descriptors stay within the bound and the idle heap per partition is
// small. PARTLOG_PARTITIONS sets the count (default 2,000, 500 with
// -short; the figure for the record is taken with 10,000).
func TestManyPartitions(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 500
	}
	if s := os.Getenv("PARTLOG_PARTITIONS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	const maxOpen = 256
	dir := t.TempDir()
	fd0 := openFDs(t)
	heap0 := heapInUse()
	start := time.Now()
	m := openManager(t, dir, ManagerOptions{MaxOpenFiles: maxOpen, OpenConcurrency: 8})
	cfg := DefaultConfig()
	b := batch(t, "p", 10, time.Now().UnixMilli(), 100)
	maxFDs := 0
	for round := 0; round < 2; round++ {
		for p := 0; p < n; p++ {
			l, err := m.Create("many", int32(p), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Append(b); err != nil {
				t.Fatal(err)
			}
			if p%500 == 0 {
				maxFDs = max(maxFDs, openFDs(t)-fd0)
			}
		}
	}
	created := time.Since(start)
	fds := openFDs(t) - fd0
	heapPer := float64(heapInUse()-heap0) / float64(n)
	t.Logf("%d partitions: created and appended twice in %v; open descriptors %d (peak sampled %d, pool bound %d); heap %.0f bytes per idle partition",
		n, created, fds, maxFDs, maxOpen, heapPer)
	if fds > maxOpen+32 || maxFDs > maxOpen+32 {
		t.Fatalf("%d descriptors open (peak %d), bound %d", fds, maxFDs, maxOpen)
	}
	if heapPer > 16<<10 {
		t.Fatalf("%.0f bytes of heap per idle partition", heapPer)
	}
	start = time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	closed := time.Since(start)
	start = time.Now()
	m = openManager(t, dir, ManagerOptions{MaxOpenFiles: maxOpen, OpenConcurrency: 8})
	defer m.Close()
	reopened := time.Since(start)
	if got := len(m.All()); got != n {
		t.Fatalf("reopened %d logs", got)
	}
	fds = openFDs(t) - fd0
	heapPer = float64(heapInUse()-heap0) / float64(n)
	t.Logf("clean close %v, clean reopen %v; after reopen: open descriptors %d, heap %.0f bytes per partition", closed, reopened, fds, heapPer)
	if fds > maxOpen+32 {
		t.Fatalf("%d descriptors open after reopen", fds)
	}
	l, _ := m.Get("many", int32(n-1))
	if l.EndOffset() != 20 {
		t.Fatalf("end offset %d", l.EndOffset())
	}
}
