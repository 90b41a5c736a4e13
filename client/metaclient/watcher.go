package metaclient

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"strand.dev/client/wire"
)

// Watcher keeps the latest metadata image of a strand-meta cluster and calls
// a function on every newer version it sees, never on an older or equal one,
// even when the node answering changes (a lagging follower, a restarted
// node, a new leader).
//
// Goroutines: Run owns the long-poll loop and is the only caller of the
// function, so calls are serial and in version order; the function should
// return quickly (a slow one delays the next poll, nothing is lost: the next
// answer is the newest image). Current and WaitFor may be called from any
// goroutine. Versions may be skipped: a watcher sees the newest image, not
// every intermediate one.
type Watcher struct {
	c      *Client
	fn     func(*wire.Image)
	policy backoffPolicy
	log    *slog.Logger

	running atomic.Bool

	// mu guards cur and changed. It is never held while fn runs.
	mu  sync.Mutex
	cur *wire.Image
	// changed is closed (and replaced) whenever cur changes.
	changed chan struct{}
}

// WatcherOption configures a Watcher.
type WatcherOption func(*Watcher)

// WithInitialImage starts the watcher from an image the caller already has
// (a cached copy): only newer versions are delivered. Images of another
// cluster are ignored from then on.
func WithInitialImage(img *wire.Image) WatcherOption {
	return func(w *Watcher) { w.cur = img }
}

// WithWatcherBackoff sets the delays between failed polls: base, doubling
// up to max. Defaults: the client's backoff.
func WithWatcherBackoff(base, max time.Duration) WatcherOption {
	return func(w *Watcher) {
		if base > 0 {
			w.policy.base = base
		}
		if max > 0 {
			w.policy.max = max
		}
	}
}

// NewWatcher returns a watcher using c. fn may be nil (use Current and
// WaitFor). Nothing happens until Run.
func NewWatcher(c *Client, fn func(*wire.Image), opts ...WatcherOption) *Watcher {
	w := &Watcher{
		c:       c,
		fn:      fn,
		policy:  c.policy,
		log:     c.log.With("component", "metaclient.watcher"),
		changed: make(chan struct{}),
	}
	for _, o := range opts {
		o(w)
	}
	return w
}

// Current returns the latest image seen, or nil before the first one. The
// image is shared: do not modify it.
func (w *Watcher) Current() *wire.Image {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur
}

// WaitFor waits until the current image satisfies ok and returns it, or
// returns ctx's error. ok runs in the caller's goroutine.
func (w *Watcher) WaitFor(ctx context.Context, ok func(*wire.Image) bool) (*wire.Image, error) {
	for {
		w.mu.Lock()
		cur, changed := w.cur, w.changed
		w.mu.Unlock()
		if cur != nil && ok(cur) {
			return cur, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// ErrWatcherRunning is returned by a second concurrent Run of one Watcher.
var ErrWatcherRunning = errors.New("metaclient: watcher already running")

// Run polls until ctx ends, then returns ctx's error. The first image comes
// from a stale read (any node, at once), then each poll asks for a version
// above the current one. Failures (no node reachable, errors) are retried
// with backoff forever; they are logged at debug level.
func (w *Watcher) Run(ctx context.Context) error {
	if w.running.Swap(true) {
		return ErrWatcherRunning
	}
	defer w.running.Store(false)
	failures := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		cur := w.Current()
		started := time.Now()
		var (
			img *wire.Image
			err error
		)
		if cur == nil {
			img, err = w.c.Image(ctx, true)
		} else {
			img, err = w.c.Watch(ctx, cur.Version)
		}
		if err == nil && cur != nil && img.ClusterID != cur.ClusterID {
			err = errors.New("metaclient: image of cluster " + img.ClusterID + ", watching cluster " + cur.ClusterID)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failures++
			w.log.Debug("watch failed", "failures", failures, "err", err)
			if err := sleep(ctx, w.policy.delay(failures)); err != nil {
				return err
			}
			continue
		}
		failures = 0
		if cur != nil && img.Version <= cur.Version {
			// The server's wait ended, or a lagging node answered. Do not
			// spin on a node that answers at once without anything newer.
			if time.Since(started) < w.c.cfg.watchWait/2 {
				if err := sleep(ctx, w.policy.delay(1)); err != nil {
					return err
				}
			}
			continue
		}
		w.mu.Lock()
		w.cur = img
		close(w.changed)
		w.changed = make(chan struct{})
		w.mu.Unlock()
		if w.fn != nil {
			w.fn(img)
		}
	}
}
