package partlog

import (
	"encoding/binary"
	"fmt"

	"strand.dev/client/recordbatch"
)

// Compression attribute bits of a RecordBatch v2 header.
const attrCompressionBits = 0x07

// keyedRecord is what the cleaner needs of one record: its offset, key,
// timestamp and whether its value is null. Key aliases the batch.
type keyedRecord struct {
	offset    int64
	timestamp int64
	key       []byte // nil for a null key
	tombstone bool
	raw       []byte // the whole record, its length varint included (uncompressed batches only)
}

// walkKeyed reads the records of an uncompressed batch b (whole, CRC
// checked here) without decoding their values and headers, calling fn for
// each. It is the cleaner's fast path; compressed batches go through
// recordbatch.DecodeBatches. RecordBatch v2 records are: a length varint,
// an attributes byte, then timestamp delta, offset delta, key length, key,
// value length, value and headers, the integers as zigzag varints (Go's
// binary.Varint).
func walkKeyed(b []byte, h recordbatch.BatchHeader, fn func(r keyedRecord)) error {
	if h.Attributes&attrCompressionBits != 0 {
		return fmt.Errorf("batch %d is compressed", h.BaseOffset)
	}
	if got := recordbatch.Checksum(b); got != h.CRC {
		return fmt.Errorf("batch %d: CRC-32C mismatch (header %08x, bytes %08x)", h.BaseOffset, h.CRC, got)
	}
	sec := b[recordbatch.HeaderSize:h.Size()]
	pos := 0
	for i := int32(0); i < h.RecordCount; i++ {
		length, n := binary.Varint(sec[pos:])
		if n <= 0 || length < 1 || int64(len(sec)-pos-n) < length {
			return fmt.Errorf("batch %d: bad length of record %d", h.BaseOffset, i)
		}
		raw := sec[pos : pos+n+int(length)]
		rec := sec[pos+n : pos+n+int(length)]
		pos += n + int(length)
		p := 1 // attributes
		tsDelta, n := binary.Varint(rec[p:])
		if n <= 0 {
			return fmt.Errorf("batch %d: bad timestamp delta of record %d", h.BaseOffset, i)
		}
		p += n
		offDelta, n := binary.Varint(rec[p:])
		if n <= 0 || offDelta < 0 || offDelta > int64(h.LastOffsetDelta) {
			return fmt.Errorf("batch %d: bad offset delta of record %d", h.BaseOffset, i)
		}
		p += n
		klen, n := binary.Varint(rec[p:])
		if n <= 0 || klen < -1 || klen > int64(len(rec)-p-n) {
			return fmt.Errorf("batch %d: bad key length of record %d", h.BaseOffset, i)
		}
		p += n
		var key []byte
		if klen >= 0 {
			key = rec[p : p+int(klen) : p+int(klen)]
			p += int(klen)
		}
		vlen, n := binary.Varint(rec[p:])
		if n <= 0 || vlen < -1 {
			return fmt.Errorf("batch %d: bad value length of record %d", h.BaseOffset, i)
		}
		r := keyedRecord{offset: h.BaseOffset + offDelta, timestamp: h.FirstTimestamp + tsDelta, key: key, tombstone: vlen < 0, raw: raw}
		if h.TimestampType() == recordbatch.LogAppendTime {
			r.timestamp = h.MaxTimestamp
		}
		fn(r)
	}
	if pos != len(sec) {
		return fmt.Errorf("batch %d: %d bytes after its %d records", h.BaseOffset, len(sec)-pos, h.RecordCount)
	}
	return nil
}

// RecordBatch v2 header fields (byte offsets) the cleaner rewrites.
const (
	batchOffLength       = 8
	batchOffCRC          = 17
	batchOffAttributes   = 21
	batchOffMaxTimestamp = 35
	batchOffRecordCount  = 57
)

// appendFiltered appends to dst batch b (uncompressed) with only the
// records raws (whole records of b, in order), copied as they are: their
// offset and timestamp deltas stay valid because the base offset, the
// first timestamp and the offset range are kept, as are the leader epoch,
// producer id, epoch and base sequence. The max timestamp becomes the
// largest kept (maxTS) for CreateTime batches; the count, length and
// CRC-32C are rewritten.
func appendFiltered(dst, b []byte, h recordbatch.BatchHeader, raws [][]byte, maxTS int64) []byte {
	start := len(dst)
	dst = append(dst, b[:recordbatch.HeaderSize]...)
	for _, r := range raws {
		dst = append(dst, r...)
	}
	out := dst[start:]
	binary.BigEndian.PutUint32(out[batchOffLength:], uint32(len(out)-recordbatch.LogOverhead))
	if h.TimestampType() == recordbatch.CreateTime {
		binary.BigEndian.PutUint64(out[batchOffMaxTimestamp:], uint64(maxTS))
	}
	binary.BigEndian.PutUint32(out[batchOffRecordCount:], uint32(len(raws)))
	binary.BigEndian.PutUint32(out[batchOffCRC:], recordbatch.Checksum(out))
	return dst
}
