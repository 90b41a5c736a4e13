// Package ownership decides which partitions of __consumer_offsets this
// coordinator serves, and for how long it may.
//
// # Who should own what
//
// The partitions are spread over the live coordinators (as gossip sees them)
// by rendezvous hashing: partition p goes to the live coordinator whose
// hash(id, p) is highest, so a coordinator joining or leaving moves only the
// partitions it gains or held.
//
// # Fencing
//
// strand-meta holds each partition's owner and ownership epoch. A
// coordinator claims a partition by compare-and-set on the epoch it saw, and
// only when the partition has no owner (released) or its owner is not alive;
// an owner that should hand a partition to another live coordinator stops
// serving it and releases it. So at most one coordinator holds a claim at a
// time.
//
// A claim in strand-meta is not enough by itself: a deposed owner that is
// paused or cut off does not know it. So ownership is also a lease: an owner
// serves a partition only until Lease after the start of its last
// linearizable read of the image that still named it owner, and it renews by
// reading every Renew. A coordinator that claims a partition whose previous
// owner did not release it waits Lease after its claim before serving, by
// which time the old owner has stopped answering. The old owner's writes
// that land late in the partition are ignored on replay because they carry
// an older epoch (see package offsets).
//
// Plan is the pure decision; Manager is the driver that reads the image,
// proposes claims and releases, and keeps the leases.
package ownership
