package clusteragent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"strand.dev/client/wire"
)

// register records the node in strand-meta with a new incarnation (its
// start time in nanoseconds, or one above the recorded incarnation when the
// clock is behind it). The state machine's rules (controlplane/metastate):
// an incarnation not above the recorded one is STALE_BROKER_EPOCH — the
// agent re-reads the image and tries again above it; the id registered,
// live and unfenced at another address is DUPLICATE_BROKER_REGISTRATION —
// another process has this id, or this node restarted on a new address
// before the controller noticed the old process died: the agent retries
// until the controller fences the old record, for at most RegisterTimeout.
func (a *Agent) register(ctx context.Context, gossipAddr string) error {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.RegisterTimeout)
	defer cancel()
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		img, err := a.meta.Image(ctx, false)
		if err != nil {
			return fmt.Errorf("clusteragent: read the metadata image to register: %w", err)
		}
		if attempt == 1 && a.cfg.CheckCluster != nil {
			if err := a.cfg.CheckCluster(img.ClusterID); err != nil {
				return err
			}
		}
		inc := time.Now().UnixNano()
		if old := img.Nodes[a.cfg.NodeID]; old != nil && inc <= old.Incarnation {
			inc = old.Incarnation + 1
		}
		cmd := &wire.Command{Type: wire.CmdRegisterNode, RegisterNode: &wire.RegisterNodeCmd{Node: wire.NodeRecord{
			ID: a.cfg.NodeID, Addr: a.cfg.Addr, GossipAddr: gossipAddr, Rack: a.cfg.Rack, Incarnation: inc,
		}}}
		resp, err := a.meta.Propose(ctx, cmd)
		switch {
		case err == nil:
			a.incarnation.Store(inc)
			a.minVersion.Store(resp.Version)
			a.registered.Store(true)
			a.log.Info("registered", "node", a.cfg.NodeID, "addr", a.cfg.Addr, "incarnation", inc,
				"version", resp.Version, "cluster_id", img.ClusterID)
			return nil
		case errors.Is(err, &wire.Error{Code: wire.CodeStaleBrokerEpoch}):
			a.log.Info("registration is stale, retrying above the recorded incarnation", "err", err)
			continue
		case errors.Is(err, &wire.Error{Code: wire.CodeDuplicateBrokerRegistration}):
			if attempt == 1 || attempt%20 == 0 {
				a.log.Warn("node id is registered live at another address; waiting for the controller to fence it",
					"node", a.cfg.NodeID, "err", err)
			}
		default:
			return fmt.Errorf("clusteragent: register node %d: %w", a.cfg.NodeID, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("clusteragent: register node %d: still refused after %v: %w", a.cfg.NodeID, a.cfg.RegisterTimeout, err)
		}
		backoff = min(2*backoff, time.Second)
	}
}
