package controller

import (
	"context"
	"errors"
	"sync"
	"time"

	"strand.dev/client/wire"
)

// campaign is the controller's main loop: it waits for the lease, acts
// while it holds it, and goes back to waiting when it loses it.
func (c *Controller) campaign(ctx context.Context) {
	// seen tracks the holder's last renewal as observed here: the lease
	// is taken over only once RenewedAt has not moved for a whole lease.
	var seenRenewedAt uint64
	var seenHolder string
	var seenAt time.Time
	tick := time.NewTicker(max(c.cfg.Lease/6, 20*time.Millisecond))
	defer tick.Stop()
	for ctx.Err() == nil {
		img := c.image()
		if img != nil {
			l := img.Controller
			if l.Holder != seenHolder || l.RenewedAt != seenRenewedAt || seenAt.IsZero() {
				seenHolder, seenRenewedAt, seenAt = l.Holder, l.RenewedAt, time.Now()
			}
			lapsed := time.Since(seenAt) >= time.Duration(l.LeaseMs)*time.Millisecond
			if l.Holder == "" || lapsed {
				if epoch, ok := c.acquire(ctx, l); ok {
					c.act(ctx, epoch)
					// After acting, observe afresh.
					seenAt = time.Time{}
					continue
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-c.imageChanged():
		case <-tick.C:
		}
	}
}

// acquire tries to acquire the lease as the image showed it (l). A lease
// held by this very id (a previous life of this controller) is renewed only
// once lapsed, like any other.
func (c *Controller) acquire(ctx context.Context, l wire.ControllerLease) (int64, bool) {
	if l.Holder == c.cfg.ID {
		// Renewing a previous life's lease would keep its epoch, and
		// that life's late writes would still land: release it and
		// acquire it vacant, which moves the epoch on.
		rctx, cancel := context.WithTimeout(ctx, c.cfg.Lease)
		_, err := c.meta.Propose(rctx, &wire.Command{Type: wire.CmdReleaseLease, ReleaseLease: &wire.ReleaseLeaseCmd{
			Holder: c.cfg.ID, Epoch: l.Epoch,
		}})
		cancel()
		if err != nil {
			c.logger.Debug("releasing a previous life's lease", "epoch", l.Epoch, "err", err)
			return 0, false
		}
		l = wire.ControllerLease{Epoch: l.Epoch}
	}
	cmd := &wire.Command{Type: wire.CmdAcquireLease, AcquireLease: &wire.AcquireLeaseCmd{
		Holder: c.cfg.ID, Addr: c.addr, Epoch: l.Epoch, LeaseMs: c.cfg.Lease.Milliseconds(),
	}}
	if l.Holder != "" && l.Holder != c.cfg.ID {
		cmd.AcquireLease.LapsedRenewedAt = l.RenewedAt
	}
	sent := time.Now()
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Lease)
	resp, err := c.meta.Propose(rctx, cmd)
	cancel()
	if err != nil {
		// A lost answer of an applied acquisition comes back as a
		// rejection of the retry: look at the lease itself.
		if img, ierr := c.meta.Image(ctx, false); ierr == nil {
			c.setImage(img)
			if img.Controller.Holder == c.cfg.ID && img.Controller.Epoch > l.Epoch && img.Controller.Addr == c.addr &&
				time.Since(sent) < c.cfg.Lease/2 {
				return c.become(img.Controller.Epoch, sent), true
			}
		}
		if ctx.Err() == nil {
			c.logger.Debug("lease not acquired", "holder", l.Holder, "epoch", l.Epoch, "err", err)
		}
		return 0, false
	}
	return c.become(resp.Epoch, sent), true
}

// become records that the controller acts at epoch, its lease counted from
// sent.
func (c *Controller) become(epoch int64, sent time.Time) int64 {
	c.mu.Lock()
	c.lead = leadership{active: true, epoch: epoch, deadline: sent.Add(c.cfg.Lease)}
	c.mu.Unlock()
	return epoch
}

// act runs the leader loop and the lease keeper until the leadership is
// lost or ctx ends; on ctx's end it releases the lease.
func (c *Controller) act(ctx context.Context, epoch int64) {
	lctx, cancel := context.WithCancel(ctx)
	c.mu.Lock()
	c.lead.cancel = cancel
	c.mu.Unlock()

	c.establishLeadership(epoch)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.keepLease(lctx, epoch) }()
	go func() { defer wg.Done(); c.watchdog(lctx, epoch) }()
	c.leaderLoop(lctx, epoch)
	cancel()
	wg.Wait()
	c.revokeLeadership(epoch, ctx.Err() != nil)
	if ctx.Err() != nil {
		c.releaseLease(epoch)
	}
}

