package partlog

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestRecoveryTime measures how long OpenManager takes on a 1 GiB log (1M
// records of 1 KiB in 1 MiB batches, one segment) in three situations:
//
//   - after SIGKILL of the writer with nothing flushed (Kafka's defaults:
//     no forced flush, so the recovery point is still 0 and the whole GiB
//     is rescanned, CRCs and records checked);
//   - after SIGKILL of the writer once it flushed and the recovery-point
//     checkpoint was written (the scan starts at the index entry before the
//     recovery point);
//   - after a clean shutdown (nothing is rescanned).
//
// It writes and reads 3 GiB, so it runs only when PARTLOG_RECOVERY_BENCH
// is set; the page cache is warm, as after a process crash.
func TestRecoveryTime(t *testing.T) {
	if os.Getenv("PARTLOG_RECOVERY_BENCH") == "" {
		t.Skip("set PARTLOG_RECOVERY_BENCH=1 to measure recovery of a 1 GiB log")
	}
	for _, mode := range []string{"bulk", "bulk-flush"} {
		dir := t.TempDir()
		c := startChild(t, dir, mode)
		c.waitLines(t, 1, 5*time.Minute)
		c.kill(t)
		if mode == "bulk" {
			// A checkpoint may have been written before the first roll; it
			// says 0 as nothing was flushed. Make sure of it.
			os.Remove(filepath.Join(dir, recoveryPointFile))
		}
		start := time.Now()
		m := openManager(t, dir, ManagerOptions{})
		took := time.Since(start)
		l, _ := m.Get("crash", 0)
		st := l.Stats()
		t.Logf("%s: recovery after SIGKILL of %d bytes in %d segments took %v (recovery point %d of %d)",
			mode, st.SizeBytes, st.Segments, took, st.RecoveryPoint, st.EndOffset)
		if st.EndOffset < 1<<20 {
			t.Fatalf("recovered only %d records", st.EndOffset)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		m = openManager(t, dir, ManagerOptions{})
		took = time.Since(start)
		t.Logf("%s: clean restart took %v", mode, took)
		if !m.Stats().OpenedClean {
			t.Fatal("not a clean restart")
		}
		if lim := os.Getenv("PARTLOG_CLEAN_LIMIT_MS"); lim != "" {
			ms, _ := strconv.Atoi(lim)
			if took > time.Duration(ms)*time.Millisecond {
				t.Errorf("clean restart took %v, over %d ms", took, ms)
			}
		}
		m.Close()
	}
}
