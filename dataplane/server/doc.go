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
// Example:
//
//	cfg := server.DefaultConfig()
//	cfg.Standalone, cfg.DataDir, cfg.Listen = true, dir, "127.0.0.1:0"
//	n, err := server.New(cfg)
//	if err != nil { ... }
//	go n.Run(ctx) // serves at n.Addr() until ctx ends
package server
