package metastate

import "strand.dev/client/wire"

// The controller lease.
//
// The lease starts vacant at epoch 0. Acquiring a vacant lease, or taking a
// held one over, makes the epoch one more than the epoch the acquirer saw;
// the holder renews at that epoch. Controller commands carry the epoch and
// are accepted only while it is the epoch of a held lease, so the first
// controller epoch is 1 and a released or taken-over lease fences every
// command of the previous holder.
//
// Expiry is not decided here: the raft leader proposes a takeover of a held
// lease only once it has seen no renewal for LeaseMs on its own monotonic
// clock (see IsLeaseTakeover). At apply time a takeover is accepted only if
// the lease is still exactly as the acquirer saw it (same epoch, same
// RenewedAt), so a renewal that lands first defeats it.

// IsLeaseTakeover reports whether acquiring the lease with c would take it
// from another holder, the one case in which the raft leader must check on its
// own monotonic clock that the current lease has lapsed before proposing.
// Renewals by the holder and acquisitions of a vacant lease need no check.
func IsLeaseTakeover(lease wire.ControllerLease, c *wire.AcquireLeaseCmd) bool {
	return lease.Holder != "" && lease.Holder != c.Holder
}

// checkController accepts a controller command carrying epoch only while a
// controller holds the lease at that epoch.
func (b *builder) checkController(epoch int64) error {
	l := b.img.Controller
	switch {
	case l.Holder == "":
		return wire.Errorf(wire.CodeStaleControllerEpoch, "controller epoch %d: no controller holds the lease (last epoch %d)", epoch, l.Epoch)
	case epoch != l.Epoch:
		return wire.Errorf(wire.CodeStaleControllerEpoch, "controller epoch %d is not the current epoch %d (held by %s)", epoch, l.Epoch, l.Holder)
	}
	return nil
}

func staleEpoch(epoch int64) error {
	return wire.Errorf(wire.CodeStaleControllerEpoch, "controller epoch %d: controller epochs start at 1", epoch)
}

// acquireLease renews, acquires or takes over the lease; it returns the
// epoch the holder carries.
func (b *builder) acquireLease(c *wire.AcquireLeaseCmd) (int64, error) {
	l := b.img.Controller
	if c.Epoch != l.Epoch {
		return 0, wire.Errorf(wire.CodeStaleControllerEpoch, "lease epoch %d is not the current epoch %d (holder %q)", c.Epoch, l.Epoch, l.Holder)
	}
	epoch := l.Epoch
	switch {
	case l.Holder == c.Holder:
		// Renewal at the current epoch.
	case l.Holder == "":
		epoch++
	default:
		if c.LapsedRenewedAt != l.RenewedAt {
			return 0, wire.Errorf(wire.CodeInvalidUpdateVersion, "takeover of the lease held by %q: it was renewed at version %d, not %d as seen lapsing", l.Holder, l.RenewedAt, c.LapsedRenewedAt)
		}
		epoch++
	}
	b.img.Controller = wire.ControllerLease{
		Holder:    c.Holder,
		Addr:      c.Addr,
		Epoch:     epoch,
		LeaseMs:   c.LeaseMs,
		RenewedAt: b.version,
	}
	return epoch, nil
}

// releaseLease makes the lease vacant, keeping its epoch so that the next
// acquisition moves past it.
func (b *builder) releaseLease(c *wire.ReleaseLeaseCmd) error {
	l := b.img.Controller
	if l.Holder != c.Holder || l.Epoch != c.Epoch {
		return wire.Errorf(wire.CodeStaleControllerEpoch, "release by %q at epoch %d: the lease is held by %q at epoch %d", c.Holder, c.Epoch, l.Holder, l.Epoch)
	}
	b.img.Controller = wire.ControllerLease{Epoch: l.Epoch, RenewedAt: b.version}
	return nil
}
