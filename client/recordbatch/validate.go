package recordbatch

import (
	"encoding/binary"
	"hash/crc32"
	"math"

	"strand.dev/client/wire"
)

// ValidateOptions tunes Validate.
type ValidateOptions struct {
	// MaxBatchBytes bounds each batch's size (Kafka's max.message.bytes);
	// a larger batch is MESSAGE_TOO_LARGE. 0 means no bound.
	MaxBatchBytes int
	// Stored accepts batches as a log may hold them rather than as a
	// producer sends them: record offsets with gaps (compaction), batches
	// with no records left, control batches. Producer input is checked
	// with Stored false: record offset deltas 0..count-1, at least one
	// record, no control batch.
	Stored bool
	// DecompressLimit, when > 0, makes Validate decompress every compressed
	// batch (within this many bytes of output; more is
	// RECORD_LIST_TOO_LARGE) and check its records as it checks those of an
	// uncompressed batch. With 0, a compressed records section is checked
	// only for being non-empty; the CRC still protects it.
	DecompressLimit int
	// RequireKeys rejects records with a null key (INVALID_RECORD), as a
	// compacted topic must. Compressed batches are checked only when
	// DecompressLimit allows decompressing them.
	RequireKeys bool
}

// Validate checks b, one or more RecordBatch v2 batches back to back, as a
// producer sends them, each at most maxBatchBytes (0: no bound), and returns
// their headers in order. Compressed batches are not decompressed (see
// ValidateWith). On failure the error is a *wire.Error: CORRUPT_MESSAGE for
// framing and CRC faults, MESSAGE_TOO_LARGE for a batch over the limit,
// INVALID_RECORD for records that disagree with their batch header.
func Validate(b []byte, maxBatchBytes int) ([]BatchHeader, error) {
	return AppendValidate(nil, b, ValidateOptions{MaxBatchBytes: maxBatchBytes})
}

// ValidateWith is Validate with options.
func ValidateWith(b []byte, opts ValidateOptions) ([]BatchHeader, error) {
	return AppendValidate(nil, b, opts)
}

// AppendValidate is ValidateWith appending the headers to dst, so that a
// caller can reuse one slice across calls.
func AppendValidate(dst []BatchHeader, b []byte, opts ValidateOptions) ([]BatchHeader, error) {
	if len(b) == 0 {
		return dst, wire.Errorf(wire.CodeCorruptMessage, "no record batch in an empty body")
	}
	for pos, i := 0, 0; pos < len(b); i++ {
		h, err := ValidateBatch(b[pos:], opts)
		if err != nil {
			return dst, wire.Errorf(codeOf(err), "batch %d at byte %d: %s", i, pos, messageOf(err))
		}
		dst = append(dst, h)
		pos += h.Size()
	}
	return dst, nil
}

// ValidateBatch checks the batch at the start of b (b may hold more bytes
// after it) and returns its header; the batch is the first h.Size() bytes.
func ValidateBatch(b []byte, opts ValidateOptions) (BatchHeader, error) {
	if len(b) < LogOverhead {
		return BatchHeader{}, wire.Errorf(wire.CodeCorruptMessage, "truncated batch: %d bytes, a batch header is %d", len(b), HeaderSize)
	}
	length := int64(int32(binary.BigEndian.Uint32(b[offLength:])))
	if length < minLength {
		return BatchHeader{}, wire.Errorf(wire.CodeCorruptMessage, "batch length field %d below the minimum %d", length, minLength)
	}
	size := LogOverhead + length
	if opts.MaxBatchBytes > 0 && size > int64(opts.MaxBatchBytes) {
		return BatchHeader{}, wire.Errorf(wire.CodeMessageTooLarge, "batch of %d bytes exceeds max.message.bytes %d", size, opts.MaxBatchBytes)
	}
	if len(b) < HeaderSize {
		return BatchHeader{}, wire.Errorf(wire.CodeCorruptMessage, "truncated batch: %d bytes, a batch header is %d", len(b), HeaderSize)
	}
	if magic := int8(b[offMagic]); magic != Magic {
		return BatchHeader{}, wire.Errorf(wire.CodeCorruptMessage, "magic %d, only RecordBatch v2 (magic 2) is supported", magic)
	}
	if size > int64(len(b)) {
		return BatchHeader{}, wire.Errorf(wire.CodeCorruptMessage, "batch length %d exceeds the %d bytes given", size, len(b))
	}
	batch := b[:size]
	h, err := ParseHeader(batch)
	if err != nil {
		return BatchHeader{}, err
	}
	// A large batch's CRC is computed on another goroutine while its
	// records are checked here; a CRC mismatch still wins over any other
	// finding, as in the sequential order.
	var crcDone chan uint32
	if len(batch) >= parallelCRCBytes {
		crcDone = make(chan uint32, 1)
		go func() { crcDone <- crc32.Checksum(batch[offAttributes:], castagnoli) }()
	} else if err := checkCRC(h, crc32.Checksum(batch[offAttributes:], castagnoli)); err != nil {
		return BatchHeader{}, err
	}
	err = checkBody(batch, h, opts)
	if crcDone != nil {
		if cerr := checkCRC(h, <-crcDone); cerr != nil {
			return BatchHeader{}, cerr
		}
	}
	if err != nil {
		return BatchHeader{}, err
	}
	return h, nil
}

