package fakecluster

import (
	"math"
	"net/http"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

// Idempotent producers, as the data plane treats them: producer ids from
// wire.PathInitProducerID; per partition and producer id the epoch and the
// last five batches, so a retried batch is answered with its first offsets
// and not written again, a gap is OUT_OF_ORDER_SEQUENCE_NUMBER and an older
// epoch INVALID_PRODUCER_EPOCH.

// producerState is one producer's state in one partition.
type producerState struct {
	epoch   int16
	batches []seqBatch // the last five, oldest first
}

type seqBatch struct {
	firstSeq, lastSeq int32
	base, last        int64
}

// idemBatch is an incoming batch's producer fields.
type idemBatch struct {
	pid               int64
	epoch             int16
	firstSeq, lastSeq int32
}

func idemOf(h recordbatch.BatchHeader) (idemBatch, bool) {
	if h.ProducerID < 0 || h.BaseSequence < 0 {
		return idemBatch{}, false
	}
	last := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if last > math.MaxInt32 {
		last -= math.MaxInt32 + 1
	}
	return idemBatch{pid: h.ProducerID, epoch: h.ProducerEpoch, firstSeq: h.BaseSequence, lastSeq: int32(last)}, true
}

// checkIdempotent decides a produce's batches against the partition's
// producer state: dup is the offsets to answer when every batch is a retry
// of one already written. c.mu must be held.
func checkIdempotent(part *partition, hdrs []recordbatch.BatchHeader) (dup *seqBatch, err error) {
	var prev *idemBatch
	for i, h := range hdrs {
		in, ok := idemOf(h)
		if !ok || (i > 0 && prev == nil) {
			if prev != nil || ok {
				return nil, wire.Errorf(wire.CodeInvalidRequest, "idempotent and plain batches mixed")
			}
			continue
		}
		st := part.producers[in.pid]
		if st != nil && in.epoch < st.epoch {
			return nil, wire.Errorf(wire.CodeInvalidProducerEpoch, "producer %d: epoch %d is older than %d", in.pid, in.epoch, st.epoch)
		}
		if d, ok := st.find(in); ok {
			switch {
			case i == 0:
				dup = &d
			case dup == nil:
				return nil, wire.Errorf(wire.CodeOutOfOrderSequenceNumber, "producer %d: a retried batch after a new one", in.pid)
			default:
				dup.last = d.last
			}
		} else {
			if dup != nil {
				return nil, wire.Errorf(wire.CodeOutOfOrderSequenceNumber, "producer %d: a request retries a batch but also carries new ones", in.pid)
			}
			want := st.next(in)
			if prev != nil {
				want = prev.lastSeq + 1
			}
			if in.firstSeq != want {
				return nil, wire.Errorf(wire.CodeOutOfOrderSequenceNumber, "producer %d epoch %d: sequence %d, expected %d", in.pid, in.epoch, in.firstSeq, want)
			}
		}
		prev = &in
	}
	return dup, nil
}

// find returns the batch in that is a retry of, if any.
func (st *producerState) find(in idemBatch) (seqBatch, bool) {
	if st == nil || st.epoch != in.epoch {
		return seqBatch{}, false
	}
	for _, b := range st.batches {
		if b.firstSeq == in.firstSeq && b.lastSeq == in.lastSeq {
			return b, true
		}
	}
	return seqBatch{}, false
}

// next is the sequence a new batch of in's epoch must start at.
func (st *producerState) next(in idemBatch) int32 {
	if st == nil || st.epoch != in.epoch || len(st.batches) == 0 {
		return 0
	}
	return st.batches[len(st.batches)-1].lastSeq + 1
}

// recordIdempotent notes an appended batch. c.mu must be held.
func recordIdempotent(part *partition, h recordbatch.BatchHeader, base, last int64) {
	in, ok := idemOf(h)
	if !ok {
		return
	}
	if part.producers == nil {
		part.producers = map[int64]*producerState{}
	}
	st := part.producers[in.pid]
	if st == nil || st.epoch != in.epoch {
		st = &producerState{epoch: in.epoch}
		part.producers[in.pid] = st
	}
	st.batches = append(st.batches, seqBatch{firstSeq: in.firstSeq, lastSeq: in.lastSeq, base: base, last: last})
	if len(st.batches) > 5 {
		st.batches = st.batches[len(st.batches)-5:]
	}
}

// initProducerID answers wire.PathInitProducerID.
func (c *Cluster) initProducerID(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeErr(w, wire.Errorf(wire.CodeInvalidRequest, "method %s", r.Method))
		return
	}
	c.mu.Lock()
	id := c.nextProducerID
	c.nextProducerID++
	c.mu.Unlock()
	writeJSON(w, wire.InitProducerIDResponse{ProducerID: id})
}

// ProducerIDs counts the producer ids handed out.
func (c *Cluster) ProducerIDs() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(c.nextProducerID - firstProducerID)
}

// ForgetProducers drops a partition's producer state, as a leader whose
// state expired: the next batch of a producer is out of order unless it
// starts a sequence.
func (c *Cluster) ForgetProducers(topic string, p int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.topics[topic].parts[p].producers = nil
}

// LoseAnswers makes the next n produce requests that append lose their
// answer: the records are written, the connection is closed.
func (c *Cluster) LoseAnswers(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loseAnswers = n
}

// firstProducerID is the first id the fake hands out.
const firstProducerID = 1000
