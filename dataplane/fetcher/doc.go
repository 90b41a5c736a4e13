// Package fetcher is the follower side of replication: it keeps the
// partitions this data node follows in step with their leaders.
//
// The replica layer tells it what to follow (Follow: a partition, its local
// log, the leader node and the leader epoch) and what to stop (Unfollow).
// For each leader node the fetcher keeps one replica stream
// (package replstream) carrying every partition that node leads for this
// one, so a follower of thousands of partitions holds a handful of
// connections, not thousands of request loops. The leader pushes records as
// they are appended; the fetcher appends them to the local logs as they
// come and acknowledges its log end offsets on the same connection, so
// records are in flight while earlier ones are still being appended.
//
// Before a partition streams under a new leader epoch, the fetcher asks the
// leader where the follower's newest epoch ends in the leader's log
// (wire.PathReplicaEpochs, batched per leader) and truncates its log there,
// repeating with older epochs while the leader does not know the epoch
// (Kafka's KIP-101 and KIP-279), so replicas never diverge. A follower
// wholly below the leader's log start offset restarts its log there.
//
// Usage:
//
//	f := fetcher.New(fetcher.Config{NodeID: 2, Logger: logger})
//	defer f.Close()
//	f.Follow(replica, "orders", 0, fetcher.Leader{ID: 1, Addr: "10.0.0.1:9092"}, 7)
//	...
//	f.Unfollow("orders", 0) // before this node leads the partition itself
package fetcher