// watchdog revokes the leadership when the lease deadline passes without a
// renewal, even while a renewal request hangs.
func (c *Controller) watchdog(ctx context.Context, epoch int64) {
	for {
		deadline, ok := c.deadline(epoch)
		if !ok {
			return
		}
		if !time.Now().Before(deadline) {
			c.lose(epoch, "lease expired")
			return
		}
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// keepLease renews the lease every lease/3 and revokes the leadership when
// a renewal is refused.
func (c *Controller) keepLease(ctx context.Context, epoch int64) {
	period := c.cfg.Lease / 3
	timer := time.NewTimer(period)
	defer timer.Stop()
	for {
		deadline, ok := c.deadline(epoch)
		if !ok {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		sent := time.Now()
		rctx, cancel := context.WithDeadline(ctx, deadline)
		_, err := c.meta.Propose(rctx, &wire.Command{Type: wire.CmdAcquireLease, AcquireLease: &wire.AcquireLeaseCmd{
			Holder: c.cfg.ID, Addr: c.addr, Epoch: epoch, LeaseMs: c.cfg.Lease.Milliseconds(),
		}})
		cancel()
		switch {
		case err == nil:
			c.metrics.leaseRenewals.WithLabelValues("ok").Inc()
			c.mu.Lock()
			if c.lead.active && c.lead.epoch == epoch {
				c.lead.deadline = sent.Add(c.cfg.Lease)
			}
			c.mu.Unlock()
			timer.Reset(period)
		case ctx.Err() != nil:
			return
		case isFencing(err):
			c.metrics.leaseRenewals.WithLabelValues("error").Inc()
			c.lose(epoch, "lease renewal refused")
			c.logger.Warn("lease renewal refused", "err", err)
			return
		default:
			c.metrics.leaseRenewals.WithLabelValues("error").Inc()
			c.logger.Warn("lease renewal failed, retrying", "err", err)
			timer.Reset(min(period/4, 100*time.Millisecond))
		}
	}
}

// isFencing reports whether err says this controller's epoch is over.
func isFencing(err error) bool {
	var we *wire.Error
	if !errors.As(err, &we) {
		return false
	}
	return we.Code == wire.CodeStaleControllerEpoch || we.Code == wire.CodeInvalidUpdateVersion
}

// deadline returns the lease deadline while the controller acts at epoch.
func (c *Controller) deadline(epoch int64) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.lead.active || c.lead.epoch != epoch {
		return time.Time{}, false
	}
	return c.lead.deadline, true
}

// writableEpoch returns the epoch to write with, if the controller acts and
// its lease has not lapsed; a lapsed lease revokes the leadership at once.
func (c *Controller) writableEpoch() (int64, bool) {
	c.mu.Lock()
	if !c.lead.active {
		c.mu.Unlock()
		return 0, false
	}
	epoch, deadline := c.lead.epoch, c.lead.deadline
	c.mu.Unlock()
	if !time.Now().Before(deadline) {
		c.lose(epoch, "lease expired")
		return 0, false
	}
	return epoch, true
}

// lose stops acting at epoch (idempotent): later writes are refused locally
// and the leader loop and lease keeper stop.
func (c *Controller) lose(epoch int64, reason string) {
	c.mu.Lock()
	if !c.lead.active || c.lead.epoch != epoch {
		c.mu.Unlock()
		return
	}
	cancel := c.lead.cancel
	c.lead = leadership{}
	c.mu.Unlock()
	c.metrics.leadershipLost.WithLabelValues(reason).Inc()
	c.logger.Warn("leadership lost", "epoch", epoch, "reason", reason)
	if cancel != nil {
		cancel()
	}
}

// write proposes cmd (built with the current epoch) if the controller may
// write; a fencing answer revokes the leadership.
func (c *Controller) write(ctx context.Context, build func(epoch int64) *wire.Command) (*wire.ProposeResponse, error) {
	epoch, ok := c.writableEpoch()
	if !ok {
		return nil, errNotActive
	}
	cmd := build(epoch)
	resp, err := c.meta.Propose(ctx, cmd)
	if err != nil {
		c.metrics.commands.WithLabelValues(string(cmd.Type), "error").Inc()
		if errors.Is(err, wire.ErrStaleControllerEpoch) {
			c.lose(epoch, "stale controller epoch")
		}
		return nil, err
	}
	c.metrics.commands.WithLabelValues(string(cmd.Type), "ok").Inc()
	return resp, nil
}

// releaseLease gives the lease up on a clean stop, so a standby takes over
// at once instead of after the lease duration.
func (c *Controller) releaseLease(epoch int64) {
	ctx, cancel := context.WithTimeout(context.Background(), min(c.cfg.Lease, 2*time.Second))
	defer cancel()
	_, err := c.meta.Propose(ctx, &wire.Command{Type: wire.CmdReleaseLease, ReleaseLease: &wire.ReleaseLeaseCmd{
		Holder: c.cfg.ID, Epoch: epoch,
	}})
	if err != nil {
		c.logger.Warn("releasing the lease", "epoch", epoch, "err", err)
		return
	}
	c.logger.Info("lease released", "epoch", epoch)
}
