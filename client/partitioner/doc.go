// Package partitioner decides which partition of a topic a produced record
// goes to.
//
// The default, Default(), places a record with a key exactly where Apache
// Kafka's Java producer would: toPositive(murmur2(key)) % partitions, with
// Kafka's murmur2 (seed 0x9747b28c) and toPositive(h) = h & 0x7fffffff. So a
// key written by a Strand producer and one written by a Kafka producer land on
// the same partition of a topic with the same partition count. Records
// without a key stick to one partition until the batch being filled for it is
// sealed (Kafka's sticky partitioner), then move to another.
//
// RoundRobin() hashes keys the same way and spreads records without a key
// one by one over the partitions. Manual() sends each record to the partition
// the record names. Any other policy plugs in through the Partitioner
// interface:
//
//	p := producer.New(producer.WithPartitioner(partitioner.RoundRobin()))
package partitioner
