// Package consumer reads records: a Consumer reads the partitions it is
// assigned, without a consumer group (the application says which partitions
// to read, Assign, and from where, Seek or the AutoOffsetReset policy, then
// calls Poll); a GroupConsumer is a member of a consumer group, whose
// coordinator shares the subscribed topics' partitions among the members
// (see "Consumer groups" below).
//
// Each assigned partition has a fetcher that reads from the partition's
// leader with long polling (FetchMinBytes, FetchMaxWait) and keeps one fetch
// in flight while the application works through the records of the last
// one. Records come back in offset order per partition. When a leader moves
// or a node fails, the fetcher refreshes the cluster metadata and resumes at
// the same offset on the new leader, so no record is skipped or repeated.
// Offsets removed by compaction are stepped over.
//
//	c, err := consumer.New(consumer.Bootstrap("127.0.0.1:9001"),
//		consumer.AutoOffsetReset(consumer.ResetEarliest))
//	if err != nil { ... }
//	defer c.Close()
//	c.Assign(consumer.TopicPartition{Topic: "orders", Partition: 0})
//	for {
//		recs, err := c.Poll(ctx)
//		if err != nil { ... }
//		for _, r := range recs { fmt.Println(r.Offset, string(r.Value)) }
//	}
//
// # Consumer groups
//
// NewGroup returns a member of a group; Subscribe joins it in the
// background. The group's strand-coordinator (found through any coordinator
// the cluster metadata lists) computes the assignment and rebalances
// incrementally: when members come and go, only the partitions that must
// move are revoked from their owner (OnPartitionsRevoked, the place to
// commit), and granted to their new owner once revoked (OnPartitionsAssigned,
// after its start position is known: the committed offset, or
// AutoOffsetReset). Partitions that do not move are consumed throughout.
// The callbacks, auto-commit and the start of new partitions run inside
// Poll, on the application's goroutine, so they never race with its
// processing; heartbeats are long polls that carry a rebalance in
// milliseconds.
//
//	g, err := consumer.NewGroup("billing", consumer.Bootstrap("127.0.0.1:7001"),
//		consumer.AutoCommit(false), consumer.AutoOffsetReset(consumer.ResetEarliest))
//	if err != nil { ... }
//	defer g.Close() // commits (with auto-commit) and leaves at once
//	g.Subscribe([]string{"orders"}, listener)
//	for {
//		recs, err := g.Poll(ctx)
//		if err != nil { ... }
//		process(recs)
//		if err := g.CommitSync(ctx); err != nil { ... } // durable once it returns
//	}
//
// A Consumer is safe for concurrent use, but records are meant for one
// polling goroutine: two goroutines polling at once share the records
// between them. It logs nothing unless given a logger.
package consumer
