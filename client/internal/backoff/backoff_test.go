package backoff

import (
	"context"
	"testing"
	"time"
)

func TestDelayGrowsAndCaps(t *testing.T) {
	p := Policy{Base: 10 * time.Millisecond, Max: 100 * time.Millisecond, Jitter: 0}
	want := []time.Duration{10, 20, 40, 80, 100, 100, 100}
	for i, w := range want {
		if got := p.Delay(i + 1); got != w*time.Millisecond {
			t.Errorf("attempt %d: %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	if got := p.Delay(0); got != 10*time.Millisecond {
		t.Errorf("attempt 0: %v", got)
	}
	if got := p.Delay(1 << 30); got != 100*time.Millisecond {
		t.Errorf("huge attempt: %v", got)
	}
}

func TestJitterStaysInRange(t *testing.T) {
	p := Policy{Base: 100 * time.Millisecond, Max: time.Second, Jitter: 0.5}
	for i := 0; i < 1000; i++ {
		d := p.Delay(3)
		if d < 200*time.Millisecond || d > 400*time.Millisecond {
			t.Fatalf("delay %v outside [200ms, 400ms]", d)
		}
	}
}

func TestDefaults(t *testing.T) {
	var p Policy
	for i := 0; i < 100; i++ {
		if d := p.Delay(1); d < 80*time.Millisecond || d > 100*time.Millisecond {
			t.Fatalf("default first delay %v", d)
		}
		if d := p.Delay(20); d < 800*time.Millisecond || d > time.Second {
			t.Fatalf("default capped delay %v", d)
		}
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Hour); err == nil {
		t.Fatal("want the context's error")
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("Sleep ignored the context")
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
