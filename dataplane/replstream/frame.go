package replstream

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"strand.dev/client/wire"
)

// The frame layouts are documented with wire.ReplicaFrameType. Every frame
// is a uint32 length of what follows (type byte and body), the type byte,
// then the body.

// frameHeaderLen is the length prefix plus the type byte.
const frameHeaderLen = 5

// dataHeaderLen is the fixed part of a Data frame's body before the records.
const dataHeaderLen = 4 + 4 + 4 + 8 + 8 + 8 + 8 + 4

// maxStringLen bounds the strings of frames (topic names, codes, messages).
const maxStringLen = 1 << 15

// ErrMalformed is wrapped by every error about a frame that does not follow
// the protocol.
var ErrMalformed = errors.New("replstream: malformed frame")

// Fetch (follower to leader) (re)starts a partition of the stream.
type Fetch struct {
	SID         uint32
	Gen         uint32
	LeaderEpoch int32
	Offset      int64
	Topic       string
	Partition   int32
}

// Ack (follower to leader) reports a follower's log end offset.
type Ack struct {
	SID          uint32
	Gen          uint32
	LogEndOffset int64
}

// Data (leader to follower) carries records of a partition and its offsets.
type Data struct {
	SID            uint32
	Gen            uint32
	LeaderEpoch    int32
	HighWatermark  int64
	LogStartOffset int64
	LogEndOffset   int64
	NextOffset     int64
	// Records aliases the reader's buffer: valid until the next read.
	Records []byte
}

// PartitionError (leader to follower) says a partition of the stream
// failed; the leader sends nothing more for it until a new Fetch.
type PartitionError struct {
	SID            uint32
	Gen            uint32
	Err            *wire.Error
	LeaderEpoch    int32
	LogStartOffset int64
	LogEndOffset   int64
}

// Close (leader to follower) ends the stream.
type Close struct {
	Err *wire.Error
}

// encoder builds frame bodies.
type encoder struct{ b []byte }

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *encoder) i32(v int32)  { e.u32(uint32(v)) }
func (e *encoder) i64(v int64)  { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)) }
func (e *encoder) str(s string) {
	if len(s) > maxStringLen {
		s = s[:maxStringLen]
	}
	e.u16(uint16(len(s)))
	e.b = append(e.b, s...)
}

// begin starts a frame of type t; finish fills in its length.
func (e *encoder) begin(t wire.ReplicaFrameType) int {
	start := len(e.b)
	e.b = append(e.b, 0, 0, 0, 0, byte(t))
	return start
}

func (e *encoder) finish(start int, extra int) {
	binary.BigEndian.PutUint32(e.b[start:], uint32(len(e.b)-start-4+extra))
}

// appendFetch appends a Fetch frame.
func appendFetch(dst []byte, f Fetch) []byte {
	e := encoder{dst}
	s := e.begin(wire.ReplicaFrameFetch)
	e.u32(f.SID)
	e.u32(f.Gen)
	e.i32(f.LeaderEpoch)
	e.i64(f.Offset)
	e.str(f.Topic)
	e.i32(f.Partition)
	e.finish(s, 0)
	return e.b
}

// appendAcks appends an Ack frame with every ack.
func appendAcks(dst []byte, acks []Ack) []byte {
	e := encoder{dst}
	s := e.begin(wire.ReplicaFrameAck)
	e.u32(uint32(len(acks)))
	for _, a := range acks {
		e.u32(a.SID)
		e.u32(a.Gen)
		e.i64(a.LogEndOffset)
	}
	e.finish(s, 0)
	return e.b
}

// appendStop appends a Stop frame.
func appendStop(dst []byte, sid uint32) []byte {
	e := encoder{dst}
	s := e.begin(wire.ReplicaFrameStop)
	e.u32(sid)
	e.finish(s, 0)
	return e.b
}

// appendDataHeader appends a Data frame's header; the records (d.Records is
// ignored, recordsLen of them) follow it on the wire.
func appendDataHeader(dst []byte, d Data, recordsLen int) []byte {
	e := encoder{dst}
	s := e.begin(wire.ReplicaFrameData)
	e.u32(d.SID)
	e.u32(d.Gen)
	e.i32(d.LeaderEpoch)
	e.i64(d.HighWatermark)
	e.i64(d.LogStartOffset)
	e.i64(d.LogEndOffset)
	e.i64(d.NextOffset)
	e.u32(uint32(recordsLen))
	e.finish(s, recordsLen)
	return e.b
}

// appendPartitionError appends an Error frame.
func appendPartitionError(dst []byte, pe PartitionError) []byte {
	e := encoder{dst}
	s := e.begin(wire.ReplicaFrameError)
	e.u32(pe.SID)
	e.u32(pe.Gen)
	code, msg := errParts(pe.Err)
	e.str(code)
	e.str(msg)
	e.i32(pe.LeaderEpoch)
	e.i64(pe.LogStartOffset)
	e.i64(pe.LogEndOffset)
	e.finish(s, 0)
	return e.b
}

// appendPing appends a Ping frame.
func appendPing(dst []byte) []byte {
	e := encoder{dst}
	s := e.begin(wire.ReplicaFramePing)
	e.finish(s, 0)
	return e.b
}

