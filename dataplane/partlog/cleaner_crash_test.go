package partlog

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The cleaner crash test runs this test binary again as a child (TestMain
// sees cleanerChildEnv) that cleans a log over and over, dawdling at the
// cleaning's steps, until it is SIGKILLed.
const cleanerChildEnv = "PARTLOG_CLEANER_CHILD_DIR"

// cleanerCrashNow is the fixed clock of the crash test's cleanings, so
// that tombstone expiry is the same in the child and the parent.
var cleanerCrashNow = time.UnixMilli(1_700_000_100_000)

// cleanerChild opens the log in dir and cleans it from the start again and
// again, with a small key map (several passes, several groups) and random
// pauses at the cleaning's steps; it prints "READY" once open and "SWAPPED"
// after each swap.
func cleanerChild(dir string) int {
	l, err := Open(dir, compactConfig(), Options{Logger: quietLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 2
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "READY")
	out.Flush()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	hook := func(point string) {
		if point == "swapped" {
			fmt.Fprintln(out, "SWAPPED")
			out.Flush()
		}
		time.Sleep(time.Duration(rng.IntN(15)) * time.Millisecond)
	}
	for {
		res, err := l.Clean(context.Background(), CleanOptions{Now: cleanerCrashNow, KeyMapBytes: 64 * keySlotBytes, BufferBytes: 4096, hook: hook})
		if err != nil {
			fmt.Fprintln(os.Stderr, "clean:", err)
			return 2
		}
		if res.MapEnd == res.FirstDirty {
			l.clean.mu.Lock()
			l.clean.firstDirty = 0 // clean it all again
			l.clean.mu.Unlock()
		}
	}
}

// TestCleanerCrash SIGKILLs a cleaning child at random moments and checks
// after each kill that the log opens and holds, in strictly increasing
// offsets, every record a finished cleaning keeps, each with its bytes and
// none besides records appended at those offsets (old or cleaned data per
// range, never a mix that loses or repeats records), with no cleaner files
// left; and that cleaning it to the end then gives exactly the compacted
// log.
func TestCleanerCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped with -short")
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4))
	cfg := compactConfig()
	var swaps atomic.Int64
	for round := range 12 {
		dir := t.TempDir()
		l, err := Open(dir, cfg, Options{Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		h := &history{}
		appendRandom(t, l, h, rng, 150, 40, 6, cleanerCrashNow.UnixMilli()-int64(rng.IntN(2000)), map[int64]int32{})
		rollNow(t, l)
		end := l.EndOffset()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		want := h.expected(end, cleanerCrashNow.UnixMilli(), cfg.DeleteRetentionMs)
		byOff := map[int64]rec{}
		for _, r := range h.recs {
			byOff[r.off] = r
		}

		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), cleanerChildEnv+"="+dir)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(stdout)
			first := true
			for sc.Scan() {
				if first {
					close(ready)
					first = false
				}
				if sc.Text() == "SWAPPED" {
					swaps.Add(1)
				}
			}
			if first {
				close(ready)
			}
		}()
		select {
		case <-ready:
		case <-ctx.Done():
			t.Fatal("the child did not start")
		}
		time.Sleep(time.Duration(rng.IntN(800)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill: %v", err)
		}
		<-done
		cmd.Wait()
		cancel()

		l, err = Open(dir, cfg, Options{Logger: quietLogger()})
		if err != nil {
			t.Fatalf("round %d: open after the kill: %v", round, err)
		}
		if l.EndOffset() != end {
			t.Fatalf("round %d: end offset %d, want %d", round, l.EndOffset(), end)
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), cleanedSuffix) || strings.HasSuffix(e.Name(), swapSuffix) {
				t.Fatalf("round %d: cleaner file %s left after open", round, filepath.Join(dir, e.Name()))
			}
		}
		got := readAll(t, l, l.StartOffset())
		have := map[int64]bool{}
		for i, g := range got {
			if i > 0 && g.Offset <= got[i-1].Offset {
				t.Fatalf("round %d: offset %d after %d", round, g.Offset, got[i-1].Offset)
			}
			w, ok := byOff[g.Offset]
			if !ok || w.key != string(g.Key) || string(w.value) != string(g.Value) || (w.value == nil) != (g.Value == nil) {
				t.Fatalf("round %d: offset %d holds key %q value %q, appended %+v", round, g.Offset, g.Key, g.Value, w)
			}
			have[g.Offset] = true
		}
		for _, w := range want {
			if !have[w.off] {
				t.Fatalf("round %d: the latest record of %q at %d is gone", round, w.key, w.off)
			}
		}
		l.clean.mu.Lock()
		l.clean.firstDirty = 0
		l.clean.mu.Unlock()
		cleanFully(t, l, CleanOptions{Now: cleanerCrashNow})
		checkRecords(t, l, want)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if swaps.Load() == 0 {
		t.Fatal("no child swapped a segment in: the kills tested nothing")
	}
	t.Logf("%d swaps done by the children before their kills", swaps.Load())
}
