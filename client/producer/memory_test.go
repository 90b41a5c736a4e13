package producer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestMemoryBlocksAndServesInOrder(t *testing.T) {
	m := newMemory(100)
	ctx := context.Background()
	if err := m.acquire(ctx, 80); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		order []int64
		wg    sync.WaitGroup
	)
	// A 50-byte waiter queues first; a 10-byte one after it must not jump
	// the queue even though 10 bytes are free.
	for _, n := range []int64{50, 10} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.acquire(ctx, n); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, n)
			mu.Unlock()
		}()
		waitFor(t, func() bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			return len(m.waiters) >= 1 && m.waiters[len(m.waiters)-1].n == n
		})
	}
	mu.Lock()
	if len(order) != 0 {
		t.Fatalf("granted %v while full", order)
	}
	mu.Unlock()
	// 50 bytes free: the head (50) gets in, the 10 behind it does not fit.
	m.release(30)
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == 1 })
	mu.Lock()
	if order[0] != 50 {
		t.Fatalf("granted %v first, want 50", order)
	}
	mu.Unlock()
	m.release(50)
	wg.Wait()
	if m.inUse() != 60 {
		t.Fatalf("in use %d", m.inUse())
	}
}

func TestMemoryTooLargeAndTimeout(t *testing.T) {
	m := newMemory(100)
	if err := m.acquire(context.Background(), 101); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("oversized acquire: %v", err)
	}
	if err := m.acquire(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := m.acquire(ctx, 1); !errors.Is(err, ErrBufferFull) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("full buffer: %v", err)
	}
	m.release(100)
	if m.inUse() != 0 || len(m.waiters) != 0 {
		t.Fatalf("leaked: used %d waiters %d", m.inUse(), len(m.waiters))
	}
}

func TestMemoryCancelledHeadLetsOthersIn(t *testing.T) {
	m := newMemory(100)
	if err := m.acquire(context.Background(), 60); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	headErr := make(chan error, 1)
	go func() { headErr <- m.acquire(ctx, 90) }()
	waitFor(t, func() bool { m.mu.Lock(); defer m.mu.Unlock(); return len(m.waiters) == 1 })
	small := make(chan error, 1)
	go func() { small <- m.acquire(context.Background(), 30) }()
	waitFor(t, func() bool { m.mu.Lock(); defer m.mu.Unlock(); return len(m.waiters) == 2 })
	cancel()
	if err := <-headErr; err == nil {
		t.Fatal("cancelled acquire succeeded")
	}
	select {
	case err := <-small:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter behind a cancelled one was never served")
	}
}

// waitFor polls cond with a generous deadline.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(time.Millisecond)
	}
}
