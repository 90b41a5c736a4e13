// Package clusteragent is a data node's member of the control plane.
//
// At start (Start) it registers the node in strand-meta with a new
// incarnation — the node then starts fenced: a restarted process lost its
// in-memory state and must catch up before it leads or counts as in sync —
// and joins the gossip pool with role "data", where the active controller
// sees it alive and unfences it. Run then follows the metadata image
// (metaclient.Watcher) and drives the node's replica layer (Replicas): for
// every partition the node is a replica of, Apply with the leader, the
// leader epoch, the ISR and the topic's configs; for partitions the node no
// longer replicates (topic deleted, replica moved, topic created again
// under a new id), Remove, but only once a linearizable read confirms it.
// Images older than the node's own registration are ignored.
//
// The agent also serves what the node answers about the cluster (Metadata,
// KnownReplica, NodeAddr), proposes the partition leader's ISR changes
// (AlterISR, compare-and-set on the partition epoch) and allocates producer
// id blocks. On SIGTERM the node calls ControlledShutdown, which asks the
// active controller to move its leaderships away and waits until they
// moved (bounded), then Leave.
//
// Usage (inside strand-data):
//
//	agent, err := clusteragent.New(clusteragent.Config{NodeID: 1, Addr: addr, DataDir: dir,
//		MetaAddrs: metas, Gossip: membership.Config{BindAddr: "0.0.0.0:7946", Join: peers}}, replicas)
//	if err := agent.Start(ctx); err != nil { ... }
//	go agent.Run(runCtx)
//	<-sigterm
//	agent.ControlledShutdown(ctx)
//	stopRun()
//	agent.Leave()
package clusteragent
