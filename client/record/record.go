// Package record defines the record the producer takes and the consumer
// returns: a key, a value, headers and a timestamp, and where the record
// is (topic, partition, offset).
package record

import "time"

// Header is one record header. Headers keep their order; keys may repeat.
type Header struct {
	Key   string
	Value []byte
}

// Record is one record.
//
// For the producer, Topic, Key, Value, Headers and Timestamp are inputs
// (a zero Timestamp is set to the time of Send; Partition is read only with
// partitioner.Manual). Once the record's callback runs, Partition and Offset
// say where it was written (Offset is -1 with acks=0), and Timestamp is the
// broker's time when the topic uses LogAppendTime.
//
// For the consumer, every field is set from the log. A nil Key or Value is
// a null one (a nil Value with a key is a tombstone).
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       []byte
	Value     []byte
	Headers   []Header
	// LeaderEpoch is the leader epoch of the batch the record was read
	// from (consumer only; -1 when unknown).
	LeaderEpoch int32
}

// Size is the record's payload size in bytes: key, value and headers.
func (r *Record) Size() int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}