// parallelCRCBytes is the batch size from which ValidateBatch computes the
// CRC concurrently with the record checks.
const parallelCRCBytes = 128 << 10

func checkCRC(h BatchHeader, got uint32) error {
	if got != h.CRC {
		return wire.Errorf(wire.CodeCorruptMessage, "CRC-32C mismatch: header says %08x, bytes give %08x", h.CRC, got)
	}
	return nil
}

// checkBody checks the header fields and the records of a whole batch.
func checkBody(batch []byte, h BatchHeader, opts ValidateOptions) error {
	if err := checkHeader(h, opts); err != nil {
		return err
	}
	var err error
	section := batch[HeaderSize:]
	codec := h.Compression()
	switch {
	case codec == None:
		err = checkRecords(section, h, opts)
	case opts.DecompressLimit > 0:
		var raw []byte
		raw, err = decompress(codec, section, opts.DecompressLimit)
		if err == nil {
			err = checkRecords(raw, h, opts)
		}
	case len(section) == 0 && h.RecordCount > 0:
		err = wire.Errorf(wire.CodeCorruptMessage, "compressed batch of %d records has an empty records section", h.RecordCount)
	}
	return err
}

// checkHeader checks the header fields against each other.
func checkHeader(h BatchHeader, opts ValidateOptions) error {
	if c := h.Compression(); c > Zstd {
		return wire.Errorf(wire.CodeCorruptMessage, "unknown compression codec %d", c)
	}
	if h.RecordCount < 0 {
		return wire.Errorf(wire.CodeCorruptMessage, "negative record count %d", h.RecordCount)
	}
	if h.LastOffsetDelta < 0 {
		return wire.Errorf(wire.CodeInvalidRecord, "negative last offset delta %d", h.LastOffsetDelta)
	}
	if h.BaseOffset < 0 || h.BaseOffset > math.MaxInt64-int64(h.LastOffsetDelta)-1 {
		return wire.Errorf(wire.CodeInvalidRecord, "base offset %d out of range", h.BaseOffset)
	}
	if opts.Stored {
		if int64(h.RecordCount) > int64(h.LastOffsetDelta)+1 {
			return wire.Errorf(wire.CodeInvalidRecord, "%d records do not fit the offset range of %d", h.RecordCount, int64(h.LastOffsetDelta)+1)
		}
		return nil
	}
	if h.RecordCount == 0 {
		return wire.Errorf(wire.CodeInvalidRecord, "batch without records")
	}
	if int64(h.RecordCount) != int64(h.LastOffsetDelta)+1 {
		return wire.Errorf(wire.CodeInvalidRecord, "record count %d disagrees with last offset delta %d", h.RecordCount, h.LastOffsetDelta)
	}
	if h.Control() {
		return wire.Errorf(wire.CodeInvalidRecord, "control batches are written by brokers, not producers")
	}
	return nil
}

// checkRecords walks an uncompressed records section and checks that it
// holds exactly h.RecordCount well-formed records whose offset deltas fit
// the header (0..count-1 in order for producer input; increasing and at
// most LastOffsetDelta for stored batches).
func checkRecords(section []byte, h BatchHeader, opts ValidateOptions) error {
	stored := opts.Stored
	prev := int64(-1)
	n := int32(0)
	err := walkRecords(section, h.RecordCount, func(r rawRecord) error {
		switch {
		case !stored && r.offsetDelta != int64(n):
			return wire.Errorf(wire.CodeInvalidRecord, "record %d has offset delta %d, want %d", n, r.offsetDelta, n)
		case stored && (r.offsetDelta <= prev || r.offsetDelta > int64(h.LastOffsetDelta)):
			return wire.Errorf(wire.CodeInvalidRecord, "record %d has offset delta %d out of order or beyond the last offset delta %d", n, r.offsetDelta, h.LastOffsetDelta)
		case opts.RequireKeys && r.nullKey && !h.Control():
			return wire.Errorf(wire.CodeInvalidRecord, "record %d has no key; a compacted topic needs keys", n)
		}
		prev = r.offsetDelta
		n++
		return nil
	})
	return err
}

// codeOf and messageOf take an error from this package apart so that
// AppendValidate can add the batch position to the message.
func codeOf(err error) wire.Code {
	if we, ok := err.(*wire.Error); ok {
		return we.Code
	}
	return wire.CodeCorruptMessage
}

func messageOf(err error) string {
	if we, ok := err.(*wire.Error); ok {
		return we.Message
	}
	return err.Error()
}
