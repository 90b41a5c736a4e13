// Package raftnode runs strand-meta's raft member: one go.etcd.io/raft/v3
// RawNode driven by one goroutine (the loop) that owns the node, the durable
// log (package wal plus snapshot files), the peer transport's send side and
// the state machine's writes.
//
// Per raft Ready the loop, in this order:
//
//  1. sends the leader's appends and heartbeats at once (the leader writes its
//     own log in parallel; raft counts its own copy only after Advance);
//  2. saves a received snapshot (file, WAL marker) and restores the machine
//     from it; otherwise applies the committed entries that are already
//     durable here, so their proposers do not wait for step 3;
//  3. appends the entries and HardState to the WAL with one fdatasync;
//  4. sends every other message (votes, acknowledgements: only after 3);
//  5. applies the remaining committed entries: commands to the StateMachine
//     (waking the proposer with the result), configuration changes to raft,
//     the member list and the transport;
//  6. answers the ReadIndex requests whose index is applied;
//  7. takes a snapshot every SnapshotCount applied entries (or when a member
//     added since the last one needs one), compacts the in-memory log
//     behind it (keeping CatchUpEntries for slow followers) and releases
//     the WAL segments it covers;
//  8. calls Advance, and handles the next Ready at once if there is one.
//
// Proposals are batched: the loop steps every proposal queued since the last
// Ready before asking for the next one, so they share one fdatasync and one
// append message per follower.
//
// Callers (HTTP handlers) talk to the loop through bounded channels:
// Propose, ReadIndex, AddMember, RemoveMember and Status block until the loop
// answers or their context ends. The transport hands received messages in
// with Process and reports with ReportUnreachable and ReportSnapshot.
package raftnode
