package producer

import (
	"time"

	"strand.dev/client/record"
)

// batchOverhead is the size of a RecordBatch v2 header.
const batchOverhead = 61

// pending is a buffered record with its callback.
type pending struct {
	rec  *record.Record
	cb   Callback
	size int // bytes held in buffer memory
}

// recordSize estimates a record's size inside an uncompressed batch: its
// payload plus the varints around it (length, attributes, timestamp and
// offset deltas, key and value lengths, header count and lengths).
func recordSize(r *record.Record) int {
	n := 1 + 10 + 5 + 5 + len(r.Key) + 5 + len(r.Value) + 5 + 5
	for _, h := range r.Headers {
		n += 5 + len(h.Key) + 5 + len(h.Value)
	}
	return n
}

// batch is a partition's records sent together. Before it is sealed it is
// owned by its partition under partition.mu; once sealed, by the partition's
// goroutine (and, while in flight, by the request's goroutine).
type batch struct {
	records  []*pending
	size     int       // sum of the records' sizes
	created  time.Time // when the first record was added
	attempts int       // times sent
	lastErr  error     // the error of the last attempt
	// alone: send in a request of its own (after a MESSAGE_TOO_LARGE).
	alone bool
	// encoded is the batch's bytes, made on first send and reused by retries.
	encoded []byte
	// order is the batch's place in its partition, given when it is sealed:
	// retries are sent and callbacks run in this order.
	order int64
	// id and seq are an idempotent batch's producer identity and base
	// sequence, given when it is first taken into a request (seq -1 before);
	// resequence says they must be given again (the leader has neither this
	// batch nor any later one, see idempotence.go).
	id         identity
	seq        int32
	resequence bool
}

// newBatch returns an empty batch.
func newBatch() *batch { return &batch{id: noIdentity, seq: -1} }

func (b *batch) add(pr *pending) {
	if len(b.records) == 0 {
		b.created = time.Now()
	}
	b.records = append(b.records, pr)
	b.size += pr.size
}

func (b *batch) bytes() int { return b.size + batchOverhead }

// split halves a batch of two or more records; both halves go alone, at
// the batch's place, and an idempotent batch's halves need sequence numbers.
func (b *batch) split() (*batch, *batch) {
	mid := len(b.records) / 2
	first := &batch{created: b.created, attempts: b.attempts, lastErr: b.lastErr, alone: true,
		order: b.order, id: b.id, seq: -1, resequence: b.seq >= 0}
	second := &batch{created: b.created, attempts: b.attempts, lastErr: b.lastErr, alone: true,
		order: b.order, id: b.id, seq: -1, resequence: b.seq >= 0}
	for _, pr := range b.records[:mid] {
		first.records = append(first.records, pr)
		first.size += pr.size
	}
	for _, pr := range b.records[mid:] {
		second.records = append(second.records, pr)
		second.size += pr.size
	}
	return first, second
}
