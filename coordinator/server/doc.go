// Package server is strand-coordinator: the consumer-group coordinator's
// HTTP API (client/wire's group protocol) over the pure group state machine
// (package group), with committed offsets and group metadata kept in
// __consumer_offsets on the data plane (package offsets over package
// logclient), and offsets partitions owned through strand-meta (package
// ownership) or, standalone, all by this process.
//
// # Goroutines and locks
//
// Run owns the listener, the metadata source, the ownership manager, the
// gossip pool and the tick loop. Each served offsets partition has a loader
// goroutine (until it serves) and a writer goroutine (the only one producing
// to that partition, in submission order). Handlers run on fasthttp's
// goroutines.
//
// Lock order: Server.mu, then partition.mu, then groupEntry.mu. No lock is
// held while waiting for a write or a network answer; the writer goroutine
// takes no lock of a group (its completions only fill a result and close a
// channel), so a handler may submit to a full writer queue while holding its
// group's lock.
package server
