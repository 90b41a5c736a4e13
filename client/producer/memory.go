package producer

import (
	"context"
	"fmt"
	"sync"
)

// memory bounds the bytes of records buffered in the producer
// (buffer.memory): Send acquires a record's size before buffering it and the
// producer releases it once the record's callback has run. Waiters are
// served first come, first served, so a large record is not starved by a
// stream of small ones. Safe for concurrent use; mu guards every field.
type memory struct {
	mu      sync.Mutex
	limit   int64
	used    int64
	waiters []*memWaiter // FIFO
}

type memWaiter struct {
	n     int64
	ready chan struct{} // closed once n bytes were granted to the waiter
}

func newMemory(limit int64) *memory { return &memory{limit: limit} }

// acquire takes n bytes, waiting until they are free or ctx ends.
func (m *memory) acquire(ctx context.Context, n int64) error {
	if n > m.limit {
		return fmt.Errorf("%w: a record of %d bytes cannot fit in a buffer of %d bytes", ErrRecordTooLarge, n, m.limit)
	}
	m.mu.Lock()
	if len(m.waiters) == 0 && m.used+n <= m.limit {
		m.used += n
		m.mu.Unlock()
		return nil
	}
	w := &memWaiter{n: n, ready: make(chan struct{})}
	m.waiters = append(m.waiters, w)
	m.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		m.mu.Lock()
		defer m.mu.Unlock()
		select {
		case <-w.ready:
			// Granted while we gave up: give the bytes back.
			m.used -= n
			m.grantLocked()
		default:
			for i, x := range m.waiters {
				if x == w {
					m.waiters = append(m.waiters[:i], m.waiters[i+1:]...)
					break
				}
			}
			// Removing the head may let the next waiters in.
			m.grantLocked()
		}
		return fmt.Errorf("%w: waited for %d bytes of buffer memory: %w", ErrBufferFull, n, ctx.Err())
	}
}

// release returns n bytes.
func (m *memory) release(n int64) {
	m.mu.Lock()
	m.used -= n
	if m.used < 0 {
		panic(fmt.Sprintf("producer: buffer memory released more than acquired (used %d)", m.used))
	}
	m.grantLocked()
	m.mu.Unlock()
}

// grantLocked serves waiters in order while their bytes fit.
func (m *memory) grantLocked() {
	for len(m.waiters) > 0 {
		w := m.waiters[0]
		if m.used+w.n > m.limit {
			return
		}
		m.used += w.n
		m.waiters = m.waiters[1:]
		close(w.ready)
	}
}

// inUse returns the bytes held.
func (m *memory) inUse() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used
}
