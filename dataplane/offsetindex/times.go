package offsetindex

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
)

// TimeEntrySize is the size of one time index entry.
const TimeEntrySize = 12

// TimeEntry says that the largest timestamp of the segment's records up to
// and including Offset is Timestamp.
type TimeEntry struct {
	Timestamp int64
	Offset    int64
}

// Times is a sparse time index of a segment whose base offset is Base.
type Times struct {
	Base int64
	b    []byte
}

// NewTimes returns an empty time index for a segment at base.
func NewTimes(base int64) *Times { return &Times{Base: base} }

// ParseTimes checks a time index file's bytes and returns the index over
// them (b is kept). Entries must increase in timestamp and not decrease in
// offset; offsets must lie in [base, nextOffset).
func ParseTimes(base int64, b []byte, nextOffset int64) (*Times, error) {
	if len(b)%TimeEntrySize != 0 {
		return nil, fmt.Errorf("time index of %d bytes is not a whole number of %d-byte entries", len(b), TimeEntrySize)
	}
	ix := &Times{Base: base, b: b}
	prev := TimeEntry{Timestamp: math.MinInt64, Offset: base}
	for i := 0; i < ix.Len(); i++ {
		e := ix.Entry(i)
		if e.Timestamp <= prev.Timestamp || e.Offset < prev.Offset || e.Offset >= nextOffset {
			return nil, fmt.Errorf("time index entry %d (timestamp %d, offset %d) out of order or beyond offset %d", i, e.Timestamp, e.Offset, nextOffset)
		}
		prev = e
	}
	return ix, nil
}

// Len is the number of entries.
func (ix *Times) Len() int { return len(ix.b) / TimeEntrySize }

// Entry returns entry i.
func (ix *Times) Entry(i int) TimeEntry {
	p := ix.b[i*TimeEntrySize:]
	return TimeEntry{
		Timestamp: int64(binary.BigEndian.Uint64(p)),
		Offset:    ix.Base + int64(binary.BigEndian.Uint32(p[8:])),
	}
}

// Last returns the last entry, or false when the index is empty.
func (ix *Times) Last() (TimeEntry, bool) {
	if ix.Len() == 0 {
		return TimeEntry{}, false
	}
	return ix.Entry(ix.Len() - 1), true
}

// Append adds an entry; it is ignored unless its timestamp is larger than
// the last entry's and its offset not smaller, and the offset fits.
func (ix *Times) Append(timestamp, offset int64) {
	if offset < ix.Base || offset-ix.Base > math.MaxUint32 {
		return
	}
	if last, ok := ix.Last(); ok && (timestamp <= last.Timestamp || offset < last.Offset) {
		return
	}
	ix.b = binary.BigEndian.AppendUint64(ix.b, uint64(timestamp))
	ix.b = binary.BigEndian.AppendUint32(ix.b, uint32(offset-ix.Base))
}

// LookupBefore returns the last entry whose timestamp is < timestamp, or
// false when there is none. Every record before the entry's offset has a
// smaller timestamp, so a search for the first record at or after
// timestamp can start at that offset.
func (ix *Times) LookupBefore(timestamp int64) (TimeEntry, bool) {
	i := sort.Search(ix.Len(), func(i int) bool { return ix.Entry(i).Timestamp >= timestamp })
	if i == 0 {
		return TimeEntry{}, false
	}
	return ix.Entry(i - 1), true
}

// TruncateFromOffset drops the entries whose offset is >= offset.
func (ix *Times) TruncateFromOffset(offset int64) {
	i := sort.Search(ix.Len(), func(i int) bool { return ix.Entry(i).Offset >= offset })
	ix.b = ix.b[:i*TimeEntrySize]
}

// Bytes is the index in its file layout. The slice is the index's own.
func (ix *Times) Bytes() []byte { return ix.b }

// Clone returns a copy that shares nothing with ix.
func (ix *Times) Clone() *Times {
	return &Times{Base: ix.Base, b: append([]byte(nil), ix.b...)}
}
