package metaclient

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
)

// recorder collects the versions a watcher delivers.
type recorder struct {
	mu       sync.Mutex
	versions []uint64
}

func (r *recorder) fn(img *wire.Image) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.versions = append(r.versions, img.Version)
}

func (r *recorder) get() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint64(nil), r.versions...)
}

// runWatcher runs w until the test ends and checks Run returns then.
func runWatcher(t *testing.T, w *Watcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

func imageOf(cluster string, v uint64) wire.Image {
	return wire.Image{Version: v, ClusterID: cluster}
}

func TestWatcherVersionsOnlyIncrease(t *testing.T) {
	script := []wire.Image{imageOf("c", 3), imageOf("c", 2), imageOf("c", 3), imageOf("other", 100), imageOf("c", 5), imageOf("c", 4), imageOf("c", 7)}
	var (
		mu    sync.Mutex
		asked []uint64
		next  int
	)
	f := startFake(t, "", func(f *fakeMeta, ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case wire.PathMetaImage:
			if string(ctx.QueryArgs().Peek("stale")) != "true" {
				writeErr(ctx, wire.Errorf(wire.CodeInvalidRequest, "want a stale read"))
				return
			}
			writeJSON(ctx, imageOf("c", 1))
		case wire.PathMetaWatch:
			v, _ := strconv.ParseUint(string(ctx.QueryArgs().Peek("version")), 10, 64)
			mu.Lock()
			asked = append(asked, v)
			if next >= len(script) {
				mu.Unlock()
				f.hang()
				return
			}
			img := script[next]
			next++
			mu.Unlock()
			writeJSON(ctx, img)
		}
	})
	var rec recorder
	w := NewWatcher(fastClient([]string{f.addr}), rec.fn, WithWatcherBackoff(time.Millisecond, 10*time.Millisecond))
	if w.Current() != nil {
		t.Fatal("image before Run")
	}
	runWatcher(t, w)
	img, err := w.WaitFor(testCtx(t, 30*time.Second), func(img *wire.Image) bool { return img.Version >= 7 })
	if err != nil || img.Version != 7 || w.Current() != img {
		t.Fatalf("WaitFor: %v %v", img, err)
	}
	if got := rec.get(); !equalU64(got, []uint64{1, 3, 5, 7}) {
		t.Fatalf("delivered versions %v", got)
	}
	waitFor(t, 30*time.Second, "the poll after version 7", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(asked) == len(script)+1
	})
	mu.Lock()
	defer mu.Unlock()
	// Each poll asked for a version above the latest delivered one.
	if want := []uint64{1, 3, 3, 3, 3, 5, 5, 7}; !equalU64(asked, want) {
		t.Fatalf("polls asked for %v, want %v", asked, want)
	}
}

// versionServer serves the stale image and the watch from an adjustable
// version, answering a watch at once whatever it asks (like a lagging or
// restarted node would, at the end of its wait).
func versionServer(t *testing.T, addr string, v *atomic.Uint64) *fakeMeta {
	return startFake(t, addr, func(f *fakeMeta, ctx *fasthttp.RequestCtx) {
		after, _ := strconv.ParseUint(string(ctx.QueryArgs().Peek("version")), 10, 64)
		cur := v.Load()
		if string(ctx.Path()) == wire.PathMetaWatch && cur <= after {
			// Hold the poll a little, as a server's wait would.
			select {
			case <-f.release:
			case <-time.After(20 * time.Millisecond):
			}
		}
		writeJSON(ctx, imageOf("c", v.Load()))
	})
}

func TestWatcherSurvivesRestartsAndLeaderChanges(t *testing.T) {
	var va, vb atomic.Uint64
	va.Store(2)
	vb.Store(5)
	a := versionServer(t, "", &va)
	bAddr := deadAddr(t)
	var rec recorder
	c := fastClient([]string{a.addr, bAddr}, WithTimeout(2*time.Second), WithWatchWait(200*time.Millisecond))
	w := NewWatcher(c, rec.fn, WithWatcherBackoff(time.Millisecond, 20*time.Millisecond))
	runWatcher(t, w)
	ctx := testCtx(t, 60*time.Second)
	if _, err := w.WaitFor(ctx, func(img *wire.Image) bool { return img.Version == 2 }); err != nil {
		t.Fatal(err)
	}
	// Node a dies; b comes up with a newer image.
	a.stop()
	b := versionServer(t, bAddr, &vb)
	if _, err := w.WaitFor(ctx, func(img *wire.Image) bool { return img.Version == 5 }); err != nil {
		t.Fatal(err)
	}
	// b dies too; a restarts on its address behind (version 4), then
	// catches up to 9.
	b.stop()
	var va2 atomic.Uint64
	va2.Store(4)
	a2 := versionServer(t, a.addr, &va2)
	waitFor(t, 30*time.Second, "polls of the restarted node", func() bool { return a2.hits.Load() >= 3 })
	if v := w.Current().Version; v != 5 {
		t.Fatalf("watcher went to version %d", v)
	}
	va2.Store(9)
	if _, err := w.WaitFor(ctx, func(img *wire.Image) bool { return img.Version == 9 }); err != nil {
		t.Fatal(err)
	}
	if got := rec.get(); !equalU64(got, []uint64{2, 5, 9}) {
		t.Fatalf("delivered versions %v", got)
	}
}

func TestWatcherInitialImageAndSecondRun(t *testing.T) {
	var v atomic.Uint64
	v.Store(3)
	f := versionServer(t, "", &v)
	var rec recorder
	c := fastClient([]string{f.addr}, WithWatchWait(100*time.Millisecond))
	init := imageOf("c", 3)
	w := NewWatcher(c, rec.fn, WithInitialImage(&init))
	if w.Current().Version != 3 {
		t.Fatal("initial image not current")
	}
	runWatcher(t, w)
	waitFor(t, 30*time.Second, "a few polls", func() bool { return f.hits.Load() >= 3 })
	if err := w.Run(context.Background()); !errors.Is(err, ErrWatcherRunning) {
		t.Fatalf("second Run: %v", err)
	}
	v.Store(4)
	if _, err := w.WaitFor(testCtx(t, 30*time.Second), func(img *wire.Image) bool { return img.Version == 4 }); err != nil {
		t.Fatal(err)
	}
	if got := rec.get(); !equalU64(got, []uint64{4}) {
		t.Fatalf("delivered %v", got)
	}
	// WaitFor honours its context.
	if _, err := w.WaitFor(testCtx(t, 50*time.Millisecond), func(*wire.Image) bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor: %v", err)
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
