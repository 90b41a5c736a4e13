package recordbatch

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"strand.dev/client/wire"
)

// EncodeOptions describes the batch a Builder or Encode writes.
type EncodeOptions struct {
	// Compression of the records section. Default None.
	Compression Compression
	// Idempotent writes ProducerID, ProducerEpoch and BaseSequence; without
	// it the three are written as -1 (no producer id), as a producer
	// without idempotence does.
	Idempotent    bool
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	// Transactional sets the transactional attribute bit.
	Transactional bool
	// TimestampType of the batch. Producers send CreateTime.
	TimestampType TimestampType
	// BaseOffset written in the batch header (a producer writes 0; the
	// broker assigns offsets with SetBaseOffset).
	BaseOffset int64
	// KeepOffsets makes the batch keep its records' Offset fields: each
	// offset delta is the record's Offset minus BaseOffset. Offsets must
	// increase and not be below BaseOffset. This is for brokers rewriting
	// stored batches (compaction), which leaves gaps.
	KeepOffsets bool
	// LastOffsetDelta, with KeepOffsets, is written when it is larger than
	// the last record's delta, so that a compacted batch keeps the offset
	// range (and producer state) of the original.
	LastOffsetDelta int32
	// PartitionLeaderEpoch written in the header; producers leave it 0 and
	// Encode writes -1 unless SetLeaderEpoch is set.
	PartitionLeaderEpoch int32
	SetLeaderEpoch       bool
}

// Builder accumulates records and writes them as one batch. A Builder is
// not safe for concurrent use. The zero value is not ready: use NewBuilder.
type Builder struct {
	opts      EncodeOptions
	raw       []byte // the uncompressed records section
	count     int32
	lastDelta int64
	firstTS   int64
	maxTS     int64
	err       error
	rec       kmsg.Record
}

// NewBuilder returns an empty Builder writing batches as opts says.
func NewBuilder(opts EncodeOptions) *Builder {
	b := &Builder{}
	b.Reset(opts)
	return b
}

// Reset empties the builder for a new batch with opts, keeping its buffer.
func (b *Builder) Reset(opts EncodeOptions) {
	*b = Builder{opts: opts, raw: b.raw[:0]}
}

// Len is the number of records added.
func (b *Builder) Len() int { return int(b.count) }

// Size is the batch's size if written now without compression, for
// callers that cut batches by size (batch.size).
func (b *Builder) Size() int { return HeaderSize + len(b.raw) }

