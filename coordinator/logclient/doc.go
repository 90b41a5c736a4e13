// Package logclient is the coordinator's client of the data plane's HTTP
// API: it appends record batches to a partition with acks=all, fetches raw
// batches, lists offsets, and creates topics through the admin API. Requests
// go to the partition's leader as the current metadata names it; a "not
// leader" answer, an unreachable node or another retriable error refreshes
// the metadata and retries with backoff until the caller's context ends.
//
// A Client is safe for concurrent use.
package logclient
