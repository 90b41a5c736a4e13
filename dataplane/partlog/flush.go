package partlog

import (
	"errors"
	"io/fs"
	"os"

	"strand.dev/dataplane/offsetindex"
)

// newIndexes returns empty indexes for a segment at base.
func newIndexes(base int64) (*offsetindex.Offsets, *offsetindex.Times) {
	return offsetindex.NewOffsets(base), offsetindex.NewTimes(base)
}

// Flush writes everything appended so far to stable storage (fsync of the
// segments with unflushed data, of index files written since the last
// flush and of the directory when files came or went) and moves the
// recovery point to the log end offset as it was when Flush started.
// Appends go on while Flush waits for the disk.
func (l *Log) Flush() error { return l.flushTo(-1) }

// flushTo flushes the segments below offset upTo (-1: all of them) and
// advances the recovery point to upTo. Callers may hold appendMu; flushTo
// takes flushMu and, briefly, mu.
func (l *Log) flushTo(upTo int64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	type job struct {
		s         *segment
		size      int64
		syncData  bool
		syncIndex bool
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return nil
	}
	full := upTo < 0 || upTo >= l.end
	if full {
		upTo = l.end
	}
	var jobs []job
	for _, s := range l.segs {
		if s.base >= upTo && !(full && s == l.active()) {
			break
		}
		j := job{s: s, size: s.size, syncData: s.flushedSize < s.size, syncIndex: s.indexWritten && !s.indexSynced}
		if j.syncData || j.syncIndex {
			jobs = append(jobs, j)
		}
	}
	dirGen := l.dirGen
	syncDirNow := dirGen != l.dirSynced
	unflushed := l.unflushed
	l.mu.RUnlock()

	for _, j := range jobs {
		if j.syncData {
			if err := l.syncFile(j.s.logPath, true); err != nil {
				return err
			}
		}
		if j.syncIndex {
			for _, p := range []string{j.s.indexPath(), j.s.timeIndexPath()} {
				if err := l.syncFile(p, false); err != nil {
					return err
				}
			}
		}
	}
	if syncDirNow {
		if err := syncDir(l.dir); err != nil {
			return storageErr(err, "sync log directory %s", l.dir)
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	for _, j := range jobs {
		j.s.flushedSize = max(j.s.flushedSize, j.size)
		if j.syncIndex {
			j.s.indexSynced = true
		}
	}
	if syncDirNow {
		l.dirSynced = max(l.dirSynced, dirGen)
	}
	if rp := min(upTo, l.end); rp > l.recoveryPoint {
		l.recoveryPoint = rp
	}
	if full {
		l.unflushed -= unflushed
		l.lastFlush = l.now()
		l.flushes++
	}
	return nil
}

// syncFile fsyncs a file, through the pool for segment files. A file that
// is gone (its segment was deleted meanwhile) needs no sync.
func (l *Log) syncFile(path string, pooled bool) error {
	var err error
	if pooled {
		var pf *pooledFile
		if pf, err = l.files.acquire(path, false); err == nil {
			err = fsync(pf.f)
			l.files.release(pf)
		}
	} else {
		var f *os.File
		if f, err = os.Open(path); err == nil {
			err = fsync(f)
			f.Close()
		}
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return storageErr(err, "sync %s", path)
	}
	return nil
}

// persistIndexes writes s's in-memory indexes to its index files (not
// fsynced: the next flush does that). The caller guarantees that nobody
// modifies s's indexes meanwhile (it holds appendMu, or the log is not
// shared yet).
func (l *Log) persistIndexes(s *segment) error {
	if s.offsets == nil {
		return nil
	}
	if err := os.WriteFile(s.indexPath(), s.offsets.Bytes(), 0o644); err != nil {
		return storageErr(err, "write %s", s.indexPath())
	}
	if err := os.WriteFile(s.timeIndexPath(), s.times.Bytes(), 0o644); err != nil {
		return storageErr(err, "write %s", s.timeIndexPath())
	}
	l.mu.Lock()
	if !s.indexWritten {
		l.dirGen++ // the files may be new
	}
	s.indexWritten, s.indexSynced = true, false
	s.persistedOffsets, s.persistedTimes = len(s.offsets.Bytes()), len(s.times.Bytes())
	l.mu.Unlock()
	return nil
}

// CheckpointIndexes writes the active segment's indexes to disk when they
// grew since they were last written, so that a recovery after a crash can
// resume its scan at the index entry before the recovery point instead of
// rescanning the whole active segment. The manager calls it before it
// writes the recovery-point checkpoint.
func (l *Log) CheckpointIndexes() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return nil
	}
	a := l.active()
	if a.offsets == nil || (a.indexWritten && len(a.offsets.Bytes()) == a.persistedOffsets && len(a.times.Bytes()) == a.persistedTimes) {
		return nil
	}
	return l.persistIndexes(a)
}
