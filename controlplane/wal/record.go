package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// recordType names what a record's payload holds. The list is append-only.
type recordType byte

const (
	// recEntry is one raft log entry (protobuf raftpb.Entry).
	recEntry recordType = 1
	// recHardState is the raft HardState (protobuf raftpb.HardState).
	recHardState recordType = 2
	// recSnapshot is a Marker (fixed 17 bytes: index, term, kind).
	recSnapshot recordType = 3
)

// headerSize is the frame header: length and CRC.
const headerSize = 8

// castagnoli is the CRC-32C table.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTorn reports a record that cannot be read whole and valid: a short
// header or payload, a length beyond the limit, a zero length or a CRC
// mismatch. At the tail of the last segment it is a torn write.
var errTorn = errors.New("wal: torn or corrupt record")

// appendRecord appends the framed record to buf and returns the result.
func appendRecord(buf []byte, typ recordType, payload []byte) []byte {
	n := uint32(1 + len(payload))
	start := len(buf)
	buf = binary.LittleEndian.AppendUint32(buf, n)
	buf = binary.LittleEndian.AppendUint32(buf, 0) // CRC, filled below
	buf = append(buf, byte(typ))
	buf = append(buf, payload...)
	crc := crc32.Update(0, castagnoli, buf[start:start+4])
	crc = crc32.Update(crc, castagnoli, buf[start+headerSize:])
	binary.LittleEndian.PutUint32(buf[start+4:start+8], crc)
	return buf
}

// recordReader reads framed records from a segment, tracking the offset of
// the end of the last good record.
type recordReader struct {
	r        io.Reader
	maxBytes uint32
	off      int64 // end of the last record read whole and valid
	hdr      [headerSize]byte
	buf      []byte
}

// next returns the next record. It returns io.EOF at a clean end (no byte
// after the last record) and errTorn (wrapped) for anything else that is not a
// whole, valid record. The payload is valid until the next call.
func (rr *recordReader) next() (recordType, []byte, error) {
	n, err := io.ReadFull(rr.r, rr.hdr[:])
	if err == io.EOF {
		return 0, nil, io.EOF
	}
	if err != nil {
		return 0, nil, fmt.Errorf("%w: short header (%d bytes) at offset %d", errTorn, n, rr.off)
	}
	length := binary.LittleEndian.Uint32(rr.hdr[0:4])
	want := binary.LittleEndian.Uint32(rr.hdr[4:8])
	if length == 0 || length > rr.maxBytes {
		return 0, nil, fmt.Errorf("%w: length %d at offset %d", errTorn, length, rr.off)
	}
	if cap(rr.buf) < int(length) {
		rr.buf = make([]byte, length)
	}
	body := rr.buf[:length]
	if n, err := io.ReadFull(rr.r, body); err != nil {
		return 0, nil, fmt.Errorf("%w: short payload (%d of %d bytes) at offset %d", errTorn, n, length, rr.off)
	}
	crc := crc32.Update(0, castagnoli, rr.hdr[0:4])
	crc = crc32.Update(crc, castagnoli, body)
	if crc != want {
		return 0, nil, fmt.Errorf("%w: CRC mismatch at offset %d", errTorn, rr.off)
	}
	rr.off += headerSize + int64(length)
	return recordType(body[0]), body[1:], nil
}

// MarkerKind says how a snapshot marker affects the replayed log.
type MarkerKind byte

const (
	// MarkerLocal is a snapshot this node took of its own applied state:
	// the entries it covers are no longer needed, later ones stay.
	MarkerLocal MarkerKind = 1
	// MarkerReset is a snapshot received from the leader: it replaces the
	// whole log, so every entry before the marker is discarded.
	MarkerReset MarkerKind = 2
)

// Marker records that a snapshot at (Index, Term) was durably saved.
type Marker struct {
	Index uint64
	Term  uint64
	Kind  MarkerKind
}

// markerSize is the encoded size of a Marker.
const markerSize = 17

func (m Marker) encode() []byte {
	b := make([]byte, markerSize)
	binary.LittleEndian.PutUint64(b[0:8], m.Index)
	binary.LittleEndian.PutUint64(b[8:16], m.Term)
	b[16] = byte(m.Kind)
	return b
}

func decodeMarker(b []byte) (Marker, error) {
	if len(b) != markerSize {
		return Marker{}, fmt.Errorf("wal: snapshot marker of %d bytes, want %d", len(b), markerSize)
	}
	m := Marker{
		Index: binary.LittleEndian.Uint64(b[0:8]),
		Term:  binary.LittleEndian.Uint64(b[8:16]),
		Kind:  MarkerKind(b[16]),
	}
	if m.Kind != MarkerLocal && m.Kind != MarkerReset {
		return Marker{}, fmt.Errorf("wal: snapshot marker of unknown kind %d", m.Kind)
	}
	return m, nil
}
