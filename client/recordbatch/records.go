package recordbatch

import (
	"encoding/binary"
	"math"

	"strand.dev/client/wire"
)

// rawRecord is one record located in an uncompressed records section.
type rawRecord struct {
	data           []byte // the whole record, its length varint included
	timestampDelta int64
	offsetDelta    int64
	nullKey        bool
}

// walkRecords parses count records from section, calling fn for each, and
// fails unless the records fill section exactly. Every length is checked
// against the bytes left before anything is sliced, so hostile input cannot
// make it allocate or read out of bounds.
func walkRecords(section []byte, count int32, fn func(rawRecord) error) error {
	pos := 0
	for i := int32(0); i < count; i++ {
		if pos >= len(section) {
			return wire.Errorf(wire.CodeInvalidRecord, "records section ends after %d of %d records", i, count)
		}
		length, body := varint(section, pos)
		if body < 0 || length < 0 || length > math.MaxInt32 {
			return wire.Errorf(wire.CodeInvalidRecord, "record %d: bad length varint", i)
		}
		start := pos
		end := body + int(length)
		if end > len(section) {
			return wire.Errorf(wire.CodeInvalidRecord, "record %d: length %d runs past the records section", i, length)
		}
		r, err := parseRecordBody(section[body:end])
		if err != nil {
			return wire.Errorf(wire.CodeInvalidRecord, "record %d: %s", i, messageOf(err))
		}
		r.data = section[start:end]
		if err := fn(r); err != nil {
			return err
		}
		pos = end
	}
	if pos != len(section) {
		return wire.Errorf(wire.CodeInvalidRecord, "%d bytes after the last of %d records", len(section)-pos, count)
	}
	return nil
}

// parseRecordBody checks the fields of one record body (after its length
// varint) and that they fill it exactly.
func parseRecordBody(b []byte) (rawRecord, error) {
	var r rawRecord
	if len(b) < 1 {
		return r, wire.Errorf(wire.CodeInvalidRecord, "empty record")
	}
	pos := 1 // attributes
	var v int64
	if v, pos = varint(b, pos); pos < 0 {
		return r, wire.Errorf(wire.CodeInvalidRecord, "bad timestamp delta")
	}
	r.timestampDelta = v
	if v, pos = varint(b, pos); pos < 0 || v < math.MinInt32 || v > math.MaxInt32 {
		return r, wire.Errorf(wire.CodeInvalidRecord, "bad offset delta")
	}
	r.offsetDelta = v
	r.nullKey = pos < len(b) && b[pos] == 0x01 // zigzag varint -1
	var ok bool
	if pos, ok = skipVarBytes(b, pos, true); !ok {
		return r, wire.Errorf(wire.CodeInvalidRecord, "bad key length")
	}
	if pos, ok = skipVarBytes(b, pos, true); !ok {
		return r, wire.Errorf(wire.CodeInvalidRecord, "bad value length")
	}
	count, pos := varint(b, pos)
	if pos < 0 || count < 0 || count > int64(len(b)) {
		return r, wire.Errorf(wire.CodeInvalidRecord, "bad header count")
	}
	for i := int64(0); i < count; i++ {
		if pos, ok = skipVarBytes(b, pos, false); !ok {
			return r, wire.Errorf(wire.CodeInvalidRecord, "header %d: bad key length", i)
		}
		if pos, ok = skipVarBytes(b, pos, true); !ok {
			return r, wire.Errorf(wire.CodeInvalidRecord, "header %d: bad value length", i)
		}
	}
	if pos != len(b) {
		return r, wire.Errorf(wire.CodeInvalidRecord, "%d bytes left over after the record's fields", len(b)-pos)
	}
	return r, nil
}

// varint decodes the zigzag varint at pos and returns it with the position
// after it, or a negative position when it is truncated or too long.
func varint(b []byte, pos int) (int64, int) {
	if pos >= 0 && pos < len(b) && b[pos] < 0x80 {
		u := uint64(b[pos])
		return int64(u>>1) ^ -int64(u&1), pos + 1
	}
	if pos >= 0 && pos+1 < len(b) && b[pos+1] < 0x80 {
		u := uint64(b[pos]&0x7f) | uint64(b[pos+1])<<7
		return int64(u>>1) ^ -int64(u&1), pos + 2
	}
	if pos < 0 || pos > len(b) {
		return 0, -1
	}
	v, n := binary.Varint(b[pos:])
	if n <= 0 {
		return 0, -1
	}
	return v, pos + n
}

// skipVarBytes skips a varint-length-prefixed byte string at pos; a length
// of -1 (null) is allowed when nullable.
func skipVarBytes(b []byte, pos int, nullable bool) (int, bool) {
	l, pos := varint(b, pos)
	switch {
	case pos < 0:
		return pos, false
	case l == -1 && nullable:
		return pos, true
	case l < 0 || l > int64(len(b)-pos):
		return pos, false
	}
	return pos + int(l), true
}
