// Package replica holds a data node's partitions as replicas: each
// Partition pairs a partition log (package partlog) with its replication
// state and is what protocol front-ends call through Manager (Append,
// Fetch, ListOffset); it knows nothing of HTTP, so a Kafka-protocol
// front-end can sit beside the HTTP one.
//
// A partition is led by this node, followed from another, or waiting for a
// leader. A metadata source says which: Standalone (a topic catalog in the
// data directory; this node leads everything alone) or, in a cluster, the
// control-plane agent (package clusteragent), which calls Apply with every
// partition's leader, leader epoch, ISR and partition epoch from the
// metadata image, and Remove.
//
// As leader, a partition:
//   - appends produce requests (stamping its leader epoch, which it starts
//     in the log's leader-epoch history when it takes over) and answers
//     acks=0/1 at once and acks=all once the high watermark passed the
//     batch (the produce purgatory: each request waits on the partition's
//     notifier), refusing acks=all with NOT_ENOUGH_REPLICAS while the ISR is
//     below min.insync.replicas and answering NOT_ENOUGH_REPLICAS_AFTER_APPEND
//     when it shrank below it meanwhile;
//   - serves its followers through the replica stream (it implements
//     replstream.LeaderPartition) and tracks their log end offsets (package
//     isr): the high watermark is the smallest over the ISR; followers
//     behind for longer than LagMax leave the ISR and caught-up ones join it,
//     each change proposed to strand-meta with a partition-epoch
//     compare-and-set (Cluster.AlterISR);
//   - serves consumers below the high watermark, and answers stale or
//     future leader epochs with FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH;
//   - deduplicates idempotent producers' retries (package producerstate).
//
// As follower, it is written by the fetcher (it implements fetcher.Replica)
// and refuses produce and fetch with NOT_LEADER_OR_FOLLOWER naming the
// leader, its epoch and address. A change of role waits for appends in
// flight, so a deposed leader's append never lands in a follower's log.
//
// Example (standalone):
//
//	logs, _ := partlog.OpenManager(dir, partlog.ManagerOptions{})
//	rm := replica.NewManager(logs, replica.Options{NodeID: 1})
//	sa, _ := replica.OpenStandalone(rm, replica.StandaloneOptions{DataDir: dir, NodeID: 1, Defaults: partlog.DefaultConfig()})
//	sa.CreateTopic(wire.CreateTopicRequest{Topic: "orders", Partitions: 3})
//	res, _ := rm.Append(ctx, replica.AppendRequest{Topic: "orders", Partition: 0, Acks: replica.AcksAll, Batches: batch})
//	f, _ := rm.Fetch(ctx, replica.FetchRequest{Topic: "orders", Offset: res.BaseOffset, MaxBytes: 1 << 20, MinBytes: 1,
//		MaxWait: time.Second, ReplicaID: replica.NoReplica, LeaderEpoch: replica.NoEpoch})
//	defer f.Close() // f.Region is a segment file range, ready for sendfile
//
// In a cluster: rm.Attach(fetcher, agent), then agent.Run drives Apply, and
// rm.Run the ISR changes.
package replica
