package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
	"strand.dev/dataplane/clusteragent"
	"strand.dev/dataplane/fetcher"
	"strand.dev/dataplane/replica"
	"strand.dev/dataplane/replstream"
)

// clusterParts are what a node in a cluster runs besides the logs and the
// HTTP front-end: the control-plane agent, the follower fetcher and the
// leader side of the replica streams.
type clusterParts struct {
	agent   *clusteragent.Agent
	fetcher *fetcher.Fetcher
	repl    *replstream.Server

	cancel   context.CancelFunc // ends the agent's and the ISR loop's Run
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// newCluster builds the cluster parts over the replica manager.
func (n *Node) newCluster() error {
	cfg := &n.cfg
	c := &clusterParts{}
	c.fetcher = fetcher.New(fetcher.Config{NodeID: cfg.NodeID, Logger: cfg.logger(), Registerer: n.m.reg})
	c.repl = replstream.NewServer(n.rm, replstream.ServerConfig{MaxPartitionBytes: cfg.ReplicaFetchMaxBytes,
		Logger: cfg.logger(), Registerer: n.m.reg})
	gossip := cfg.Gossip
	gossip.Logger = cfg.logger()
	var err error
	c.agent, err = clusteragent.New(clusteragent.Config{
		NodeID: cfg.NodeID, Addr: n.addr, Rack: cfg.Rack, DataDir: cfg.DataDir, MetaAddrs: cfg.MetaAddrs,
		Gossip: gossip, RegisterTimeout: cfg.RegisterTimeout, MetaTimeout: cfg.MetaTimeout,
		ShutdownTimeout: cfg.ControlledShutdownTimeout, Logger: cfg.logger(), Registerer: n.m.reg,
		CheckCluster: func(clusterID string) error { return adoptClusterID(cfg.DataDir, &n.id, clusterID) },
	}, n.rm)
	if err != nil {
		c.fetcher.Close()
		return err
	}
	n.rm.Attach(c.fetcher, c.agent)
	n.cl = c
	return nil
}

// startCluster registers the node and joins gossip, then starts following
// the metadata image and the leaders' ISR work. The HTTP server serves
// already, so the controller can elect this node as soon as gossip shows
// it.
func (n *Node) startCluster(ctx context.Context) error {
	c := n.cl
	if err := c.agent.Start(ctx); err != nil {
		return fmt.Errorf("join the cluster: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		_ = c.agent.Run(runCtx)
	}()
	go func() {
		defer c.wg.Done()
		n.rm.Run(runCtx)
	}()
	n.log.Info("joined the cluster", "node_id", n.cfg.NodeID, "incarnation", c.agent.Incarnation(),
		"cluster_id", n.id.ClusterID)
	return nil
}

// stop moves this node's leaderships away (controlled shutdown), stops
// following the image, leaves gossip and closes the replica streams, in that
// order; the HTTP server stops after it. Only the first call does anything.
func (c *clusterParts) stop(n *Node) {
	c.stopOnce.Do(func() { c.stopNow(n) })
}

func (c *clusterParts) stopNow(n *Node) {
	if c.cancel != nil {
		if left := c.agent.ControlledShutdown(context.Background()); len(left) > 0 {
			n.log.Warn("stopping while still leading partitions", "partitions", left)
		}
		c.cancel()
		c.wg.Wait()
		if err := c.agent.Leave(); err != nil {
			n.log.Warn("leaving gossip", "err", err)
		}
	} else {
		_ = c.agent.Close()
	}
	c.repl.Close()
	c.fetcher.Close()
}

// replicaStream serves wire.PathReplicaStream.
func (a *api) replicaStream(ctx *fasthttp.RequestCtx) error {
	if a.repl == nil {
		return wire.Errorf(wire.CodeInvalidRequest, "a standalone node has no replicas")
	}
	return a.repl.Handle(ctx)
}

// maxEpochRequestPartitions bounds one epoch lookup.
const maxEpochRequestPartitions = 100_000

// replicaEpochs answers a follower's leader-epoch lookups:
// POST wire.PathReplicaEpochs.
func (a *api) replicaEpochs(ctx *fasthttp.RequestCtx) error {
	if err := method(ctx, fasthttp.MethodPost); err != nil {
		return err
	}
	if a.repl == nil {
		return wire.Errorf(wire.CodeInvalidRequest, "a standalone node has no replicas")
	}
	var req wire.EpochEndRequest
	if err := json.Unmarshal(ctx.PostBody(), &req); err != nil {
		return wire.Errorf(wire.CodeInvalidRequest, "epoch request: %v", err)
	}
	if len(req.Partitions) > maxEpochRequestPartitions {
		return wire.Errorf(wire.CodeInvalidRequest, "epoch request of %d partitions (at most %d)", len(req.Partitions), maxEpochRequestPartitions)
	}
	if !a.rm.KnownReplica(req.ReplicaID) {
		return wire.Errorf(wire.CodeInvalidRequest, "replica %d is not a data node of this cluster", req.ReplicaID)
	}
	return writeJSON(ctx, a.rm.EpochEnds(req))
}

var _ replstream.Source = (*replica.Manager)(nil)
