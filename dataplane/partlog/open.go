package partlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"strand.dev/client/recordbatch"
	"strand.dev/dataplane/offsetindex"
)

// Open opens (creating it if needed) the log in dir and recovers it:
//
//   - after a clean shutdown (opts.Clean) it trusts every segment, checks
//     the indexes' sanity (rebuilding a missing or inconsistent one) and
//     scans only the active segment's tail after its last index entry;
//   - otherwise it trusts the segments wholly below opts.RecoveryPoint and
//     scans the rest, from the index entry at or before the recovery point,
//     checking every batch (CRC-32C, lengths, offsets). At the first torn or
//     corrupt batch the segment is cut there and later segments are deleted:
//     nothing valid before it is lost. Indexes of scanned segments are
//     rebuilt.
func Open(dir string, cfg Config, opts Options) (*Log, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Log{
		dir: dir,
		log: opts.Logger.With("component", "partlog", "dir", dir),
		now: opts.Now,
		cfg: cfg,
	}
	if opts.Files == nil {
		l.files, l.ownFiles = NewFilePool(0, 0), true
	} else {
		l.files = opts.Files
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, storageErr(err, "create log directory")
	}
	if err := l.recover(opts); err != nil {
		for _, s := range l.segs {
			l.files.forget(s.logPath)
		}
		if l.ownFiles {
			l.files.Close()
		}
		return nil, err
	}
	l.lastFlush = l.now()
	return l, nil
}

// recover builds the segment list from the directory. It runs before the
// log is shared, so it takes no locks.
func (l *Log) recover(opts Options) error {
	start := time.Now()
	swapped, err := finishSwaps(l.dir, l.log)
	if err != nil {
		return storageErr(err, "finish the cleaner's swaps")
	}
	if swapped {
		l.dirGen++
	}
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return storageErr(err, "list log directory")
	}
	var bases []int64
	stray := map[int64][]string{}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(l.dir, name))
			continue
		}
		base, suf, ok := parseSegmentName(name)
		if !ok {
			continue
		}
		if suf == logSuffix {
			bases = append(bases, base)
		} else {
			stray[base] = append(stray[base], name)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	for base, names := range stray {
		if i := sort.Search(len(bases), func(i int) bool { return bases[i] >= base }); i == len(bases) || bases[i] != base {
			for _, n := range names {
				os.Remove(filepath.Join(l.dir, n)) // an index without its log
			}
		}
	}
	if len(bases) == 0 {
		bases = []int64{0}
		if err := createFile(filepath.Join(l.dir, segmentName(0)+logSuffix)); err != nil {
			return storageErr(err, "create first segment")
		}
		l.dirGen++
	}
	for _, b := range bases {
		l.segs = append(l.segs, newSegment(l.dir, b))
	}

	epochs, epochErr := readEpochs(l.dir)
	if epochErr != nil {
		l.log.Warn("leader-epoch checkpoint unreadable; rebuilding what the scan finds", "err", epochErr)
	}
	l.epochs.entries = epochs

	// Segments from index first are scanned; those before it are trusted.
	first := len(l.segs)
	if !opts.Clean {
		first = 0
		for i, s := range l.segs {
			if s.base <= opts.RecoveryPoint {
				first = i
			}
		}
	}
	var scanned int64
	for i := 0; i < len(l.segs); i++ {
		s := l.segs[i]
		last := i == len(l.segs)-1
		var n int64
		var cut bool
		switch {
		case i < first && !last:
			n, cut, err = l.openTrusted(s)
		case i < first:
			n, cut, err = l.openActiveTail(s)
		default:
			resume := int64(-1)
			if i == first && !opts.Clean {
				resume = opts.RecoveryPoint
			}
			n, cut, err = l.openScanned(s, resume, !last)
		}
		scanned += n
		if err != nil {
			return err
		}
		if cut && !last {
			if err := l.dropSegmentsAfter(i); err != nil {
				return err
			}
		}
	}

	a := l.active()
	if a.offsets == nil {
		// The active segment is held in memory.
		if err := l.loadActiveIndexes(a); err != nil {
			return err
		}
	}
	a.firstTS, a.created = l.firstBatchTime(a), l.now().UnixMilli()
	l.start = l.segs[0].base
	l.end = a.next
	l.recoveryPoint = min(max(opts.RecoveryPoint, l.start), l.end)
	if opts.Clean {
		l.recoveryPoint = l.end
		for _, s := range l.segs {
			s.flushedSize = s.size
			s.indexSynced = true
		}
	}
	c1 := l.epochs.truncateFromEnd(l.end)
	c2 := l.epochs.truncateFromStart(l.start)
	if c1 || c2 || epochErr != nil {
		if werr := writeEpochs(l.dir, l.epochs.clone()); werr != nil {
			return storageErr(werr, "write leader-epoch checkpoint")
		}
	}
	if l.dirGen != l.dirSynced {
		if err := syncDir(l.dir); err != nil {
			return storageErr(err, "sync log directory")
		}
		l.dirSynced = l.dirGen
	}
	lvl := slog.LevelDebug
	if scanned > 64<<10 {
		lvl = slog.LevelInfo
	}
	l.log.Log(context.Background(), lvl, "opened log", "segments", len(l.segs), "start", l.start, "end", l.end,
		"recovery_point", l.recoveryPoint, "clean", opts.Clean, "scanned_bytes", scanned, "took", time.Since(start))
	return nil
}

