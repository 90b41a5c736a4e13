// Package producer sends records to a Strand cluster with the behaviour
// Kafka users rely on.
//
// Send buffers a record and returns; the record's callback runs once the
// partition leader acknowledged it (with the RequiredAcks level) or it
// failed. Records are batched per partition: a batch is sent when it
// reaches BatchSize, when it has waited Linger, or on Flush and Close, and
// is compressed with the WithCompression codec (none, gzip, snappy, lz4,
// zstd). Records with a key go where Kafka's default partitioner puts them
// (murmur2(key) % partitions, see package partitioner); records without one
// stick to a partition per batch; WithPartitioner plugs in another policy.
//
// Failures worth retrying (a moved leader, a node down, not enough replicas)
// are retried after a metadata refresh, with backoff, until DeliveryTimeout.
// A record over the leader's max.message.bytes fails with ErrRecordTooLarge
// (batches of several records are split first). BufferMemory bounds what is
// buffered: Send waits (up to MaxBlock) when it is full. Callbacks never
// report a record delivered that the leader did not acknowledge; a record
// whose fate is unknown (a request that timed out) is reported failed.
// Callbacks of a partition run in the order its records were sent.
//
// The producer is idempotent by default (Idempotence), as Kafka's is since
// 3.0: it takes a producer id from the cluster and numbers each partition's
// batches, a retry carries the same numbers, and the leader answers a batch
// it already has with its offsets instead of writing it again. So every
// acknowledged record is in its partition exactly once, in the order sent,
// with up to five requests in flight per partition. With acks 0 or 1, or
// with Idempotence(false), delivery is at least once: a retry after a lost
// answer may write a batch twice, and order across retries holds only with
// one request in flight (the default then).
//
//	p, err := producer.New(producer.Bootstrap("127.0.0.1:9001"), producer.Linger(10*time.Millisecond))
//	if err != nil { ... }
//	defer p.Close(context.Background())
//	p.Send(ctx, &record.Record{Topic: "orders", Key: []byte("user-1"), Value: []byte("hello")},
//		func(r *record.Record, err error) {
//			if err != nil { log.Printf("not delivered: %v", err); return }
//			log.Printf("delivered to %d@%d", r.Partition, r.Offset)
//		})
//
// A Producer is safe for concurrent use. It logs nothing unless given a
// logger with the Logger option.
package producer
