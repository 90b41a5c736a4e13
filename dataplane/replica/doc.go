// Package replica holds a data node's partitions as replicas: each
// Partition pairs a partition log (package partlog) with its replication
// state (leader or not, leader epoch, in-sync replicas, high watermark) and
// a notifier that wakes long-polling fetches and acks=all produces when the
// high watermark moves. Manager is what protocol front-ends call (Append,
// Fetch, ListOffset); it knows nothing of HTTP, so a Kafka-protocol
// front-end can sit beside the HTTP one.
//
// A metadata source tells the Manager which partitions to lead
// (BecomeLeader) and which to drop (Remove). Standalone is the metadata
// source of a node without a control plane: a topic catalog in a JSON file
// in the data directory, with the admin operations (create, delete, alter
// configs) and the metadata answer.
//
// Today every partition is led by this node alone, so the high watermark is
// the log end offset; the replication work adds followers, ISR changes and
// the high watermark's advance from follower fetch offsets to Partition.
//
// Example:
//
//	logs, _ := partlog.OpenManager(dir, partlog.ManagerOptions{})
//	rm := replica.NewManager(logs, replica.Options{NodeID: 1})
//	sa, _ := replica.OpenStandalone(rm, replica.StandaloneOptions{DataDir: dir, NodeID: 1, Defaults: partlog.DefaultConfig()})
//	sa.CreateTopic(wire.CreateTopicRequest{Topic: "orders", Partitions: 3})
//	res, _ := rm.Append(ctx, replica.AppendRequest{Topic: "orders", Partition: 0, Acks: replica.AcksAll, Batches: batch})
//	f, _ := rm.Fetch(ctx, replica.FetchRequest{Topic: "orders", Offset: res.BaseOffset, MaxBytes: 1 << 20, MinBytes: 1,
//		MaxWait: time.Second, ReplicaID: replica.NoReplica, LeaderEpoch: replica.NoEpoch})
//	defer f.Close() // f.Region is a segment file range, ready for sendfile
package replica
