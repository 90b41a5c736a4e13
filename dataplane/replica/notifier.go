package replica

import "sync"

// notifier wakes every goroutine waiting for a partition's state to move
// (its high watermark, today; the follower fetch offsets and the ISR once
// replication lands). Waiters take the current channel with wait() before
// they look at the state, then block on it; notify() closes that channel and
// installs a fresh one, so a change between the look and the block is never
// missed.
//
// The zero value is ready to use. All methods are safe for concurrent use.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel that is closed at the next notify.
func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// notify wakes every waiter registered so far.
func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}
