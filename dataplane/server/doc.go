// Package server is the strand-data node: New opens the data directory (the
// partition logs, the replicas, the standalone topic catalog) and binds the
// HTTP listener; Run serves the data-plane API of client/wire until its
// context ends, then stops cleanly (stop accepting, finish in-flight
// requests within a bound, flush, write checkpoints).
//
// The HTTP front-end is fasthttp and stays thin over replica.Manager: it
// parses requests, calls the manager and writes answers. Fetch bodies are
// segment file regions handed to fasthttp as a bare *os.File body stream,
// which fasthttp sends with sendfile(2) (zero-copy) and closes after the
// response; errors are the JSON envelope of client/wire with the code's
// HTTP status. /metrics is the node's own Prometheus registry.
//
// A node runs standalone (Config.Standalone: its own topic catalog, it leads
// everything) or in a cluster (Config.MetaAddrs): then Run registers it in
// strand-meta and joins the gossip pool (package clusteragent) once the
// listener serves, follows the metadata image, replicates the partitions it
// follows (package fetcher) and serves its followers' replica streams
// (package replstream, wire.PathReplicaStream and wire.PathReplicaEpochs).
// On stop a cluster node first asks the controller to move its leaderships
// away (controlled shutdown), then leaves gossip, closes the replica streams
// and stops as above. Every node hands out producer ids for idempotent
// producers (wire.PathInitProducerID).
//
// Example:
//
//	cfg := server.DefaultConfig()
//	cfg.Standalone, cfg.DataDir, cfg.Listen = true, dir, "127.0.0.1:0"
//	n, err := server.New(cfg)
//	if err != nil { ... }
//	go n.Run(ctx) // serves at n.Addr() until ctx ends
package server
