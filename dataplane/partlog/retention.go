package partlog

import (
	"os"
	"time"

	"strand.dev/dataplane/offsetindex"
)

// ApplyRetention deletes whole segments, oldest first, while they are
// beyond retention.ms (their newest record is older than now minus
// retention.ms) or beyond retention.bytes (the log minus the segment would
// still be at least that large), as Kafka's delete policy does. The log
// start offset advances to the first remaining segment. An expired active
// segment is rolled first (so the log keeps its end offset); size
// retention never deletes the active segment. Logs whose cleanup.policy
// does not include delete are left alone.
func (l *Log) ApplyRetention(now time.Time) (int, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return 0, closedErr(l.dir)
	}
	cfg := l.Config()
	if !cfg.Deletes() || (cfg.RetentionMs < 0 && cfg.RetentionBytes < 0) {
		return 0, nil
	}
	nowMs := now.UnixMilli()
	expired := func(s *segment) bool {
		if cfg.RetentionMs < 0 || s.size == 0 {
			return false
		}
		ts := s.maxTS
		if ts < 0 {
			if fi, err := os.Stat(s.logPath); err == nil {
				ts = fi.ModTime().UnixMilli()
			}
		}
		return nowMs-ts > cfg.RetentionMs
	}
	var total int64
	for _, s := range l.segs {
		total += s.size
	}
	// Count the deletable prefix.
	n := 0
	excess := total - cfg.RetentionBytes
	for i, s := range l.segs {
		last := i == len(l.segs)-1
		bySize := cfg.RetentionBytes >= 0 && !last && excess-s.size >= 0
		emptied := s.size == 0 && !last && cfg.RetentionMs >= 0 // a segment the cleaner emptied holds nothing to keep
		if !bySize && !emptied && !expired(s) {
			break
		}
		excess -= s.size
		n++
	}
	if n == 0 {
		return 0, nil
	}
	if n == len(l.segs) {
		// Everything expired, the active segment too: start an empty one
		// at the end offset so the log keeps its offsets.
		if err := l.roll(l.end, nowMs); err != nil {
			return 0, err
		}
	}
	l.mu.Lock()
	doomed := append([]*segment(nil), l.segs[:n]...)
	l.segs = append([]*segment(nil), l.segs[n:]...)
	l.start = l.segs[0].base
	l.recoveryPoint = max(l.recoveryPoint, l.start)
	changed := l.epochs.truncateFromStart(l.start)
	entries := l.epochs.clone()
	l.dirGen++
	l.mu.Unlock()
	for _, s := range doomed {
		if err := l.removeSegmentFiles(s); err != nil {
			return 0, err
		}
	}
	if changed {
		if err := writeEpochs(l.dir, entries); err != nil {
			return len(doomed), storageErr(err, "write leader-epoch checkpoint of %s", l.dir)
		}
	}
	l.log.Info("deleted segments by retention", "segments", len(doomed), "log_start_offset", l.StartOffset())
	return len(doomed), nil
}

// TruncateTo removes every record at or after offset (a follower drops a
// suffix its new leader does not have). Truncation is at batch boundaries:
// a batch that holds offset goes whole, and the log end offset becomes its
// base. The cut is fsynced before TruncateTo returns, so a crash cannot
// bring the dropped records back; the leader-epoch history is cut too.
// An offset below the log start offset empties the log, which then starts
// at offset (TruncateFullyAndStartAt).
func (l *Log) TruncateTo(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return closedErr(l.dir)
	}
	if offset >= l.end {
		return nil
	}
	if offset < l.start {
		return l.truncateFullyLocked(offset)
	}
	i := l.segmentFor(offset)
	s := l.segs[i]
	// Find the first batch with a last offset >= offset: the cut.
	cut, newEnd := s.size, offset
	if s.size > 0 {
		offs, err := l.offsetIndexShared(s)
		if err != nil {
			return err
		}
		pf, err := l.files.acquire(s.logPath, false)
		if err != nil {
			return storageErr(err, "open segment %s", s.logPath)
		}
		pos := offs.Lookup(offset).Position
		for pos < s.size {
			h, err := readHeaderAt(pf.f, pos, s.size)
			if err != nil {
				l.files.release(pf)
				return storageErr(err, "read segment %s", s.logPath)
			}
			if h.LastOffset() >= offset {
				cut, newEnd = pos, min(offset, h.BaseOffset)
				break
			}
			pos += int64(h.Size())
		}
		l.files.release(pf)
	}
	if cut == 0 && i > 0 {
		// The whole segment goes; the previous one becomes active.
		i--
		newEnd = min(newEnd, s.base)
		s = l.segs[i]
		cut = s.size
	}
	return l.cutAt(i, cut, newEnd)
}