// Add appends a record. Its offset delta is its position in the batch, or
// with KeepOffsets its Offset minus the first record's. An invalid record
// (offsets out of order with KeepOffsets, too many records) makes Build fail.
func (b *Builder) Add(r Record) {
	if b.err != nil {
		return
	}
	if b.count == math.MaxInt32 {
		b.err = wire.Errorf(wire.CodeRecordListTooLarge, "too many records for one batch")
		return
	}
	delta := int64(b.count)
	if b.opts.KeepOffsets {
		delta = r.Offset - b.opts.BaseOffset
		if (b.count > 0 && delta <= b.lastDelta) || delta < 0 || delta > math.MaxInt32 {
			b.err = wire.Errorf(wire.CodeInvalidRecord, "record offset %d out of order (base offset %d, previous delta %d)", r.Offset, b.opts.BaseOffset, b.lastDelta)
			return
		}
	}
	if b.count == 0 {
		b.firstTS, b.maxTS = r.Timestamp, r.Timestamp
	}
	b.maxTS = max(b.maxTS, r.Timestamp)
	b.rec = kmsg.Record{
		TimestampDelta64: r.Timestamp - b.firstTS,
		OffsetDelta:      int32(delta),
		Key:              r.Key,
		Value:            r.Value,
	}
	b.rec.Headers = b.rec.Headers[:0]
	for _, h := range r.Headers {
		b.rec.Headers = append(b.rec.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
	}
	n := recordBodySize(&b.rec)
	if n > math.MaxInt32 {
		b.err = wire.Errorf(wire.CodeMessageTooLarge, "record of %d bytes", n)
		return
	}
	b.rec.Length = int32(n)
	b.raw = b.rec.AppendTo(b.raw)
	b.lastDelta = delta
	b.count++
}

// Build returns the batch (a new slice; the builder may be reused after Reset).
func (b *Builder) Build() ([]byte, error) { return b.AppendTo(nil) }

// AppendTo appends the batch to dst.
func (b *Builder) AppendTo(dst []byte) ([]byte, error) {
	if b.err != nil {
		return dst, b.err
	}
	if b.count == 0 {
		return dst, wire.Errorf(wire.CodeInvalidRecord, "batch without records")
	}
	o := b.opts
	kb := kmsg.RecordBatch{
		FirstOffset:          o.BaseOffset,
		PartitionLeaderEpoch: -1,
		Magic:                Magic,
		Attributes:           int16(o.Compression) & attrCompressionMask,
		LastOffsetDelta:      int32(b.lastDelta),
		FirstTimestamp:       b.firstTS,
		MaxTimestamp:         b.maxTS,
		ProducerID:           NoProducerID,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           b.count,
	}
	if o.Compression < None || o.Compression > Zstd {
		return dst, wire.Errorf(wire.CodeInvalidRecord, "unknown compression codec %d", o.Compression)
	}
	if o.KeepOffsets {
		kb.LastOffsetDelta = max(kb.LastOffsetDelta, o.LastOffsetDelta)
	}
	if o.SetLeaderEpoch {
		kb.PartitionLeaderEpoch = o.PartitionLeaderEpoch
	}
	if o.TimestampType == LogAppendTime {
		kb.Attributes |= attrTimestampType
	}
	if o.Transactional {
		kb.Attributes |= attrTransactional
	}
	if o.Idempotent {
		kb.ProducerID, kb.ProducerEpoch, kb.FirstSequence = o.ProducerID, o.ProducerEpoch, o.BaseSequence
	}
	if o.Compression == None {
		// kb.AppendTo copies the records section into dst: no copy of
		// our own first.
		kb.Records = b.raw
	} else {
		var err error
		if kb.Records, err = compress(nil, o.Compression, b.raw); err != nil {
			return dst, wire.Errorf(wire.CodeInvalidRecord, "compress records with %s: %v", o.Compression, err)
		}
	}
	if len(kb.Records) > math.MaxInt32-minLength {
		return dst, wire.Errorf(wire.CodeMessageTooLarge, "records section of %d bytes", len(kb.Records))
	}
	kb.Length = int32(minLength + len(kb.Records))
	start := len(dst)
	// One allocation of the batch's size, not append's doublings.
	dst = slices.Grow(dst, HeaderSize+len(kb.Records))
	dst = kb.AppendTo(dst)
	batch := dst[start:]
	binary.BigEndian.PutUint32(batch[offCRC:], crc32.Checksum(batch[offAttributes:], castagnoli))
	return dst, nil
}

// Encode writes records as one batch.
func Encode(records []Record, opts EncodeOptions) ([]byte, error) {
	b := NewBuilder(opts)
	for _, r := range records {
		b.Add(r)
	}
	return b.Build()
}

// Rebuild writes records as one batch that keeps the identity of an
// existing batch h: its base offset and offset range, partition leader
// epoch, producer id, epoch and base sequence, attributes, compression and,
// for LogAppendTime, its max timestamp. The records' Offset fields must lie
// within h's offset range and increase. This is the rewrite a log cleaner
// does.
func Rebuild(h BatchHeader, records []Record) ([]byte, error) {
	b := NewBuilder(EncodeOptions{
		Compression:          h.Compression(),
		Idempotent:           true,
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		BaseSequence:         h.BaseSequence,
		Transactional:        h.Transactional(),
		TimestampType:        h.TimestampType(),
		BaseOffset:           h.BaseOffset,
		KeepOffsets:          true,
		LastOffsetDelta:      h.LastOffsetDelta,
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		SetLeaderEpoch:       true,
	})
	for _, r := range records {
		if r.Offset > h.LastOffset() {
			return nil, wire.Errorf(wire.CodeInvalidRecord, "record offset %d beyond the batch's last offset %d", r.Offset, h.LastOffset())
		}
		b.Add(r)
	}
	out, err := b.Build()
	if err != nil {
		return nil, err
	}
	if h.TimestampType() == LogAppendTime {
		SetLogAppendTime(out, h.MaxTimestamp)
	}
	return out, nil
}

// recordBodySize is the encoded size of r after its length varint.
func recordBodySize(r *kmsg.Record) int {
	n := 1 + varlongSize(r.TimestampDelta64) + varlongSize(int64(r.OffsetDelta)) +
		bytesSize(r.Key) + bytesSize(r.Value) + varlongSize(int64(len(r.Headers)))
	for i := range r.Headers {
		n += varlongSize(int64(len(r.Headers[i].Key))) + len(r.Headers[i].Key) + bytesSize(r.Headers[i].Value)
	}
	return n
}

// bytesSize is the encoded size of a nullable varint-prefixed byte string.
func bytesSize(b []byte) int {
	if b == nil {
		return 1
	}
	return varlongSize(int64(len(b))) + len(b)
}

// varlongSize is the size of v as a zigzag varint.
func varlongSize(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}
