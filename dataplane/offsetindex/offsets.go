package offsetindex

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
)

// OffsetEntrySize is the size of one offset index entry.
const OffsetEntrySize = 8

// OffsetEntry maps an offset to the file position of the batch that starts
// there.
type OffsetEntry struct {
	Offset   int64
	Position int64
}

// Offsets is a sparse offset index of a segment whose base offset is Base.
type Offsets struct {
	Base int64
	b    []byte
}

// NewOffsets returns an empty index for a segment at base.
func NewOffsets(base int64) *Offsets { return &Offsets{Base: base} }

// ParseOffsets checks an index file's bytes and returns the index over
// them (b is kept, not copied). Entries must increase in offset and
// position, every position must lie below segmentSize and every offset at
// or after base.
func ParseOffsets(base int64, b []byte, segmentSize int64) (*Offsets, error) {
	if len(b)%OffsetEntrySize != 0 {
		return nil, fmt.Errorf("offset index of %d bytes is not a whole number of %d-byte entries", len(b), OffsetEntrySize)
	}
	ix := &Offsets{Base: base, b: b}
	prev := OffsetEntry{Offset: -1, Position: -1}
	for i := 0; i < ix.Len(); i++ {
		e := ix.Entry(i)
		if e.Offset <= prev.Offset || e.Position <= prev.Position || e.Position >= segmentSize {
			return nil, fmt.Errorf("offset index entry %d (offset %d, position %d) out of order or beyond the segment's %d bytes", i, e.Offset, e.Position, segmentSize)
		}
		prev = e
	}
	return ix, nil
}

// Len is the number of entries.
func (ix *Offsets) Len() int { return len(ix.b) / OffsetEntrySize }

// Entry returns entry i.
func (ix *Offsets) Entry(i int) OffsetEntry {
	p := ix.b[i*OffsetEntrySize:]
	return OffsetEntry{
		Offset:   ix.Base + int64(binary.BigEndian.Uint32(p)),
		Position: int64(binary.BigEndian.Uint32(p[4:])),
	}
}

// Last returns the last entry, or false when the index is empty.
func (ix *Offsets) Last() (OffsetEntry, bool) {
	if ix.Len() == 0 {
		return OffsetEntry{}, false
	}
	return ix.Entry(ix.Len() - 1), true
}

// Fits reports whether an entry for offset and position can be stored.
func (ix *Offsets) Fits(offset, position int64) bool {
	return offset >= ix.Base && offset-ix.Base <= math.MaxUint32 && position >= 0 && position <= math.MaxUint32
}

// Append adds an entry; it is ignored unless it is beyond the last entry in
// both offset and position, and fits (see Fits).
func (ix *Offsets) Append(offset, position int64) {
	if !ix.Fits(offset, position) {
		return
	}
	if last, ok := ix.Last(); ok && (offset <= last.Offset || position <= last.Position) {
		return
	}
	ix.b = binary.BigEndian.AppendUint32(ix.b, uint32(offset-ix.Base))
	ix.b = binary.BigEndian.AppendUint32(ix.b, uint32(position))
}

// Lookup returns the last entry whose offset is <= offset, or the segment
// start (Base, 0) when there is none.
func (ix *Offsets) Lookup(offset int64) OffsetEntry {
	i := sort.Search(ix.Len(), func(i int) bool { return ix.Entry(i).Offset > offset })
	if i == 0 {
		return OffsetEntry{Offset: ix.Base, Position: 0}
	}
	return ix.Entry(i - 1)
}

// LookupPosition returns the last entry whose position is <= position, or
// the segment start (Base, 0) when there is none.
func (ix *Offsets) LookupPosition(position int64) OffsetEntry {
	i := sort.Search(ix.Len(), func(i int) bool { return ix.Entry(i).Position > position })
	if i == 0 {
		return OffsetEntry{Offset: ix.Base, Position: 0}
	}
	return ix.Entry(i - 1)
}

// TruncateFromPosition drops the entries at or after position.
func (ix *Offsets) TruncateFromPosition(position int64) {
	i := sort.Search(ix.Len(), func(i int) bool { return ix.Entry(i).Position >= position })
	ix.b = ix.b[:i*OffsetEntrySize]
}

// Bytes is the index in its file layout. The slice is the index's own.
func (ix *Offsets) Bytes() []byte { return ix.b }

// Clone returns a copy that shares nothing with ix.
func (ix *Offsets) Clone() *Offsets {
	return &Offsets{Base: ix.Base, b: append([]byte(nil), ix.b...)}
}