// openTrusted opens a cold segment below the recovery point: its size from
// the file, its largest timestamp from the time index's last entry. Missing
// or inconsistent indexes are rebuilt by scanning the segment (which may
// cut it: cut is then true).
func (l *Log) openTrusted(s *segment) (scanned int64, cut bool, err error) {
	fi, err := os.Stat(s.logPath)
	if err != nil {
		return 0, false, storageErr(err, "stat segment")
	}
	s.size = fi.Size()
	s.next = -1
	s.flushedSize, s.indexSynced, s.indexWritten = s.size, true, true
	if s.size == 0 {
		return 0, false, nil
	}
	if err := l.checkColdIndexes(s); err != nil {
		l.log.Warn("rebuilding the indexes of a segment", "segment", s.base, "reason", err)
		return l.openScanned(s, -1, true)
	}
	return 0, false, nil
}

// checkColdIndexes checks the sanity of a cold segment's index files
// (whole entries, last entries within the segment) and reads its largest
// timestamp from the time index.
func (l *Log) checkColdIndexes(s *segment) error {
	ix, err := os.Open(s.indexPath())
	if err != nil {
		return err
	}
	defer ix.Close()
	tx, err := os.Open(s.timeIndexPath())
	if err != nil {
		return err
	}
	defer tx.Close()
	isz, err := fileSize(ix)
	if err != nil {
		return err
	}
	tsz, err := fileSize(tx)
	if err != nil {
		return err
	}
	if isz%offsetindex.OffsetEntrySize != 0 || tsz%offsetindex.TimeEntrySize != 0 || tsz == 0 {
		return fmt.Errorf("index sizes %d and %d are not whole entries, or the time index is empty", isz, tsz)
	}
	if isz > 0 {
		b := make([]byte, offsetindex.OffsetEntrySize)
		if _, err := ix.ReadAt(b, isz-int64(len(b))); err != nil {
			return err
		}
		p, err := offsetindex.ParseOffsets(s.base, b, s.size)
		if err != nil {
			return err
		}
		last, _ := p.Last()
		h, err := l.headerAt(s, last.Position)
		if err != nil || h.BaseOffset != last.Offset {
			return fmt.Errorf("last offset index entry %+v does not point at its batch: %v", last, err)
		}
	}
	b := make([]byte, offsetindex.TimeEntrySize)
	if _, err := tx.ReadAt(b, tsz-int64(len(b))); err != nil {
		return err
	}
	t, err := offsetindex.ParseTimes(s.base, b, math.MaxInt64)
	if err != nil {
		return err
	}
	last, _ := t.Last()
	s.maxTS, s.maxTSOffset = last.Timestamp, last.Offset
	return nil
}

// headerAt reads the header of the batch at pos of s through the pool.
func (l *Log) headerAt(s *segment, pos int64) (recordbatch.BatchHeader, error) {
	pf, err := l.files.acquire(s.logPath, false)
	if err != nil {
		return recordbatch.BatchHeader{}, err
	}
	defer l.files.release(pf)
	return readHeaderAt(pf.f, pos, s.size)
}

// openActiveTail opens the active segment after a clean shutdown: its
// indexes are loaded (rebuilt by a full scan when inconsistent) and only the
// batches after the last index entry are scanned.
func (l *Log) openActiveTail(s *segment) (scanned int64, cut bool, err error) {
	return l.openScanned(s, math.MaxInt64, false)
}

