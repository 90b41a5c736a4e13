package partlog

import (
	"fmt"
	"io"
	"os"

	"strand.dev/client/recordbatch"
	"strand.dev/dataplane/offsetindex"
)

// Region is a run of whole batches in one segment file, ready for sendfile.
// File is a descriptor of the caller's own, opened for this read and
// positioned at Pos; the caller must Close it. When Len is 0, File is nil.
type Region struct {
	File        *os.File
	Pos, Len    int64
	FirstOffset int64 // base offset of the first batch (may be below the offset asked for)
	NextOffset  int64 // the offset to read next
}

// Read returns the batches from the one containing offset on, as a file
// region: at most maxBytes bytes, except that the first batch is always
// returned whole so that a reader makes progress; it stops before the
// first batch whose last offset is >= maxOffset (the high watermark) and
// at the end of the segment. offset == EndOffset() or offset >= maxOffset
// gives an empty region; offset below StartOffset() or above EndOffset()
// is OFFSET_OUT_OF_RANGE.
//
// Read holds the log's lock shared: it waits for appends only while they
// publish, and the region stays readable after the segment is deleted or
// the log closed (the descriptor is the caller's).
func (l *Log) Read(offset int64, maxBytes int32, maxOffset int64) (Region, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return Region{}, closedErr(l.dir)
	}
	if offset < l.start || offset > l.end {
		return Region{}, outOfRange(offset, l.start, l.end)
	}
	empty := Region{FirstOffset: offset, NextOffset: offset}
	if offset == l.end || offset >= maxOffset {
		return empty, nil
	}
	maxOffset = min(maxOffset, l.end)
	for i := l.segmentFor(offset); i < len(l.segs); i++ {
		r, found, err := l.readSegment(i, offset, int64(max(maxBytes, 0)), maxOffset)
		if err != nil || found {
			return r, err
		}
	}
	// offset lies in a gap after the last batch (a compacted tail).
	empty.NextOffset = l.end
	return empty, nil
}

// segmentNext is the offset after segment i as readers see it: the next
// segment's base, or the log end offset for the active one. Callers hold mu.
func (l *Log) segmentNext(i int) int64 {
	if i+1 < len(l.segs) {
		return l.segs[i+1].base
	}
	return l.end
}

// readSegment is Read within segment i; found is false when the segment
// has no batch with a last offset >= offset.
func (l *Log) readSegment(i int, offset, maxBytes, maxOffset int64) (Region, bool, error) {
	s := l.segs[i]
	if s.size == 0 {
		return Region{}, false, nil
	}
	offs, err := l.offsetIndex(s)
	if err != nil {
		return Region{}, false, err
	}
	pf, err := l.files.acquire(s.logPath, false)
	if err != nil {
		return Region{}, false, storageErr(err, "open segment %s", s.logPath)
	}
	defer l.files.release(pf)

	e := offs.Lookup(offset)
	pos := e.Position
	h, err := readHeaderAt(pf.f, pos, s.size)
	if pos > 0 && (err != nil || h.BaseOffset != e.Offset) && s.offsets == nil {
		// A cold index that passed its sanity check but points elsewhere:
		// rebuild it from the segment and look again.
		l.log.Warn("rebuilding a cold segment's indexes", "segment", s.base, "reason", errIndexMismatch)
		if offs, _, err = l.rebuildColdIndexes(s); err != nil {
			return Region{}, false, err
		}
		e = offs.Lookup(offset)
		pos = e.Position
		h, err = readHeaderAt(pf.f, pos, s.size)
	}
	if err == nil && pos > 0 && h.BaseOffset != e.Offset {
		err = fmt.Errorf("%w: entry %+v, batch at %d", errIndexMismatch, e, h.BaseOffset)
	}
	if err != nil {
		return Region{}, false, storageErr(err, "read segment %s", s.logPath)
	}
	for h.LastOffset() < offset {
		pos += int64(h.Size())
		if pos >= s.size {
			return Region{}, false, nil
		}
		if h, err = readHeaderAt(pf.f, pos, s.size); err != nil {
			return Region{}, false, storageErr(err, "read segment %s", s.logPath)
		}
	}
	if h.LastOffset() >= maxOffset {
		return Region{FirstOffset: offset, NextOffset: offset}, true, nil
	}
	start, first := pos, h
	end, next := pos+int64(h.Size()), h.NextOffset()
	limit := start + max(maxBytes, int64(h.Size()))
	segNext := l.segmentNext(i)
	if s.size <= limit && segNext <= maxOffset {
		// The rest of the segment fits and is all below maxOffset.
		end, next = s.size, segNext
		if s.next >= 0 {
			next = s.next
		}
	} else if end < limit && end < s.size {
		// Jump near the end with the index: the last entry within the byte
		// limit whose batch starts at or below maxOffset (so every batch
		// before it ends below maxOffset), then walk the headers.
		j := offs.LookupPosition(limit)
		if k := offs.Lookup(maxOffset); k.Position < j.Position {
			j = k
		}
		if j.Position > end {
			end, next = j.Position, j.Offset
		}
		for end < s.size {
			h, err := readHeaderAt(pf.f, end, s.size)
			if err != nil {
				return Region{}, false, storageErr(err, "read segment %s", s.logPath)
			}
			if end+int64(h.Size()) > limit || h.LastOffset() >= maxOffset {
				break
			}
			end, next = end+int64(h.Size()), h.NextOffset()
		}
	}
	f, err := os.Open(s.logPath)
	if err != nil {
		return Region{}, false, storageErr(err, "open segment %s", s.logPath)
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		f.Close()
		return Region{}, false, storageErr(err, "seek segment %s", s.logPath)
	}
	return Region{File: f, Pos: start, Len: end - start, FirstOffset: first.BaseOffset, NextOffset: next}, true, nil
}

