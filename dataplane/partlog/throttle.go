package partlog

import (
	"context"
	"math"
	"sync"
	"time"
)

// throttleCheckInterval is the length of the throttle's measuring period
// (Kafka's Throttler uses 300 ms).
const throttleCheckInterval = 300 * time.Millisecond

// throttle bounds the bytes per second that the cleaner threads read and
// write together (log.cleaner.io.max.bytes.per.second), as Kafka's
// Throttler does: within a measuring period, once the bytes seen are ahead
// of the rate allowed by more than 10 ms, it sleeps off the lead. Safe for concurrent use; a thread
// that must sleep holds the throttle's lock while it does, so every thread
// pauses together.
type throttle struct {
	rate float64 // bytes per second; <= 0 or +Inf: unlimited
	now  func() time.Time

	mu          sync.Mutex
	periodStart time.Time
	observed    float64
	slept       time.Duration // total, for stats
}

func newThrottle(rate float64, now func() time.Time) *throttle {
	return &throttle{rate: rate, now: now, periodStart: now()}
}

// unlimited reports whether the throttle never sleeps.
func (t *throttle) unlimited() bool {
	return t == nil || t.rate <= 0 || math.IsInf(t.rate, 1)
}

// wait accounts n bytes of I/O and sleeps when the rate so far in the
// current period is above the allowed one. It returns ctx's error when ctx
// ends during the sleep.
func (t *throttle) wait(ctx context.Context, n int) error {
	if t.unlimited() {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.observed += float64(n)
	elapsed := t.now().Sub(t.periodStart)
	// The time the bytes so far should have taken; sleep off the lead
	// once it is worth a sleep.
	want := time.Duration(t.observed / t.rate * float64(time.Second))
	if d := want - elapsed; d > 10*time.Millisecond {
		tm := time.NewTimer(d)
		select {
		case <-tm.C:
		case <-ctx.Done():
			tm.Stop()
			return ctx.Err()
		}
		t.slept += d
		elapsed = want
	}
	if elapsed >= throttleCheckInterval {
		// A new period: idle time before it is not credit for a burst.
		t.periodStart = t.now()
		t.observed = 0
	}
	return nil
}

// sleptTotal is the time spent sleeping so far.
func (t *throttle) sleptTotal() time.Duration {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.slept
}
