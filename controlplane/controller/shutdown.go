package controller

import (
	"context"
	"sort"
	"time"

	"strand.dev/client/wire"
	"strand.dev/controlplane/election"
)

// shutdownMark records a data node in controlled shutdown.
type shutdownMark struct {
	incarnation int64
	expires     time.Time
}

// shuttingDown returns the nodes in controlled shutdown, dropping marks
// that expired or whose node re-registered (a restart) meanwhile.
func (c *Controller) shuttingDown(img *wire.Image) map[int32]bool {
	c.shutdownMu.Lock()
	defer c.shutdownMu.Unlock()
	out := map[int32]bool{}
	now := time.Now()
	for id, m := range c.shutdown {
		n := img.Nodes[id]
		if now.After(m.expires) || n == nil || n.Incarnation != m.incarnation {
			delete(c.shutdown, id)
			continue
		}
		out[id] = true
	}
	return out
}

// controlledShutdown marks the node and waits (up to wait) until it leads
// only partitions no in-sync replica can take over; it answers what the
// node still leads.
func (c *Controller) controlledShutdown(ctx context.Context, req wire.ControlledShutdownRequest) (*wire.ControlledShutdownResponse, error) {
	img := c.image()
	if img == nil {
		return nil, wire.Errorf(wire.CodeNotController, "the controller has no metadata image yet")
	}
	n := img.Nodes[req.NodeID]
	if n == nil {
		return nil, wire.Errorf(wire.CodeBrokerNotAvailable, "node %d is not registered", req.NodeID)
	}
	if req.Incarnation != 0 && req.Incarnation != n.Incarnation {
		return nil, wire.Errorf(wire.CodeStaleBrokerEpoch, "node %d: incarnation %d is not the registered incarnation %d", req.NodeID, req.Incarnation, n.Incarnation)
	}
	c.shutdownMu.Lock()
	c.shutdown[req.NodeID] = shutdownMark{incarnation: n.Incarnation, expires: time.Now().Add(c.cfg.ShutdownMarkTTL)}
	c.shutdownMu.Unlock()
	c.logger.Info("controlled shutdown requested", "node", req.NodeID)
	c.poke("controlled-shutdown")

	wait := time.Duration(req.WaitMs) * time.Millisecond
	if wait <= 0 {
		wait = 5 * time.Second
	}
	wait = min(wait, c.cfg.ShutdownWaitMax)
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	// Done when everything it still leads is stuck: computing the plan
	// for the node as shutting down tells which leaderships can move.
	movable := func(img *wire.Image) int {
		plan := election.Compute(election.Input{Image: img, Live: c.liveDataNodes(),
			ShuttingDown: map[int32]bool{req.NodeID: true}, UncleanDefault: c.cfg.UncleanLeaderElection})
		return plan.Stats.ShutdownMoves
	}
	img, err := c.waitImage(wctx, func(img *wire.Image) bool { return movable(img) == 0 })
	if err != nil {
		img = c.image()
	}
	return &wire.ControlledShutdownResponse{NodeID: req.NodeID, Remaining: ledBy(img, req.NodeID), Version: img.Version}, nil
}

// ledBy lists the partitions node leads in img, sorted.
func ledBy(img *wire.Image, node int32) []string {
	out := []string{}
	for name, t := range img.Topics {
		for _, p := range t.Partitions {
			if p.Leader == node {
				out = append(out, election.PartitionRef{Topic: name, Partition: p.Partition}.String())
			}
		}
	}
	sort.Strings(out)
	return out
}
