package metaclient

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoffPolicy is capped exponential backoff with jitter: the delay before
// retry round n is base*2^(n-1), capped at max, less up to a fifth of it at
// random so that clients failing together spread out.
type backoffPolicy struct {
	base, max time.Duration
}

// delay is the wait before retry round n (1 for the first).
func (p backoffPolicy) delay(n int) time.Duration {
	d := p.base
	for i := 1; i < n && d < p.max; i++ {
		d *= 2
	}
	if d > p.max {
		d = p.max
	}
	return d - time.Duration(rand.Float64()*0.2*float64(d))
}

// sleep waits d or until ctx ends, returning ctx's error in that case.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
