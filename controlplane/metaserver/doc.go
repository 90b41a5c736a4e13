// Package metaserver is strand-meta: the raft member (package raftnode) over
// the metadata state machine (package metastate), served over fasthttp with
// the JSON API of client/wire/meta.go.
//
// Endpoints (all JSON; errors are the wire error envelope):
//
//	GET    wire.PathMetaImage     the image; linearizable (raft ReadIndex) unless ?stale=true
//	GET    wire.PathMetaWatch     ?version=V&timeout_ms=T: long-poll until the version exceeds V
//	POST   wire.PathMetaPropose   a wire.Command; any member takes it, followers forward it to the leader
//	GET    wire.PathMetaStatus    this member's raft status (wire.MetaStatus)
//	GET    wire.PathMetaMembers   the raft members; POST adds one, DELETE ?id=N removes one
//	GET    wire.PathMetadata      the routing view of the image plus the members' API addresses
//	POST   wire.PathMetaRaft      the peer transport (member to member only)
//	GET    /healthz               200 while the member runs and knows a leader, 503 otherwise
//	GET    /metrics               Prometheus
//
// A proposal reaching a follower is forwarded to the leader's API (at most two
// hops); without a leader the member waits up to NoLeaderWait for one, then
// answers the retriable NO_LEADER. The retriable errors of a proposal say
// what happened to it:
//
//	NO_LEADER, NOT_LEADER   not applied, and never will be: retry
//	REQUEST_TIMED_OUT       outcome unknown (the leader died after appending
//	                        it, the wait timed out): it may yet be applied
//	SHUTTING_DOWN           this member is stopping (outcome unknown if the
//	                        command had reached raft)
//
// Everything else is final: the state machine's rejection (stale epoch,
// failed compare-and-set, ...) or bad input.
//
// The controller lease: the leader remembers, on its monotonic clock, when it
// last saw the lease acquired or renewed (and counts from its own election at
// the earliest). It refuses a takeover (acquire_lease by another holder)
// with NOT_CONTROLLER until LeaseMs has passed since then, and proposes an
// accepted takeover with LapsedRenewedAt set to the RenewedAt it saw lapse,
// so that a renewal committed in between defeats it.
package metaserver
