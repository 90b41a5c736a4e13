// Package transport carries raft messages between strand-meta nodes.
//
// Every node serves wire.PathMetaRaft on its peer listener (Handler). A node
// sending to a peer opens one TCP connection to it with an HTTP request to
// that path that the server upgrades to a one-way stream of length-prefixed
// raftpb.Message frames. Messages are pipelined (no per-message round trip)
// and batched (every message queued while the previous write was in flight
// goes out in the next write, with one flush).
//
// Each peer has one sender goroutine and a bounded queue. Send never blocks
// the raft loop: a full queue drops the message and reports the peer
// unreachable, as does a failed dial or write (raft retransmits). Snapshots
// (MsgSnap) go on a connection of their own, in one streamed request whose
// receipt the receiver acknowledges; the outcome is reported with
// ReportSnapshot.
//
// Goroutines: one sender per peer (owned by the Transport, stopped by
// RemovePeer or Close), one per in-flight snapshot send, and one per inbound
// stream (run by the fasthttp server after the hijack, ended by Close or the
// remote closing).
package transport
