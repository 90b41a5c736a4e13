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
		length, n := binary.Varint(section[pos:])
		if n <= 0 || length < 0 || length > math.MaxInt32 {
			return wire.Errorf(wire.CodeInvalidRecord, "record %d: bad length varint", i)
		}
		start := pos
		body := pos + n
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
	pos := 1 // attributes
	if len(b) < pos {
		return r, wire.Errorf(wire.CodeInvalidRecord, "empty record")
	}
	v, n := binary.Varint(b[pos:])
	if n <= 0 {
		return r, wire.Errorf(wire.CodeInvalidRecord, "bad timestamp delta")
	}
	r.timestampDelta = v
	pos += n
	v, n = binary.Varint(b[pos:])
	if n <= 0 || v < math.MinInt32 || v > math.MaxInt32 {
		return r, wire.Errorf(wire.CodeInvalidRecord, "bad offset delta")
	}
	r.offsetDelta = v
	pos += n
	r.nullKey = pos < len(b) && b[pos] == 0x01 // zigzag varint -1
	for _, field := range []string{"key", "value"} {
		var ok bool
		if pos, ok = skipVarBytes(b, pos, true); !ok {
			return r, wire.Errorf(wire.CodeInvalidRecord, "bad %s length", field)
		}
	}
	count, n := binary.Varint(b[pos:])
	if n <= 0 || count < 0 || count > int64(len(b)) {
		return r, wire.Errorf(wire.CodeInvalidRecord, "bad header count")
	}
	pos += n
	for i := int64(0); i < count; i++ {
		var ok bool
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

// skipVarBytes skips a varint-length-prefixed byte string at pos; a length
// of -1 (null) is allowed when nullable.
func skipVarBytes(b []byte, pos int, nullable bool) (int, bool) {
	if pos > len(b) {
		return pos, false
	}
	l, n := binary.Varint(b[pos:])
	if n <= 0 {
		return pos, false
	}
	pos += n
	switch {
	case l == -1 && nullable:
		return pos, true
	case l < 0 || l > int64(len(b)-pos):
		return pos, false
	}
	return pos + int(l), true
}
