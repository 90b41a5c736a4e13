package offsets

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrCorrupt is wrapped by every decoding error.
var ErrCorrupt = errors.New("offsets: corrupt record")

// writer appends big-endian fields.
type writer struct{ b []byte }

func (w *writer) i16(v int16) { w.b = binary.BigEndian.AppendUint16(w.b, uint16(v)) }
func (w *writer) i32(v int32) { w.b = binary.BigEndian.AppendUint32(w.b, uint32(v)) }
func (w *writer) i64(v int64) { w.b = binary.BigEndian.AppendUint64(w.b, uint64(v)) }

// str writes an int16 length and the bytes; strings longer than MaxInt16 are
// refused by the callers' validation and cut here as a last resort.
func (w *writer) str(s string) {
	if len(s) > math.MaxInt16 {
		s = s[:math.MaxInt16]
	}
	w.i16(int16(len(s)))
	w.b = append(w.b, s...)
}

// count writes an int32 array length.
func (w *writer) count(n int) { w.i32(int32(n)) }

// reader consumes big-endian fields; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
}

func (r *reader) need(n int, what string) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || len(r.b) < n {
		r.fail("short " + what)
		return false
	}
	return true
}

func (r *reader) i16(what string) int16 {
	if !r.need(2, what) {
		return 0
	}
	v := int16(binary.BigEndian.Uint16(r.b))
	r.b = r.b[2:]
	return v
}

func (r *reader) i32(what string) int32 {
	if !r.need(4, what) {
		return 0
	}
	v := int32(binary.BigEndian.Uint32(r.b))
	r.b = r.b[4:]
	return v
}

func (r *reader) i64(what string) int64 {
	if !r.need(8, what) {
		return 0
	}
	v := int64(binary.BigEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

// bytes reads an int16-length byte string without copying.
func (r *reader) bytes(what string) []byte {
	n := int(r.i16(what))
	if n < 0 {
		r.fail("negative " + what + " length")
		return nil
	}
	if !r.need(n, what) {
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *reader) str(what string) string {
	n := int(r.i16(what))
	if n < 0 {
		r.fail("negative " + what + " length")
		return ""
	}
	if !r.need(n, what) {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// count reads an int32 array length, bounded by the bytes left (each element
// takes at least min bytes).
func (r *reader) count(what string, min int) int {
	n := int(r.i32(what))
	if n < 0 || n*min > len(r.b) {
		r.fail("bad " + what + " count")
		return 0
	}
	return n
}

// done fails if bytes are left over.
func (r *reader) done(what string) error {
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Sprintf("%d trailing bytes after %s", len(r.b), what))
	}
	return r.err
}