// offsetIndex returns s's offset index: the active segment's own, or a
// cold segment's from the pool's cache, loaded (and rebuilt when missing
// or inconsistent) on a miss. Callers hold mu (shared is enough).
func (l *Log) offsetIndex(s *segment) (*offsetindex.Offsets, error) {
	if s.offsets != nil {
		return s.offsets, nil
	}
	if v, ok := l.files.cached(s.logPath + indexSuffix); ok {
		return v.(*offsetindex.Offsets), nil
	}
	b, err := os.ReadFile(s.indexPath())
	if err == nil {
		var ix *offsetindex.Offsets
		if ix, err = offsetindex.ParseOffsets(s.base, b, s.size); err == nil {
			l.files.storeCached(s.logPath+indexSuffix, ix, len(b))
			return ix, nil
		}
	}
	l.log.Warn("rebuilding a cold segment's indexes", "segment", s.base, "reason", err)
	offs, _, err := l.rebuildColdIndexes(s)
	return offs, err
}

// timeIndex is offsetIndex for the time index.
func (l *Log) timeIndex(s *segment) (*offsetindex.Times, error) {
	if s.times != nil {
		return s.times, nil
	}
	if v, ok := l.files.cached(s.logPath + timeIndexSuffix); ok {
		return v.(*offsetindex.Times), nil
	}
	b, err := os.ReadFile(s.timeIndexPath())
	if err == nil {
		var ix *offsetindex.Times
		if ix, err = offsetindex.ParseTimes(s.base, b, l.segmentNextOf(s)); err == nil {
			l.files.storeCached(s.logPath+timeIndexSuffix, ix, len(b))
			return ix, nil
		}
	}
	l.log.Warn("rebuilding a cold segment's indexes", "segment", s.base, "reason", err)
	_, times, err := l.rebuildColdIndexes(s)
	return times, err
}

// segmentNextOf is segmentNext by segment. Callers hold mu.
func (l *Log) segmentNextOf(s *segment) int64 {
	for i, x := range l.segs {
		if x == s {
			return l.segmentNext(i)
		}
	}
	return l.end
}

// rebuildColdIndexes rebuilds a cold segment's indexes from its batch
// headers, writes them and caches them. The segment's bytes are trusted
// (they were recovered or checked when written). Callers hold mu shared;
// concurrent rebuilds of one segment write the same bytes.
func (l *Log) rebuildColdIndexes(s *segment) (*offsetindex.Offsets, *offsetindex.Times, error) {
	pf, err := l.files.acquire(s.logPath, false)
	if err != nil {
		return nil, nil, storageErr(err, "open segment %s", s.logPath)
	}
	defer l.files.release(pf)
	tmp := newSegment(l.dir, s.base)
	tmp.offsets, tmp.times = newIndexes(s.base)
	sc := &scanner{seg: tmp, interval: int64(l.cfg.IndexIntervalBytes)}
	if err := sc.scan(pf.f, 0, s.size); err != nil {
		return nil, nil, storageErr(err, "rebuild indexes of %s", s.logPath)
	}
	tmp.sealTimes()
	if err := os.WriteFile(s.indexPath(), tmp.offsets.Bytes(), 0o644); err != nil {
		return nil, nil, storageErr(err, "write %s", s.indexPath())
	}
	if err := os.WriteFile(s.timeIndexPath(), tmp.times.Bytes(), 0o644); err != nil {
		return nil, nil, storageErr(err, "write %s", s.timeIndexPath())
	}
	l.files.storeCached(s.logPath+indexSuffix, tmp.offsets, len(tmp.offsets.Bytes()))
	l.files.storeCached(s.logPath+timeIndexSuffix, tmp.times, len(tmp.times.Bytes()))
	return tmp.offsets, tmp.times, nil
}

// readBatchAt reads the whole batch at pos of s, at most limit bytes.
func (l *Log) readBatchAt(s *segment, pos int64, limit int) ([]byte, recordbatch.BatchHeader, error) {
	pf, err := l.files.acquire(s.logPath, false)
	if err != nil {
		return nil, recordbatch.BatchHeader{}, storageErr(err, "open segment %s", s.logPath)
	}
	defer l.files.release(pf)
	h, err := readHeaderAt(pf.f, pos, s.size)
	if err != nil {
		return nil, h, storageErr(err, "read segment %s", s.logPath)
	}
	if h.Size() > limit {
		return nil, h, storageErr(fmt.Errorf("batch of %d bytes over the read limit %d", h.Size(), limit), "read segment %s", s.logPath)
	}
	b := make([]byte, h.Size())
	if _, err := pf.f.ReadAt(b, pos); err != nil {
		return nil, h, storageErr(err, "read segment %s", s.logPath)
	}
	return b, h, nil
}