// openScanned recovers s by scanning it. With resume >= 0 and usable index
// files, the scan starts at the last index entry at or before offset resume
// (the recovery point); otherwise at the start. Bytes after the last valid
// batch are cut off. With seal, the segment is left cold: its indexes are
// written to disk and dropped from memory.
func (l *Log) openScanned(s *segment, resume int64, seal bool) (scanned int64, cut bool, err error) {
	pf, err := l.files.acquire(s.logPath, false)
	if err != nil {
		return 0, false, storageErr(err, "open segment")
	}
	defer l.files.release(pf)
	size, err := fileSize(pf.f)
	if err != nil {
		return 0, false, storageErr(err, "stat segment")
	}
	from := int64(0)
	if resume >= 0 {
		if from, err = l.resumePoint(s, pf.f, size, resume); err != nil {
			l.log.Debug("scanning a whole segment", "segment", s.base, "reason", err)
			from = 0
		}
	}
	if from == 0 {
		*s = *newSegment(l.dir, s.base)
		s.offsets, s.times = newIndexes(s.base)
	}
	sc := &scanner{seg: s, interval: int64(l.cfg.IndexIntervalBytes), verify: true}
	serr := sc.scan(pf.f, from, size)
	var torn *errTornTail
	switch {
	case errors.As(serr, &torn):
		l.log.Warn("cutting a torn or corrupt tail", "segment", s.base, "position", torn.pos,
			"dropped_bytes", size-torn.pos, "reason", torn.reason)
		if err := pf.f.Truncate(torn.pos); err != nil {
			return size - from, true, storageErr(err, "truncate segment")
		}
		if err := fsync(pf.f); err != nil {
			return size - from, true, storageErr(err, "sync segment")
		}
		cut = true
	case serr != nil:
		return size - from, false, storageErr(serr, "scan segment")
	}
	for _, e := range sc.epochs {
		l.epochs.assign(e.Epoch, e.StartOffset)
	}
	s.flushedSize = min(s.flushedSize, s.size)
	if from == 0 {
		s.flushedSize = 0
	}
	s.indexWritten, s.indexSynced = false, false
	if seal {
		s.sealTimes()
		if err := l.persistIndexes(s); err != nil {
			return size - from, cut, err
		}
		l.files.storeCached(s.logPath+indexSuffix, s.offsets, len(s.offsets.Bytes()))
		l.files.storeCached(s.logPath+timeIndexSuffix, s.times, len(s.times.Bytes()))
		s.offsets, s.times = nil, nil
	}
	return size - from, cut, nil
}

// resumePoint loads s's index files, keeps the entries up to offset resume,
// primes s to continue from the last kept entry and returns its position.
// The batch there must be the entry's; otherwise the caller scans from 0.
func (l *Log) resumePoint(s *segment, f *os.File, size, resume int64) (int64, error) {
	ib, err := os.ReadFile(s.indexPath())
	if err != nil {
		return 0, err
	}
	tb, err := os.ReadFile(s.timeIndexPath())
	if err != nil {
		return 0, err
	}
	// Entries beyond the file's end may be stale after a cut: keep a prefix.
	offs, err := offsetindex.ParseOffsets(s.base, ib, math.MaxUint32+1)
	if err != nil {
		return 0, err
	}
	times, err := offsetindex.ParseTimes(s.base, tb, math.MaxInt64)
	if err != nil {
		return 0, err
	}
	e := offs.Lookup(resume)
	for e.Position >= size && e.Position > 0 {
		e = offs.LookupPosition(e.Position - 1)
	}
	if e.Position == 0 {
		return 0, errors.New("no index entry before the recovery point")
	}
	h, err := readHeaderAt(f, e.Position, size)
	if err != nil || h.BaseOffset != e.Offset {
		return 0, fmt.Errorf("index entry %+v does not point at its batch: %v", e, err)
	}
	offs.TruncateFromPosition(e.Position)
	times.TruncateFromOffset(e.Offset)
	*s = *newSegment(l.dir, s.base)
	s.offsets, s.times = offs.Clone(), times.Clone()
	if last, ok := s.times.Last(); ok {
		s.maxTS, s.maxTSOffset = last.Timestamp, last.Offset
	}
	s.size, s.next = e.Position, e.Offset
	s.flushedSize = e.Position
	// Make the scan re-add the entry for the batch at the resume point.
	s.bytesSinceIndex = int64(l.cfg.IndexIntervalBytes) + 1
	return e.Position, nil
}

// loadActiveIndexes gives the active segment its in-memory indexes (after
// the trusted path left it cold).
func (l *Log) loadActiveIndexes(s *segment) error {
	_, _, err := l.openScanned(s, math.MaxInt64, false)
	return err
}

// dropSegmentsAfter deletes the segments after index i (they follow a cut).
func (l *Log) dropSegmentsAfter(i int) error {
	for _, s := range l.segs[i+1:] {
		l.log.Warn("deleting a segment after a corrupt one", "segment", s.base)
		if err := l.removeSegmentFiles(s); err != nil {
			return err
		}
	}
	l.segs = l.segs[:i+1]
	l.dirGen++
	return nil
}

// removeSegmentFiles closes and deletes a segment's files.
func (l *Log) removeSegmentFiles(s *segment) error {
	l.files.forget(s.logPath)
	for _, p := range []string{s.logPath, s.indexPath(), s.timeIndexPath()} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return storageErr(err, "delete segment file")
		}
	}
	return nil
}

// firstBatchTime is the max timestamp of s's first batch, -1 when s is
// empty.
func (l *Log) firstBatchTime(s *segment) int64 {
	if s.size == 0 {
		return -1
	}
	h, err := l.headerAt(s, 0)
	if err != nil {
		return -1
	}
	return h.MaxTimestamp
}

func fileSize(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}
