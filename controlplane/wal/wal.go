package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// Defaults of Options.
const (
	DefaultSegmentBytes   = 64 << 20
	DefaultMaxRecordBytes = 256 << 20
)

// ErrCorrupt reports a WAL that cannot be replayed: a bad record before the
// tail of the last segment, a gap in the entries, an unknown record type.
var ErrCorrupt = errors.New("wal: corrupt")

// ErrClosed is returned by a WAL used after Close.
var ErrClosed = errors.New("wal: closed")

// Options configure a WAL. The zero value is usable.
type Options struct {
	// SegmentBytes is the size at which a segment is closed and the next
	// one started (default 64 MiB).
	SegmentBytes int64
	// MaxRecordBytes bounds one record; a longer length read back is
	// treated as corruption (default 256 MiB). It must exceed the largest
	// raft entry the node accepts.
	MaxRecordBytes uint32
	// Logger receives recovery notes (component=wal). Default: slog.Default.
	Logger *slog.Logger
	// ObserveSync, when set, is called with the duration of every
	// fdatasync (for a metric). It runs on the caller's goroutine.
	ObserveSync func(time.Duration)
}

func (o *Options) defaults() {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.MaxRecordBytes == 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Logger = o.Logger.With("component", "wal")
}

// segment is one file of the WAL.
type segment struct {
	seq uint64
	// startAfter is the last entry index saved before the segment was
	// started: every entry of the earlier segments that is still part of
	// the log has an index at or below it.
	startAfter uint64
	path       string
}

func segmentName(seq, startAfter uint64) string {
	return fmt.Sprintf("%016x-%016x.wal", seq, startAfter)
}

// WAL is an open write-ahead log. See the package documentation.
type WAL struct {
	dir  string
	opts Options

	f    *os.File // the last segment, open for appending
	size int64    // bytes in f
	segs []segment

	hs        *raftpb.HardState // last HardState saved
	lastIndex uint64            // index of the last entry saved
	marker    *Marker           // last snapshot marker saved
	buf       []byte            // encode buffer, reused
}

// Open opens (creating if needed) the WAL in dir, replays it and returns it
// positioned for appending, with what it recovered.
func Open(dir string, opts Options) (*WAL, *Recovered, error) {
	opts.defaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("wal: create %s: %w", dir, err)
	}
	segs, err := listSegments(dir)
	if err != nil {
		return nil, nil, err
	}
	w := &WAL{dir: dir, opts: opts, segs: segs}
	if len(segs) == 0 {
		if err := w.createSegment(0, 0); err != nil {
			return nil, nil, err
		}
		return w, &Recovered{}, nil
	}
	rec, goodSize, err := replay(segs, opts)
	if err != nil {
		return nil, nil, err
	}
	last := segs[len(segs)-1]
	f, err := os.OpenFile(last.path, os.O_WRONLY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: open %s: %w", last.path, err)
	}
	if rec.TornBytes > 0 {
		opts.Logger.Warn("cut a torn tail off the last segment",
			"segment", filepath.Base(last.path), "offset", goodSize, "bytes", rec.TornBytes, "reason", rec.TornReason)
		if err := f.Truncate(goodSize); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("wal: truncate torn tail of %s: %w", last.path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("wal: sync %s: %w", last.path, err)
		}
	}
	if _, err := f.Seek(goodSize, 0); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("wal: seek %s: %w", last.path, err)
	}
	w.f, w.size = f, goodSize
	w.hs = rec.HardState
	if len(rec.Entries) > 0 {
		w.lastIndex = rec.Entries[len(rec.Entries)-1].GetIndex()
	}
	if n := len(rec.Markers); n > 0 {
		m := rec.Markers[n-1]
		w.marker = &m
		if w.lastIndex < m.Index {
			w.lastIndex = m.Index
		}
	}
	return w, rec, nil
}

// Save appends the entries and the HardState (either may be empty) in one
// write; with sync it returns only once they are durable (fdatasync).
func (w *WAL) Save(hs *raftpb.HardState, ents []*raftpb.Entry, sync bool) error {
	if w.f == nil {
		return ErrClosed
	}
	buf := w.buf[:0]
	for _, e := range ents {
		b, err := proto.Marshal(e)
		if err != nil {
			return fmt.Errorf("wal: encode entry %d: %w", e.GetIndex(), err)
		}
		buf = appendRecord(buf, recEntry, b)
	}
	hasHS := hs != nil && (hs.Term != nil || hs.Vote != nil || hs.Commit != nil)
	if hasHS {
		b, err := proto.Marshal(hs)
		if err != nil {
			return fmt.Errorf("wal: encode hard state: %w", err)
		}
		buf = appendRecord(buf, recHardState, b)
	}
	w.buf = buf
	if len(buf) == 0 {
		return nil
	}
	if err := w.write(buf, sync); err != nil {
		return err
	}
	if len(ents) > 0 {
		w.lastIndex = ents[len(ents)-1].GetIndex()
	}
	if hasHS {
		w.hs = proto.Clone(hs).(*raftpb.HardState)
	}
	if w.size >= w.opts.SegmentBytes {
		return w.rotate(sync)
	}
	return nil
}

