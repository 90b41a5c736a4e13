// Package consumer reads records from partitions it is assigned, without a
// consumer group: the application says which partitions to read (Assign)
// and from where (Seek, or the AutoOffsetReset policy), then calls Poll.
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
// A Consumer is safe for concurrent use, but records are meant for one
// polling goroutine: two goroutines polling at once share the records
// between them. It logs nothing unless given a logger.
package consumer
