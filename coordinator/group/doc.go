// Package group is the consumer-group state machine of strand-coordinator:
// members, generations, join, heartbeat, leave, session and
// max.poll.interval expiry, static membership (group.instance.id), and
// cooperative incremental rebalancing.
//
// It does no I/O and reads no clock: every event carries the time, and the
// caller (the coordinator's server) persists the group's Snapshot whenever
// Version changes, before it answers the request that changed it. That order
// is what keeps ownership exclusive across a coordinator takeover: a member is
// never told it owns a partition that the durable state does not give it.
//
// # Rebalancing
//
// Every change of membership, subscriptions, assignor or the subscribed
// topics' partition counts starts a new generation and computes a new target
// assignment (package assign). Members then move towards it one heartbeat at
// a time: a partition a member owns but is no longer its target is put in its
// Revoke list; once the member heartbeats without it, the partition is free;
// a free partition is granted to its target member at that member's next
// heartbeat. Partitions that do not move stay with their owner throughout, so
// a join or a leave never stops the whole group, and no partition is ever
// owned by two members.
//
// # Concurrency
//
// A Group is not safe for concurrent use; its owner serializes calls (the
// server holds one mutex per group).
package group
