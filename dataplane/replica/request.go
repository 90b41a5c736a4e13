package replica

import (
	"time"

	"strand.dev/client/wire"
)

// Acks is how much of the replication a produce waits for, with Kafka's
// values.
type Acks int8

// The acks a produce may ask for.
const (
	// AcksNone answers without waiting for anything past the local append.
	AcksNone Acks = 0
	// AcksLeader answers once the leader appended the batch.
	AcksLeader Acks = 1
	// AcksAll answers once the high watermark passed the batch, that is
	// every in-sync replica has it, and only while the ISR has at least
	// min.insync.replicas members.
	AcksAll Acks = -1
)

// Valid reports whether a is one of AcksNone, AcksLeader, AcksAll.
func (a Acks) Valid() bool { return a == AcksNone || a == AcksLeader || a == AcksAll }

// NoReplica is the ReplicaID of a consumer's fetch, and NoEpoch the
// LeaderEpoch of a request that does not name one.
const (
	NoReplica int32 = -1
	NoEpoch   int32 = -1
)

// AppendRequest asks a partition leader to append record batches.
type AppendRequest struct {
	Topic     string
	Partition int32
	Acks      Acks
	// Timeout bounds how long AcksAll waits for the high watermark.
	Timeout time.Duration
	// Batches is one or more RecordBatch v2, back to back. The manager does
	// not keep the slice past the call.
	Batches []byte
}

// AppendResult is the outcome of an append.
type AppendResult struct {
	BaseOffset     int64
	LastOffset     int64
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset int64
	Records        int
	Bytes          int
}

// FetchRequest asks for record batches from an offset.
type FetchRequest struct {
	Topic     string
	Partition int32
	Offset    int64
	// MaxBytes bounds the answer, except that the first batch at Offset is
	// returned whole even when larger, so a consumer always makes progress.
	MaxBytes int32
	// MinBytes is how much data must be available below the high watermark
	// before the fetch answers; it waits up to MaxWait for it.
	MinBytes int32
	MaxWait  time.Duration
	// ReplicaID is NoReplica for consumers, or the fetching follower's node id.
	ReplicaID int32
	// LeaderEpoch is the epoch the fetcher believes current, or NoEpoch.
	LeaderEpoch int32
}

// OffsetKind says what an OffsetQuery looks up.
type OffsetKind int

// The kinds of offset lookup.
const (
	// OffsetEarliest is the log start offset.
	OffsetEarliest OffsetKind = iota
	// OffsetLatest is the high watermark (the next offset a consumer sees).
	OffsetLatest
	// OffsetByTimestamp is the first offset whose timestamp is at or after
	// OffsetQuery.Timestamp.
	OffsetByTimestamp
)

// OffsetQuery asks for one offset of a partition.
type OffsetQuery struct {
	Topic     string
	Partition int32
	Kind      OffsetKind
	Timestamp int64 // Unix ms, for OffsetByTimestamp
}

// partitionKey names a partition in maps.
type partitionKey struct {
	topic     string
	partition int32
}

// unknownPartition is the error for a partition this node does not hold.
func unknownPartition(topic string, partition int32) *wire.Error {
	return wire.Errorf(wire.CodeUnknownTopicOrPartition, "this node holds no partition %d of topic %q", partition, topic)
}
