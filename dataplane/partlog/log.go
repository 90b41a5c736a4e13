package partlog

import (
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"strand.dev/client/wire"
)

// Options are a Log's collaborators and recovery hints.
type Options struct {
	// Logger for the log's events (default slog.Default()), given a
	// "component" attribute.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Files is the pool of descriptors and cold indexes shared by many logs.
	// nil gives the log a private pool, closed with it.
	Files *FilePool

	// RecoveryPoint is the offset below which the log was known to be on
	// stable storage (from the manager's recovery-point checkpoint):
	// segments wholly below it are trusted, and the recovery scan starts
	// at the index entry at or before it. 0 scans everything.
	RecoveryPoint int64
	// Clean says the log was closed cleanly (the manager's clean-shutdown
	// marker): nothing is rescanned beyond the active segment's tail after
	// its last index entry.
	Clean bool
}

// Log is one partition's log: segments of RecordBatch v2 bytes in a
// directory, with sparse indexes, retention, flushing, crash recovery and a
// leader-epoch history.
//
// Concurrency: every method is safe for concurrent use. Locks, always taken
// in this order:
//   - appendMu serialises writers (Append, AppendReplicated, TruncateTo,
//     ApplyRetention, AssignEpoch, Close, Delete) and is held across their
//     file writes;
//   - flushMu serialises fsyncs (Flush, and the flush after a roll, which
//     runs on its own goroutine owned by the log and awaited by Close);
//   - mu (RWMutex) guards the segment list, offsets, indexes and config.
//     Writers hold it exclusively only to publish what they wrote; Read,
//     OffsetForTimestamp and the getters hold it shared, so reads wait on
//     an append only for that publication, never for its write or fsync.
//
// Bytes below a segment's published size never change while it is
// published (TruncateTo and retention take mu exclusively first), which is
// what lets readers scan and hand out file regions under the shared lock.
type Log struct {
	dir      string
	log      *slog.Logger
	now      func() time.Time
	files    *FilePool
	ownFiles bool

	appendMu sync.Mutex
	flushMu  sync.Mutex
	bg       sync.WaitGroup // roll flushes in flight

	mu            sync.RWMutex
	cfg           Config
	segs          []*segment // by base offset; the last one is active
	start, end    int64
	recoveryPoint int64
	unflushed     int64 // records appended since the last flush
	lastFlush     time.Time
	dirGen        uint64 // counts creations and removals of files in dir
	dirSynced     uint64 // dirGen at the last directory fsync
	epochs        epochCache
	closed        bool
	appended      uint64 // counters for Stats
	appendedBytes uint64
	flushes       uint64
	rolls         uint64

	cleanMu sync.Mutex   // serialises Clean calls (held across a cleaning)
	clean   cleanerState // the cleaner's bookkeeping; see cleanerState
}

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

// Config returns the log's configuration.
func (l *Log) Config() Config {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cfg
}

// SetConfig replaces the configuration; it applies from the next append,
// roll, flush and retention pass.
func (l *Log) SetConfig(cfg Config) {
	l.mu.Lock()
	l.cfg = cfg
	l.mu.Unlock()
}

// StartOffset is the log start offset: the first offset a read may ask for.
func (l *Log) StartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.start
}

// EndOffset is the log end offset: the offset the next record gets.
func (l *Log) EndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.end
}

// RecoveryPoint is the offset below which everything is on stable storage.
func (l *Log) RecoveryPoint() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.recoveryPoint
}

// Stats describes a log.
type Stats struct {
	Segments          int
	SizeBytes         int64
	StartOffset       int64
	EndOffset         int64
	RecoveryPoint     int64
	ActiveSegmentBase int64
	ActiveSegmentSize int64
	UnflushedRecords  int64
	LatestEpoch       int32 // -1 when no leader epoch was assigned
	LastFlush         time.Time
	AppendedBatches   uint64 // since the log was opened
	AppendedBytes     uint64
	Flushes           uint64
	Rolls             uint64
}

