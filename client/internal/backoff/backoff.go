// Package backoff computes retry delays: exponential growth from a base to a
// cap, with jitter so that clients retrying the same failure spread out.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is an exponential backoff. The zero value uses the defaults.
type Policy struct {
	// Base is the delay before the first retry. Default 100 ms.
	Base time.Duration
	// Max caps the delay. Default 1 s.
	Max time.Duration
	// Jitter is the fraction of the delay that is randomised, in [0, 1]:
	// the delay is drawn from [d*(1-Jitter), d]. Default 0.2.
	Jitter float64
}

func (p Policy) withDefaults() Policy {
	if p.Base <= 0 {
		p.Base = 100 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = time.Second
	}
	if p.Max < p.Base {
		p.Max = p.Base
	}
	if p.Jitter < 0 || p.Jitter > 1 {
		p.Jitter = 0.2
	}
	return p
}

// Delay returns the delay before retry number attempt (1 for the first
// retry): Base * 2^(attempt-1), capped at Max, minus up to Jitter of it.
func (p Policy) Delay(attempt int) time.Duration {
	p = p.withDefaults()
	if attempt < 1 {
		attempt = 1
	}
	d := p.Base
	for i := 1; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	if d > p.Max {
		d = p.Max
	}
	if p.Jitter > 0 {
		d -= time.Duration(rand.Float64() * p.Jitter * float64(d))
	}
	return d
}

// Sleep waits d or until ctx ends, whichever is first, and returns ctx.Err()
// in the second case.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