// appendClose appends a Close frame.
func appendClose(dst []byte, err *wire.Error) []byte {
	e := encoder{dst}
	s := e.begin(wire.ReplicaFrameClose)
	code, msg := errParts(err)
	e.str(code)
	e.str(msg)
	e.finish(s, 0)
	return e.b
}

func errParts(err *wire.Error) (string, string) {
	if err == nil {
		return string(wire.CodeUnknown), ""
	}
	return string(err.Code), err.Message
}

// decoder reads a frame body; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) need(n int) bool {
	if d.err != nil {
		return false
	}
	if len(d.b) < n {
		d.err = fmt.Errorf("%w: body ends early", ErrMalformed)
		return false
	}
	return true
}

func (d *decoder) u16() uint16 {
	if !d.need(2) {
		return 0
	}
	v := binary.BigEndian.Uint16(d.b)
	d.b = d.b[2:]
	return v
}

func (d *decoder) u32() uint32 {
	if !d.need(4) {
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decoder) i32() int32 { return int32(d.u32()) }

func (d *decoder) i64() int64 {
	if !d.need(8) {
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return int64(v)
}

func (d *decoder) str() string {
	n := int(d.u16())
	if !d.need(n) {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// done fails when bytes are left over.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d bytes after the body", ErrMalformed, len(d.b))
	}
	return d.err
}

func decodeFetch(b []byte) (Fetch, error) {
	d := decoder{b: b}
	f := Fetch{SID: d.u32(), Gen: d.u32(), LeaderEpoch: d.i32(), Offset: d.i64(), Topic: d.str(), Partition: d.i32()}
	return f, d.done()
}

// decodeAcks appends the acks of an Ack frame body to dst.
func decodeAcks(dst []Ack, b []byte, max int) ([]Ack, error) {
	d := decoder{b: b}
	n := int(d.u32())
	if d.err == nil && (n > max || n*16 != len(d.b)) {
		return dst, fmt.Errorf("%w: ack frame of %d entries in %d bytes", ErrMalformed, n, len(d.b))
	}
	for range n {
		dst = append(dst, Ack{SID: d.u32(), Gen: d.u32(), LogEndOffset: d.i64()})
	}
	return dst, d.done()
}

func decodeStop(b []byte) (uint32, error) {
	d := decoder{b: b}
	sid := d.u32()
	return sid, d.done()
}

// decodeData decodes a Data frame body; Records aliases b.
func decodeData(b []byte) (Data, error) {
	if len(b) < dataHeaderLen {
		return Data{}, fmt.Errorf("%w: data frame of %d bytes", ErrMalformed, len(b))
	}
	d := decoder{b: b[:dataHeaderLen]}
	h := Data{SID: d.u32(), Gen: d.u32(), LeaderEpoch: d.i32(), HighWatermark: d.i64(),
		LogStartOffset: d.i64(), LogEndOffset: d.i64(), NextOffset: d.i64()}
	n := int(d.u32())
	if err := d.done(); err != nil {
		return h, err
	}
	if n != len(b)-dataHeaderLen {
		return h, fmt.Errorf("%w: data frame says %d record bytes, carries %d", ErrMalformed, n, len(b)-dataHeaderLen)
	}
	h.Records = b[dataHeaderLen:]
	return h, nil
}

func decodePartitionError(b []byte) (PartitionError, error) {
	d := decoder{b: b}
	pe := PartitionError{SID: d.u32(), Gen: d.u32()}
	code, msg := d.str(), d.str()
	pe.LeaderEpoch, pe.LogStartOffset, pe.LogEndOffset = d.i32(), d.i64(), d.i64()
	pe.Err = &wire.Error{Code: wire.Code(code), Message: msg}
	return pe, d.done()
}

func decodeClose(b []byte) (Close, error) {
	d := decoder{b: b}
	code, msg := d.str(), d.str()
	return Close{Err: &wire.Error{Code: wire.Code(code), Message: msg}}, d.done()
}

// frameReader reads frames from a buffered stream into one reusable buffer
// bounded by max. Owned by one goroutine.
type frameReader struct {
	r   *bufio.Reader
	max int
	buf []byte
	hdr [frameHeaderLen]byte
}

// whole returns the bytes buffered when they hold the whole next frame,
// and 0 otherwise. It never reads from the network.
func (fr *frameReader) whole() int {
	n := fr.r.Buffered()
	if n < frameHeaderLen {
		return 0
	}
	hdr, err := fr.r.Peek(frameHeaderLen)
	if err != nil {
		return 0
	}
	if n < 4+int(binary.BigEndian.Uint32(hdr[:4])) {
		return 0
	}
	return n
}

// next reads one frame: its type and body (aliasing the reader's buffer
// until the next call).
func (fr *frameReader) next() (wire.ReplicaFrameType, []byte, error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(fr.hdr[:4])) - 1
	t := wire.ReplicaFrameType(fr.hdr[4])
	if n < 0 || n > fr.max {
		return t, nil, fmt.Errorf("%w: frame of type %d has %d body bytes (limit %d)", ErrMalformed, t, n, fr.max)
	}
	if cap(fr.buf) < n {
		fr.buf = make([]byte, n, max(n, min(2*cap(fr.buf), fr.max)))
	}
	b := fr.buf[:n]
	if _, err := io.ReadFull(fr.r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return t, nil, err
	}
	return t, b, nil
}
