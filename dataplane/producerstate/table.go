// Package producerstate is a partition's idempotent-producer bookkeeping:
// for each producer id, its epoch and the sequence numbers and offsets of
// its last five batches, as Kafka keeps them. The leader checks every
// idempotent batch against it before the append (a retried batch is
// answered with its first offsets instead of being written again; a gap in
// the sequence is OUT_OF_ORDER_SEQUENCE_NUMBER; an older producer epoch is
// INVALID_PRODUCER_EPOCH), and every replica updates it from the batches it
// appends, so a follower that becomes leader has the same state.
//
// The table is persisted in snapshot files beside the log
// (<20-digit offset>.snapshot: the state after every batch below that
// offset) and rebuilt at start from the newest snapshot plus the batches
// after it (Scan), and after a truncation from the newest snapshot at or
// below the cut.
package producerstate

import (
	"math"
	"sort"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

// MaxBatches is how many batches per producer the table remembers: a
// producer has at most this many requests in flight, so a retry is always
// one of them.
const MaxBatches = 5

// BatchMeta is what the table keeps of one batch.
type BatchMeta struct {
	FirstSeq    int32 `json:"first_seq"`
	LastSeq     int32 `json:"last_seq"`
	FirstOffset int64 `json:"first_offset"`
	LastOffset  int64 `json:"last_offset"`
	Timestamp   int64 `json:"timestamp"` // the batch's max timestamp (Unix ms)
}

// Entry is one producer's state.
type Entry struct {
	ProducerID int64 `json:"producer_id"`
	Epoch      int16 `json:"epoch"`
	// Batches are its last batches, oldest first, at most MaxBatches.
	Batches []BatchMeta `json:"batches"`
	// LastTimestamp is the producer's last activity: the newest of its
	// batches' timestamps and the local times they were appended (Unix ms;
	// expiry goes by it).
	LastTimestamp int64 `json:"last_timestamp"`
}

func (e *Entry) last() (BatchMeta, bool) {
	if len(e.Batches) == 0 {
		return BatchMeta{}, false
	}
	return e.Batches[len(e.Batches)-1], true
}

// Table is one partition's producer state. It is not safe for concurrent
// use: the replica layer serialises it with the partition's appends.
type Table struct {
	producers map[int64]*Entry
	// maxProducers bounds the table: beyond it, the producer idle longest
	// is forgotten.
	maxProducers int
}

// New returns an empty table holding at most maxProducers producers (0:
// 100,000).
func New(maxProducers int) *Table {
	if maxProducers <= 0 {
		maxProducers = 100_000
	}
	return &Table{producers: make(map[int64]*Entry), maxProducers: maxProducers}
}

// Len is the number of producers.
func (t *Table) Len() int { return len(t.producers) }

// Entry returns a copy of one producer's state.
func (t *Table) Entry(pid int64) (Entry, bool) {
	e, ok := t.producers[pid]
	if !ok {
		return Entry{}, false
	}
	cp := *e
	cp.Batches = append([]BatchMeta(nil), e.Batches...)
	return cp, true
}

// Incoming is an idempotent batch a leader is about to append.
type Incoming struct {
	ProducerID int64
	Epoch      int16
	FirstSeq   int32
	LastSeq    int32
}

// IncomingOf describes a batch header; ok is false for a batch written
// without idempotence (no producer id) and for transaction markers.
func IncomingOf(h recordbatch.BatchHeader) (Incoming, bool) {
	if h.ProducerID < 0 || h.BaseSequence < 0 || h.Control() {
		return Incoming{}, false
	}
	return Incoming{ProducerID: h.ProducerID, Epoch: h.ProducerEpoch, FirstSeq: h.BaseSequence,
		LastSeq: addSeq(h.BaseSequence, h.LastOffsetDelta)}, true
}

// addSeq adds to a sequence number, wrapping at MaxInt32 as Kafka does.
func addSeq(seq, delta int32) int32 {
	if int64(seq)+int64(delta) > math.MaxInt32 {
		return int32(int64(seq) + int64(delta) - math.MaxInt32 - 1)
	}
	return seq + delta
}

// Check decides a leader's idempotent batch: a retry of one of the
// producer's last batches returns that batch (write nothing, answer its
// offsets); otherwise the batch must continue the producer's sequence
// (OUT_OF_ORDER_SEQUENCE_NUMBER) at its current epoch or start a newer one
// at sequence 0 (an older epoch is INVALID_PRODUCER_EPOCH). An unknown
// producer must start at sequence 0.
func (t *Table) Check(in Incoming) (dup *BatchMeta, err error) {
	e, ok := t.producers[in.ProducerID]
	if !ok {
		if in.FirstSeq != 0 {
			return nil, wire.Errorf(wire.CodeOutOfOrderSequenceNumber,
				"producer %d is unknown to this partition (its state expired or was never written) and sent sequence %d; a new producer starts at 0",
				in.ProducerID, in.FirstSeq)
		}
		return nil, nil
	}
	switch {
	case in.Epoch < e.Epoch:
		return nil, wire.Errorf(wire.CodeInvalidProducerEpoch, "producer %d: epoch %d is older than the current %d", in.ProducerID, in.Epoch, e.Epoch)
	case in.Epoch > e.Epoch:
		if in.FirstSeq != 0 {
			return nil, wire.Errorf(wire.CodeOutOfOrderSequenceNumber, "producer %d: a new epoch %d must start at sequence 0, not %d", in.ProducerID, in.Epoch, in.FirstSeq)
		}
		return nil, nil
	}
	for i := range e.Batches {
		if b := e.Batches[i]; b.FirstSeq == in.FirstSeq && b.LastSeq == in.LastSeq {
			cp := b
			return &cp, nil
		}
	}
	last, ok := e.last()
	if !ok {
		if in.FirstSeq != 0 {
			return nil, wire.Errorf(wire.CodeOutOfOrderSequenceNumber, "producer %d epoch %d: sequence %d, expected 0", in.ProducerID, in.Epoch, in.FirstSeq)
		}
		return nil, nil
	}
	if want := addSeq(last.LastSeq, 1); in.FirstSeq != want {
		return nil, wire.Errorf(wire.CodeOutOfOrderSequenceNumber, "producer %d epoch %d: sequence %d, expected %d", in.ProducerID, in.Epoch, in.FirstSeq, want)
	}
	return nil, nil
}

// Ahead reports whether Check refused in only because it starts beyond the
// sequence number the producer's next batch must start at (0 for a producer
// the table does not know or a newer epoch): the batches in between may
// still come. A client with several requests in flight sends them on
// separate connections, so one may overtake another on the way; a leader
// may wait a moment for the ones before it.
func (t *Table) Ahead(in Incoming) bool {
	var want int32
	if e, ok := t.producers[in.ProducerID]; ok {
		switch {
		case in.Epoch < e.Epoch:
			return false
		case in.Epoch == e.Epoch:
			if last, ok := e.last(); ok {
				want = addSeq(last.LastSeq, 1)
			}
		}
	}
	d := (int64(in.FirstSeq) - int64(want) + math.MaxInt32 + 1) % (math.MaxInt32 + 1)
	return d > 0 && d < 1<<30
}

// Update records an appended batch (leader and followers alike) with its
// max timestamp; the producer's last activity (for Expire) is the later of
// that and seen, the local time of the append (0 when unknown, as when
// replaying the log).
func (t *Table) Update(in Incoming, firstOffset, lastOffset, timestamp, seen int64) {
	e, ok := t.producers[in.ProducerID]
	if !ok {
		t.evict()
		e = &Entry{ProducerID: in.ProducerID, Epoch: in.Epoch}
		t.producers[in.ProducerID] = e
	}
	if in.Epoch != e.Epoch {
		e.Epoch, e.Batches = in.Epoch, e.Batches[:0]
	}
	e.Batches = append(e.Batches, BatchMeta{FirstSeq: in.FirstSeq, LastSeq: in.LastSeq,
		FirstOffset: firstOffset, LastOffset: lastOffset, Timestamp: timestamp})
	if n := len(e.Batches); n > MaxBatches {
		e.Batches = append(e.Batches[:0], e.Batches[n-MaxBatches:]...)
	}
	e.LastTimestamp = max(e.LastTimestamp, timestamp, seen)
}

// UpdateHeader records an appended batch given its header (a no-op for
// batches without a producer id); seen is as for Update.
func (t *Table) UpdateHeader(h recordbatch.BatchHeader, seen int64) {
	if in, ok := IncomingOf(h); ok {
		t.Update(in, h.BaseOffset, h.LastOffset(), h.MaxTimestamp, seen)
	}
}

// evict makes room for one more producer: the one idle longest goes.
func (t *Table) evict() {
	if len(t.producers) < t.maxProducers {
		return
	}
	var oldest *Entry
	for _, e := range t.producers {
		if oldest == nil || e.LastTimestamp < oldest.LastTimestamp {
			oldest = e
		}
	}
	delete(t.producers, oldest.ProducerID)
}

// Expire forgets producers whose last activity is older than cutoff (Unix
// ms; Kafka's producer.id.expiration.ms) and returns how many.
func (t *Table) Expire(cutoff int64) int {
	n := 0
	for pid, e := range t.producers {
		if e.LastTimestamp < cutoff {
			delete(t.producers, pid)
			n++
		}
	}
	return n
}

// entries lists the producers by id.
func (t *Table) entries() []*Entry {
	out := make([]*Entry, 0, len(t.producers))
	for _, e := range t.producers {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out
}
