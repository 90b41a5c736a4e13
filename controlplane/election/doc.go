// Package election decides, from the metadata image and the set of data nodes
// gossip sees alive, what the controller must change: which nodes to fence
// and unfence, and for each partition its new leader and ISR.
//
// It is a pure function in the style of etcd's raft: no I/O, no clock; the
// controller's driver goroutine feeds it an image and the live set and
// proposes the commands it returns. Running it again on the image those
// commands produced returns an empty plan, so the controller can run it on
// every gossip event, every image change and on a periodic full reconcile
// without tracking what it already did (a change that raced with another
// writer is rejected by its partition epoch and recomputed next time).
//
// The rules, per partition (topics in name order, partitions in order):
//
//   - ISR members that are dead (not alive in gossip, or not registered)
//     leave the ISR; members in controlled shutdown stay until they leave.
//     When every ISR member is dead the ISR is kept unchanged (leader -1),
//     as Kafka does, so the first of them to return leads with nothing
//     lost; a single-replica partition's replica counts as in sync even
//     when its ISR record is empty (fencing empties it).
//   - A partition whose leader is dead, gone from the ISR, or shutting down
//     gets the first replica (in replica order, so the preferred replica
//     first) that is in the remaining ISR, alive and not shutting down; the
//     leader epoch is bumped.
//   - With none: a leader in controlled shutdown keeps leading (there is
//     nowhere to move it); otherwise, only when the topic sets
//     unclean.leader.election.enable=true (or the controller's default says
//     so), the first alive replica outside the ISR leads with an ISR of just
//     itself (data that was not replicated to it is lost); otherwise the
//     partition is left without a leader (offline) until an ISR member
//     returns.
//   - With Rebalance, a partition whose preferred replica (the first) is in
//     the ISR, alive and not shutting down, but does not lead, gets it back
//     as leader (auto.leader.rebalance.enable).
//
// Nodes: a registered, unfenced node that gossip does not see alive is
// fenced (after the partition changes, so the changes move its leaderships
// to in-sync replicas rather than leaving them leaderless); a fenced node
// that gossip sees alive and that is not shutting down is unfenced (before
// the partition changes, which may then elect it).
package election