// Stats returns a snapshot of the log's state and counters.
func (l *Log) Stats() Stats {
	l.mu.RLock()
	defer l.mu.RUnlock()
	st := Stats{
		Segments:         len(l.segs),
		StartOffset:      l.start,
		EndOffset:        l.end,
		RecoveryPoint:    l.recoveryPoint,
		UnflushedRecords: l.unflushed,
		LastFlush:        l.lastFlush,
		AppendedBatches:  l.appended,
		AppendedBytes:    l.appendedBytes,
		Flushes:          l.flushes,
		Rolls:            l.rolls,
	}
	for _, s := range l.segs {
		st.SizeBytes += s.size
	}
	if a := l.active(); a != nil {
		st.ActiveSegmentBase, st.ActiveSegmentSize = a.base, a.size
	}
	e, _ := l.epochs.latest()
	st.LatestEpoch = e.Epoch
	return st
}

// active is the last segment. Callers hold mu or appendMu.
func (l *Log) active() *segment {
	if len(l.segs) == 0 {
		return nil
	}
	return l.segs[len(l.segs)-1]
}

// segmentFor returns the index of the segment that would hold offset: the
// last one whose base is <= offset (0 when offset is below them all).
// Callers hold mu.
func (l *Log) segmentFor(offset int64) int {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset })
	return max(i-1, 0)
}

// LatestEpoch is the newest leader epoch in the leader-epoch history, or -1.
func (l *Log) LatestEpoch() int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	e, _ := l.epochs.latest()
	return e.Epoch
}

// Epochs returns the leader-epoch history.
func (l *Log) Epochs() []EpochEntry {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.clone()
}

// AssignEpoch records that leader epoch epoch starts at startOffset (a new
// leader calls it with its log end offset before appending) and persists the
// leader-epoch checkpoint. Entries at or after startOffset are dropped; an
// epoch older than the latest is ignored. Leader appends stamp batches with
// the latest epoch.
func (l *Log) AssignEpoch(epoch int32, startOffset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return closedErr(l.dir)
	}
	changed := l.epochs.assign(epoch, startOffset)
	entries := l.epochs.clone()
	l.mu.Unlock()
	if !changed {
		return nil
	}
	if err := writeEpochs(l.dir, entries); err != nil {
		return storageErr(err, "write leader-epoch checkpoint of %s", l.dir)
	}
	return nil
}

// EndOffsetForEpoch answers a follower's "where does my epoch end?"
// (Kafka's OffsetsForLeaderEpoch): the largest epoch <= epoch this log
// knows, and the offset where it ends (the start of the next epoch, or the
// log end offset for the latest epoch). (-1, -1) when epoch is newer than
// every known epoch or the history is empty.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.endOffsetFor(epoch, l.end)
}

// Close flushes the log, writes its indexes and releases its descriptors.
// Later calls fail with ErrClosed; Close again is a no-op.
func (l *Log) Close() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return nil
	}
	// Write the active segment's indexes, then fsync everything (those
	// index files included), so a clean restart can trust them.
	a := l.active()
	l.mu.Lock()
	a.sealTimes()
	l.mu.Unlock()
	err := l.persistIndexes(a)
	if ferr := l.flushTo(-1); ferr != nil && err == nil {
		err = ferr
	}
	l.bg.Wait()
	l.mu.Lock()
	l.closed = true
	segs := l.segs
	l.mu.Unlock()
	for _, s := range segs {
		l.files.forget(s.logPath)
	}
	if l.ownFiles {
		l.files.Close()
	}
	return err
}

// Delete closes the log (without flushing) and removes its directory.
func (l *Log) Delete() error {
	l.shutdown()
	if err := os.RemoveAll(l.dir); err != nil {
		return storageErr(err, "delete log %s", l.dir)
	}
	return nil
}

// String names the log for messages.
func (l *Log) String() string { return fmt.Sprintf("log %s", l.dir) }

// errNoBatches is the error of an empty append.
var errNoBatches = wire.Errorf(wire.CodeCorruptMessage, "no record batch in an empty body")

// shutdown closes the log without flushing (its data is about to be
// deleted) and releases its descriptors.
func (l *Log) shutdown() {
	l.appendMu.Lock()
	l.mu.Lock()
	l.closed = true
	segs := l.segs
	l.mu.Unlock()
	l.appendMu.Unlock()
	l.bg.Wait()
	for _, s := range segs {
		l.files.forget(s.logPath)
	}
	if l.ownFiles {
		l.files.Close()
	}
}