// offsetIndexShared is offsetIndex for callers that hold appendMu but not mu.
func (l *Log) offsetIndexShared(s *segment) (*offsetindex.Offsets, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.offsetIndex(s)
}

// cutAt makes segment i the active one, cut to cut bytes, deletes the
// segments after it and sets the end offset. It holds mu exclusively
// throughout, so no reader sees a half-cut segment; that is short: an
// ftruncate, an fsync and a scan of at most one index interval. Callers
// hold appendMu.
func (l *Log) cutAt(i int, cut, newEnd int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.segs[i]
	offs, err := l.offsetIndex(s)
	if err != nil {
		return err
	}
	times, err := l.timeIndex(s)
	if err != nil {
		return err
	}
	offs, times = offs.Clone(), times.Clone()
	pf, err := l.files.acquire(s.logPath, false)
	if err != nil {
		return storageErr(err, "open segment %s", s.logPath)
	}
	defer l.files.release(pf)
	if err := pf.f.Truncate(cut); err != nil {
		return storageErr(err, "truncate segment %s", s.logPath)
	}
	if err := fsync(pf.f); err != nil {
		return storageErr(err, "sync segment %s", s.logPath)
	}
	// The index files on disk are stale until written again.
	l.files.forget(s.logPath)
	for _, p := range []string{s.indexPath(), s.timeIndexPath()} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return storageErr(err, "delete stale index %s", p)
		}
	}
	// Rebuild the segment's state from its last index entry before the cut.
	offs.TruncateFromPosition(cut)
	ns := newSegment(l.dir, s.base)
	from := int64(0)
	if e, ok := offs.Last(); ok {
		offs.TruncateFromPosition(e.Position)
		times.TruncateFromOffset(e.Offset)
		from, ns.size, ns.next = e.Position, e.Position, e.Offset
		ns.bytesSinceIndex = int64(l.cfg.IndexIntervalBytes) + 1
		if t, ok := times.Last(); ok {
			ns.maxTS, ns.maxTSOffset = t.Timestamp, t.Offset
		}
	} else {
		offs, times = newIndexes(s.base)
	}
	ns.offsets, ns.times = offs, times
	sc := &scanner{seg: ns, interval: int64(l.cfg.IndexIntervalBytes)}
	if err := sc.scan(pf.f, from, cut); err != nil {
		return storageErr(err, "rescan truncated segment %s", s.logPath)
	}
	ns.flushedSize = cut
	ns.created = l.now().UnixMilli()
	if h, err := readHeaderAt(pf.f, 0, cut); err == nil {
		ns.firstTS = h.MaxTimestamp
	}
	if ns.size == 0 {
		ns.next = newEnd
	}
	newEnd = max(newEnd, ns.next)

	doomed := l.segs[i+1:]
	for _, d := range doomed {
		if err := l.removeSegmentFiles(d); err != nil {
			return err
		}
	}
	l.segs = append(l.segs[:i:i], ns)
	l.end = newEnd
	l.recoveryPoint = min(l.recoveryPoint, newEnd)
	l.unflushed = 0
	l.cleanerTruncated(newEnd)
	if err := syncDir(l.dir); err != nil {
		return storageErr(err, "sync log directory %s", l.dir)
	}
	if l.epochs.truncateFromEnd(newEnd) {
		if err := writeEpochs(l.dir, l.epochs.clone()); err != nil {
			return storageErr(err, "write leader-epoch checkpoint of %s", l.dir)
		}
	}
	l.log.Info("truncated log", "end_offset", newEnd, "deleted_segments", len(doomed))
	return nil
}

// TruncateFullyAndStartAt deletes every segment and starts the log empty
// at offset (a follower whose log is wholly behind its leader's start).
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return closedErr(l.dir)
	}
	return l.truncateFullyLocked(offset)
}

func (l *Log) truncateFullyLocked(offset int64) error {
	offset = max(offset, 0)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range l.segs {
		if err := l.removeSegmentFiles(d); err != nil {
			return err
		}
	}
	ns := newSegment(l.dir, offset)
	ns.offsets, ns.times = newIndexes(offset)
	ns.created = l.now().UnixMilli()
	l.segs = []*segment{ns}
	l.start, l.end, l.recoveryPoint = offset, offset, offset
	l.unflushed = 0
	l.cleanerTruncated(offset)
	l.epochs.entries = nil
	if err := createFile(ns.logPath); err != nil {
		return storageErr(err, "create segment %s", ns.logPath)
	}
	if err := syncDir(l.dir); err != nil {
		return storageErr(err, "sync log directory %s", l.dir)
	}
	if err := writeEpochs(l.dir, nil); err != nil {
		return storageErr(err, "write leader-epoch checkpoint of %s", l.dir)
	}
	l.log.Info("log emptied", "start_offset", offset)
	return nil
}
