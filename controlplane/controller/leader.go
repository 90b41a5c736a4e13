package controller

import (
	"context"
	"sort"
	"time"

	"strand.dev/client/wire"
	"strand.dev/controlplane/election"
)

// establishLeadership starts the leader-only state.
func (c *Controller) establishLeadership(epoch int64) {
	c.metrics.active.Set(1)
	c.metrics.epoch.Set(float64(epoch))
	c.logger.Info("leadership established", "epoch", epoch)
}

// revokeLeadership ends the leader-only state: the shutdown marks (a new
// active controller starts from the data nodes' repeated requests) and the
// gauges.
func (c *Controller) revokeLeadership(epoch int64, stopping bool) {
	c.mu.Lock()
	if c.lead.active && c.lead.epoch == epoch {
		c.lead = leadership{}
	}
	c.mu.Unlock()
	c.shutdownMu.Lock()
	clear(c.shutdown)
	c.shutdownMu.Unlock()
	c.metrics.active.Set(0)
	c.metrics.epoch.Set(0)
	c.offline.Store(nil)
	c.logger.Info("leadership revoked", "epoch", epoch, "stopping", stopping)
}

// leaderLoop reconciles on every wake-up (gossip event, newer image,
// controlled-shutdown request), on the reconcile period, and restores
// preferred leaders on the rebalance period, until ctx ends.
func (c *Controller) leaderLoop(ctx context.Context, epoch int64) {
	reconcile := time.NewTicker(c.cfg.ReconcileInterval)
	defer reconcile.Stop()
	rebalance := time.NewTicker(c.cfg.RebalanceInterval)
	defer rebalance.Stop()
	var retry <-chan time.Time
	// waitFor is the image version our last write produced: reconciling
	// an older image would repeat changes already made.
	var waitFor uint64
	trigger := "established"
	withRebalance := false
	for {
		if trigger != "" {
			if img := c.image(); img != nil && img.Version >= waitFor {
				v, ok := c.reconcile(ctx, img, trigger, withRebalance)
				withRebalance = false
				waitFor = max(waitFor, v)
				retry = nil
				if !ok {
					retry = time.After(200 * time.Millisecond)
				}
				trigger = ""
			}
		}
		select {
		case <-ctx.Done():
			return
		case reason := <-c.wake:
			trigger = reason
		case <-c.imageChanged():
			if trigger == "" {
				trigger = "image"
			}
		case <-reconcile.C:
			trigger = "periodic"
		case <-rebalance.C:
			if c.cfg.AutoLeaderRebalance {
				trigger, withRebalance = "rebalance", true
			}
		case <-retry:
			trigger = "retry"
		}
	}
}

// reconcile computes the plan for img and the live gossip members and
// proposes it. It returns the image version its writes produced and whether
// everything was written.
func (c *Controller) reconcile(ctx context.Context, img *wire.Image, trigger string, rebalance bool) (uint64, bool) {
	start := time.Now()
	c.metrics.reconciles.WithLabelValues(trigger).Inc()
	plan := election.Compute(election.Input{
		Image:          img,
		Live:           c.liveDataNodes(),
		ShuttingDown:   c.shuttingDown(img),
		Rebalance:      rebalance,
		UncleanDefault: c.cfg.UncleanLeaderElection,
	})
	offline := make([]string, 0, len(plan.Offline))
	for _, p := range plan.Offline {
		offline = append(offline, p.String())
	}
	sort.Strings(offline)
	c.offline.Store(&offline)
	c.metrics.offline.Set(float64(len(plan.Offline)))
	fenced := 0
	for _, n := range img.Nodes {
		if n.Fenced {
			fenced++
		}
	}
	c.metrics.fencedNodes.Set(float64(fenced))
	if plan.Empty() {
		return 0, true
	}
	c.logger.Info("reconcile", "trigger", trigger, "version", img.Version,
		"unfence", plan.Unfence, "fence", plan.Fence, "changes", len(plan.Changes),
		"elections", plan.Stats.Elections, "unclean", plan.Stats.Unclean,
		"shutdown_moves", plan.Stats.ShutdownMoves, "rebalances", plan.Stats.Rebalances, "offline", len(plan.Offline))
	var version uint64
	ok := true
	epoch, active := c.writableEpoch()
	if !active {
		return 0, false
	}
	for _, cmd := range plan.Commands(epoch, c.cfg.MaxChangesPerCommand) {
		wctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		resp, err := c.write(wctx, func(int64) *wire.Command { return cmd })
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.logger.Warn("reconcile write failed", "command", cmd.Type, "err", err)
			}
			ok = false
			break
		}
		version = resp.Version
		if len(resp.Rejected) > 0 {
			c.metrics.rejectedChanges.Add(float64(len(resp.Rejected)))
			c.logger.Info("partition changes rejected, recomputing", "rejected", len(resp.Rejected),
				"first", resp.Rejected[0].Message)
			ok = false
		}
	}
	c.metrics.elections.WithLabelValues("election").Add(float64(plan.Stats.Elections - plan.Stats.Unclean))
	c.metrics.elections.WithLabelValues("unclean").Add(float64(plan.Stats.Unclean))
	c.metrics.elections.WithLabelValues("shutdown").Add(float64(plan.Stats.ShutdownMoves))
	c.metrics.elections.WithLabelValues("rebalance").Add(float64(plan.Stats.Rebalances))
	c.metrics.reconcileTime.Observe(time.Since(start).Seconds())
	return version, ok
}
