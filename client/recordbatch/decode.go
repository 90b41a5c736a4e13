package recordbatch

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"strand.dev/client/wire"
)

// Batch is one decoded batch: its header and its records.
type Batch struct {
	Header  BatchHeader
	Records []Record
}

// DecodeBatches checks and decodes b, one or more whole batches back to
// back as a log stores them (compaction gaps and control batches allowed),
// decompressing compressed batches. limit bounds the total decompressed
// size over all batches (a defence against compression bombs); exceeding
// it is RECORD_LIST_TOO_LARGE. Keys, values and header values alias b (or
// the decompressed buffer): copy them to keep them beyond b's lifetime.
func DecodeBatches(b []byte, limit int) ([]Batch, error) {
	var out []Batch
	budget := limit
	for pos, i := 0, 0; pos < len(b); i++ {
		h, err := ValidateBatch(b[pos:], ValidateOptions{Stored: true})
		if err != nil {
			return out, wire.Errorf(codeOf(err), "batch %d at byte %d: %s", i, pos, messageOf(err))
		}
		section := b[pos+HeaderSize : pos+h.Size()]
		if h.Compression() != None {
			if budget <= 0 {
				return out, tooLarge(limit)
			}
			if section, err = decompress(h.Compression(), section, budget); err != nil {
				if codeOf(err) == wire.CodeRecordListTooLarge {
					err = tooLarge(limit)
				}
				return out, wire.Errorf(codeOf(err), "batch %d at byte %d: %s", i, pos, messageOf(err))
			}
			budget -= len(section)
		}
		recs, err := decodeRecords(section, h)
		if err != nil {
			return out, wire.Errorf(codeOf(err), "batch %d at byte %d: %s", i, pos, messageOf(err))
		}
		out = append(out, Batch{Header: h, Records: recs})
		pos += h.Size()
	}
	return out, nil
}

// Decode is DecodeBatches flattened to the records, in offset order, leaving
// out control batches (transaction markers), which are not application
// records.
func Decode(b []byte, limit int) ([]Record, error) {
	batches, err := DecodeBatches(b, limit)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, bt := range batches {
		n += len(bt.Records)
	}
	out := make([]Record, 0, n)
	for _, bt := range batches {
		if !bt.Header.Control() {
			out = append(out, bt.Records...)
		}
	}
	return out, nil
}

// minRecordSize is the smallest encoded record: a one-byte length, the
// attributes, timestamp and offset deltas, key and value lengths and the
// header count, one byte each.
const minRecordSize = 7

// decodeRecords decodes an uncompressed records section of the batch h.
func decodeRecords(section []byte, h BatchHeader) ([]Record, error) {
	// A record takes at least minRecordSize bytes: never trust the count
	// for the allocation.
	recs := make([]Record, 0, min(int(h.RecordCount), len(section)/minRecordSize+1))
	prev := int64(-1)
	var kr kmsg.Record
	err := walkRecords(section, h.RecordCount, func(r rawRecord) error {
		if r.offsetDelta <= prev || r.offsetDelta > int64(h.LastOffsetDelta) {
			return wire.Errorf(wire.CodeInvalidRecord, "record offset delta %d out of order or beyond the last offset delta %d", r.offsetDelta, h.LastOffsetDelta)
		}
		prev = r.offsetDelta
		if err := kr.ReadFrom(r.data); err != nil {
			return wire.Errorf(wire.CodeInvalidRecord, "record at offset delta %d: %v", r.offsetDelta, err)
		}
		rec := Record{
			Offset:    h.BaseOffset + r.offsetDelta,
			Timestamp: h.FirstTimestamp + kr.TimestampDelta64,
			Key:       kr.Key,
			Value:     kr.Value,
		}
		if h.TimestampType() == LogAppendTime {
			rec.Timestamp = h.MaxTimestamp
		}
		if len(kr.Headers) > 0 {
			rec.Headers = make([]Header, len(kr.Headers))
			for i, kh := range kr.Headers {
				rec.Headers[i] = Header{Key: kh.Key, Value: kh.Value}
			}
		}
		recs = append(recs, rec)
		return nil
	})
	return recs, err
}
