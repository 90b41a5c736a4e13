package metaserver

import (
	"sync"
	"time"

	"strand.dev/client/wire"
)

// leaseClock tracks, on this member's monotonic clock, when the controller
// lease was last seen acquired or renewed. It is what the leader judges a
// takeover by: never wall clocks compared across machines.
//
// Concurrency: mu guards every field; observe and becameLeader are called
// from the raft loop (OnApply, OnLeadership), check from HTTP handlers.
type leaseClock struct {
	mu        sync.Mutex
	holder    string
	epoch     int64
	renewedAt uint64
	seenAt    time.Time // monotonic reading
	now       func() time.Time
}

func newLeaseClock(now func() time.Time) *leaseClock {
	return &leaseClock{now: now, seenAt: now()}
}

// observe records the lease of a newly applied image; a change of holder,
// epoch or RenewedAt restarts the lease at now.
func (l *leaseClock) observe(lease wire.ControllerLease) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.observeLocked(lease)
}

func (l *leaseClock) observeLocked(lease wire.ControllerLease) {
	if lease.Holder != l.holder || lease.Epoch != l.epoch || lease.RenewedAt != l.renewedAt {
		l.holder, l.epoch, l.renewedAt = lease.Holder, lease.Epoch, lease.RenewedAt
		l.seenAt = l.now()
	}
}

// becameLeader gives the current holder a full lease from now: a new leader
// does not know when its predecessor last saw a renewal.
func (l *leaseClock) becameLeader() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seenAt = l.now()
}

// check decides a takeover of lease (as in the leader's current image): ok
// once no acquisition or renewal was seen for lease.LeaseMs, with the
// RenewedAt that lapsed; otherwise the time left.
func (l *leaseClock) check(lease wire.ControllerLease) (lapsedRenewedAt uint64, left time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.observeLocked(lease)
	elapsed := l.now().Sub(l.seenAt)
	d := time.Duration(lease.LeaseMs) * time.Millisecond
	if elapsed < d {
		return 0, d - elapsed, false
	}
	return lease.RenewedAt, 0, true
}
