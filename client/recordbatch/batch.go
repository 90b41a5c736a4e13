package recordbatch

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kmsg"

	"strand.dev/client/wire"
)

// Layout of a RecordBatch v2 header (big-endian), byte offsets from the
// batch's first byte. Everything from offAttributes to the end of the batch
// is covered by the CRC; the base offset, the length, the partition leader
// epoch and the magic byte are not.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57

	// HeaderSize is the size of a batch header: the bytes before the
	// records section.
	HeaderSize = 61
	// LogOverhead is the size of the base offset and length fields, the
	// bytes of a batch that its length field does not count.
	LogOverhead = 12
	// minLength is the smallest valid value of the length field.
	minLength = HeaderSize - LogOverhead
	// Magic is the only message format version this package handles.
	Magic = 2
)

// Attribute bits.
const (
	attrCompressionMask = 0x07
	attrTimestampType   = 0x08
	attrTransactional   = 0x10
	attrControl         = 0x20
)

// NoProducerID is the producer id of a batch written without idempotence;
// its producer epoch and base sequence are -1 too.
const NoProducerID = -1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Compression is a batch compression codec (attribute bits 0-2).
type Compression int8

// The compression codecs of RecordBatch v2.
const (
	None   Compression = 0
	Gzip   Compression = 1
	Snappy Compression = 2
	LZ4    Compression = 3
	Zstd   Compression = 4
)

// String is the codec's Kafka name (compression.type).
func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Snappy:
		return "snappy"
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return "unknown"
}

// ParseCompression maps a Kafka compression.type name to a codec.
func ParseCompression(s string) (Compression, error) {
	switch s {
	case "none", "":
		return None, nil
	case "gzip":
		return Gzip, nil
	case "snappy":
		return Snappy, nil
	case "lz4":
		return LZ4, nil
	case "zstd":
		return Zstd, nil
	}
	return None, wire.Errorf(wire.CodeInvalidConfig, "unknown compression type %q (want none, gzip, snappy, lz4 or zstd)", s)
}

// TimestampType says where a batch's timestamps come from (attribute bit 3).
type TimestampType int8

// The timestamp types.
const (
	CreateTime    TimestampType = 0 // set by the producer
	LogAppendTime TimestampType = 1 // set by the broker on append
)

// String is the type's Kafka name (message.timestamp.type).
func (t TimestampType) String() string {
	if t == LogAppendTime {
		return "LogAppendTime"
	}
	return "CreateTime"
}

// BatchHeader is the header of one batch: every field before the records.
type BatchHeader struct {
	BaseOffset           int64
	Length               int32 // the length field: bytes after it; the batch is LogOverhead+Length bytes
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	RecordCount          int32
}

// Size is the batch's size in bytes.
func (h BatchHeader) Size() int { return LogOverhead + int(h.Length) }

// LastOffset is the offset of the batch's last record.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset following the batch.
func (h BatchHeader) NextOffset() int64 { return h.LastOffset() + 1 }

// Compression is the batch's compression codec.
func (h BatchHeader) Compression() Compression {
	return Compression(h.Attributes & attrCompressionMask)
}

// TimestampType is the batch's timestamp type.
func (h BatchHeader) TimestampType() TimestampType {
	if h.Attributes&attrTimestampType != 0 {
		return LogAppendTime
	}
	return CreateTime
}

// Transactional reports the transactional attribute bit.
func (h BatchHeader) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports the control attribute bit (a transaction marker batch).
func (h BatchHeader) Control() bool { return h.Attributes&attrControl != 0 }

// ParseHeader reads the header of the batch at the start of b. It checks
// only that b holds a whole header; it does not check the magic, the length
// or the CRC (Validate does).
func ParseHeader(b []byte) (BatchHeader, error) {
	if len(b) < HeaderSize {
		return BatchHeader{}, wire.Errorf(wire.CodeCorruptMessage, "truncated batch header: %d bytes, want at least %d", len(b), HeaderSize)
	}
	var kb kmsg.RecordBatch
	// kmsg reads the records section too: hand it a header-only view with
	// a length of zero records so it does not need the whole batch.
	var hdr [HeaderSize]byte
	copy(hdr[:], b[:HeaderSize])
	binary.BigEndian.PutUint32(hdr[offLength:], minLength)
	if err := kb.UnsafeReadFrom(hdr[:]); err != nil {
		return BatchHeader{}, wire.Errorf(wire.CodeCorruptMessage, "batch header: %v", err)
	}
	return BatchHeader{
		BaseOffset:           kb.FirstOffset,
		Length:               int32(binary.BigEndian.Uint32(b[offLength:])),
		PartitionLeaderEpoch: kb.PartitionLeaderEpoch,
		Magic:                kb.Magic,
		CRC:                  uint32(kb.CRC),
		Attributes:           kb.Attributes,
		LastOffsetDelta:      kb.LastOffsetDelta,
		FirstTimestamp:       kb.FirstTimestamp,
		MaxTimestamp:         kb.MaxTimestamp,
		ProducerID:           kb.ProducerID,
		ProducerEpoch:        kb.ProducerEpoch,
		BaseSequence:         kb.FirstSequence,
		RecordCount:          kb.NumRecords,
	}, nil
}

// SetBaseOffset rewrites the base offset of the batch at the start of b in
// place. The base offset is outside the CRC, so nothing else changes.
func SetBaseOffset(b []byte, offset int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(offset))
}

// SetPartitionLeaderEpoch rewrites the partition leader epoch of the batch
// at the start of b in place (outside the CRC).
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the batch at the start of b (which must be a whole
// batch) as LogAppendTime with the given time in Unix milliseconds: the
// timestamp-type attribute bit is set, the max timestamp becomes ts, and
// the CRC is recomputed. Records keep their own timestamp deltas; readers
// of a LogAppendTime batch use the max timestamp for every record, as Kafka
// does.
func SetLogAppendTime(b []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(b[offAttributes:])
	binary.BigEndian.PutUint16(b[offAttributes:], attrs|attrTimestampType)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	n := LogOverhead + int(binary.BigEndian.Uint32(b[offLength:]))
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:n], castagnoli))
}

// Checksum computes the CRC-32C of the batch at the start of b (a whole
// batch), the value its CRC field must hold.
func Checksum(b []byte) uint32 {
	n := LogOverhead + int(binary.BigEndian.Uint32(b[offLength:]))
	return crc32.Checksum(b[offAttributes:n], castagnoli)
}