// SaveSnapshot durably records that the snapshot m was saved. The snapshot
// itself (its file) must be durable before this is called.
func (w *WAL) SaveSnapshot(m Marker) error {
	if w.f == nil {
		return ErrClosed
	}
	buf := appendRecord(w.buf[:0], recSnapshot, m.encode())
	w.buf = buf
	if err := w.write(buf, true); err != nil {
		return err
	}
	w.marker = &m
	if m.Kind == MarkerReset || w.lastIndex < m.Index {
		w.lastIndex = m.Index
	}
	return nil
}

// write appends buf to the current segment, then syncs if asked.
func (w *WAL) write(buf []byte, sync bool) error {
	n, err := w.f.Write(buf)
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("wal: write %s: %w", w.path(), err)
	}
	if sync {
		return w.sync()
	}
	return nil
}

// sync makes the current segment's data durable.
func (w *WAL) sync() error {
	start := time.Now()
	if err := unix.Fdatasync(int(w.f.Fd())); err != nil {
		return fmt.Errorf("wal: fdatasync %s: %w", w.path(), err)
	}
	if w.opts.ObserveSync != nil {
		w.opts.ObserveSync(time.Since(start))
	}
	return nil
}

// rotate closes the current segment (syncing it if the last write did not)
// and starts the next one.
func (w *WAL) rotate(synced bool) error {
	if !synced {
		if err := w.sync(); err != nil {
			return err
		}
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("wal: close %s: %w", w.path(), err)
	}
	w.f = nil
	next := w.segs[len(w.segs)-1].seq + 1
	return w.createSegment(next, w.lastIndex)
}

// createSegment writes a new segment starting with the current HardState and
// snapshot marker (so that it replays alone once the earlier segments are
// released), via a temporary file renamed into place.
func (w *WAL) createSegment(seq, startAfter uint64) error {
	name := segmentName(seq, startAfter)
	final := filepath.Join(w.dir, name)
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("wal: create segment: %w", err)
	}
	var buf []byte
	if w.hs != nil {
		b, err := proto.Marshal(w.hs)
		if err != nil {
			f.Close()
			return fmt.Errorf("wal: encode hard state: %w", err)
		}
		buf = appendRecord(buf, recHardState, b)
	}
	if w.marker != nil {
		m := *w.marker
		// In a header a marker never discards entries: the entries that
		// follow it in the earlier segments are still the log.
		m.Kind = MarkerLocal
		buf = appendRecord(buf, recSnapshot, m.encode())
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return fmt.Errorf("wal: write segment header: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("wal: sync segment: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		f.Close()
		return fmt.Errorf("wal: rename segment: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		f.Close()
		return err
	}
	w.f, w.size = f, int64(len(buf))
	w.segs = append(w.segs, segment{seq: seq, startAfter: startAfter, path: final})
	return nil
}

// ReleaseTo deletes the segments whose entries all have an index at or below
// index. Call it only once a snapshot at index is durable (SaveSnapshot).
// The segment being written is never deleted.
func (w *WAL) ReleaseTo(index uint64) error {
	if w.f == nil {
		return ErrClosed
	}
	cut := 0
	for i := 0; i+1 < len(w.segs); i++ {
		if w.segs[i+1].startAfter <= index {
			cut = i + 1
		}
	}
	if cut == 0 {
		return nil
	}
	for _, s := range w.segs[:cut] {
		if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("wal: release %s: %w", s.path, err)
		}
	}
	w.segs = append([]segment(nil), w.segs[cut:]...)
	return syncDir(w.dir)
}

// Segments is the number of segment files (for tests and metrics).
func (w *WAL) Segments() int { return len(w.segs) }

// Close syncs and closes the WAL.
func (w *WAL) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}

// path is the current segment's file name.
func (w *WAL) path() string { return w.segs[len(w.segs)-1].path }

// syncDir makes a directory's entries (created, renamed, removed files)
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("wal: open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("wal: sync dir %s: %w", dir, err)
	}
	return nil
}
