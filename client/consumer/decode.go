package consumer

import (
	"encoding/binary"
	"fmt"
	"time"

	"strand.dev/client/record"
	"strand.dev/client/recordbatch"
)

// decodeLimit bounds the decompressed bytes of one fetch answer.
const decodeLimit = 256 << 20

// decode reads the whole batches of a fetch answer and returns the records
// at or after offset, and the position after the last whole batch (offset
// itself when there is none). When a batch does not decode, the records of
// the batches before it are returned with the error. A partial batch at the end is left for the
// next fetch. Offsets missing because of compaction, and control batches,
// are stepped over: the position is the batch's last offset + 1 whatever
// records it still holds.
func decode(body []byte, tp TopicPartition, offset int64) ([]*record.Record, int64, error) {
	whole := 0
	for whole+recordbatch.LogOverhead <= len(body) {
		length := int(int32(binary.BigEndian.Uint32(body[whole+8:])))
		if length <= 0 {
			return nil, offset, fmt.Errorf("batch at byte %d has length %d", whole, length)
		}
		if whole+recordbatch.LogOverhead+length > len(body) {
			break
		}
		whole += recordbatch.LogOverhead + length
	}
	if whole == 0 {
		return nil, offset, nil
	}
	// On an error, the batches before the bad one are still returned.
	batches, err := recordbatch.DecodeBatches(body[:whole], decodeLimit)
	next := offset
	var out []*record.Record
	for _, b := range batches {
		h := b.Header
		if h.NextOffset() <= next {
			continue
		}
		if !h.Control() {
			for i := range b.Records {
				r := &b.Records[i]
				if r.Offset < next {
					continue
				}
				out = append(out, toRecord(tp, h, r))
			}
		}
		next = h.NextOffset()
	}
	return out, next, err
}

func toRecord(tp TopicPartition, h recordbatch.BatchHeader, r *recordbatch.Record) *record.Record {
	rec := &record.Record{
		Topic: tp.Topic, Partition: tp.Partition, Offset: r.Offset,
		Timestamp: time.UnixMilli(r.Timestamp), Key: r.Key, Value: r.Value,
		LeaderEpoch: h.PartitionLeaderEpoch,
	}
	if len(r.Headers) > 0 {
		rec.Headers = make([]record.Header, len(r.Headers))
		for i, hd := range r.Headers {
			rec.Headers[i] = record.Header{Key: hd.Key, Value: hd.Value}
		}
	}
	return rec
}
