package wal

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Recovered is what replaying a WAL found.
type Recovered struct {
	// HardState is the last HardState saved, nil if none was.
	HardState *raftpb.HardState
	// Entries is the replayed log: consecutive indexes, overwrites and
	// reset markers applied. Entries covered by a local snapshot marker
	// may or may not be included.
	Entries []*raftpb.Entry
	// Markers are the snapshot markers found, oldest first; the last is
	// the snapshot to restore.
	Markers []Marker
	// TornBytes is how many bytes were cut off the tail of the last
	// segment, and TornReason why.
	TornBytes  int64
	TornReason string
}

// LastMarker returns the newest snapshot marker, if any.
func (r *Recovered) LastMarker() (Marker, bool) {
	if len(r.Markers) == 0 {
		return Marker{}, false
	}
	return r.Markers[len(r.Markers)-1], true
}

// listSegments finds the segment files of dir in order and removes leftover
// temporary files of an interrupted rotation.
func listSegments(dir string) ([]segment, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: read dir %s: %w", dir, err)
	}
	var segs []segment
	for _, de := range des {
		name := de.Name()
		if strings.HasSuffix(name, ".wal.tmp") {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("wal: remove leftover %s: %w", name, err)
			}
			continue
		}
		if !strings.HasSuffix(name, ".wal") {
			continue
		}
		var seq, startAfter uint64
		if _, err := fmt.Sscanf(name, "%016x-%016x.wal", &seq, &startAfter); err != nil {
			return nil, fmt.Errorf("%w: unexpected file name %s", ErrCorrupt, name)
		}
		segs = append(segs, segment{seq: seq, startAfter: startAfter, path: filepath.Join(dir, name)})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].seq < segs[j].seq })
	for i := 1; i < len(segs); i++ {
		if segs[i].seq != segs[i-1].seq+1 {
			return nil, fmt.Errorf("%w: segment %d follows segment %d", ErrCorrupt, segs[i].seq, segs[i-1].seq)
		}
	}
	return segs, nil
}

// replay reads every segment and returns what they hold and the size of the
// valid prefix of the last segment.
func replay(segs []segment, opts Options) (*Recovered, int64, error) {
	rec := &Recovered{}
	var goodSize int64
	for i, s := range segs {
		last := i == len(segs)-1
		size, err := replaySegment(s, rec, opts.MaxRecordBytes)
		if err != nil {
			if !last || !errors.Is(err, errTorn) {
				return nil, 0, fmt.Errorf("%w: segment %s: %w", ErrCorrupt, filepath.Base(s.path), err)
			}
			fi, statErr := os.Stat(s.path)
			if statErr != nil {
				return nil, 0, fmt.Errorf("wal: stat %s: %w", s.path, statErr)
			}
			rec.TornBytes = fi.Size() - size
			rec.TornReason = err.Error()
		}
		goodSize = size
	}
	return rec, goodSize, nil
}

// replaySegment applies one segment's records to rec. It returns the offset
// of the end of the last valid record and, if the segment does not end
// cleanly, the error (errTorn for a bad frame).
func replaySegment(s segment, rec *Recovered, maxRecord uint32) (int64, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return 0, fmt.Errorf("wal: open %s: %w", s.path, err)
	}
	defer f.Close()
	rr := &recordReader{r: bufio.NewReaderSize(f, 1<<20), maxBytes: maxRecord}
	for {
		typ, payload, err := rr.next()
		if err == io.EOF {
			return rr.off, nil
		}
		if err != nil {
			return rr.off, err
		}
		if err := applyRecord(rec, typ, payload); err != nil {
			return rr.off, err
		}
	}
}

// applyRecord folds one record into rec with raft's log semantics.
func applyRecord(rec *Recovered, typ recordType, payload []byte) error {
	switch typ {
	case recEntry:
		e := &raftpb.Entry{}
		if err := proto.Unmarshal(payload, e); err != nil {
			return fmt.Errorf("%w: entry: %w", ErrCorrupt, err)
		}
		return appendEntry(rec, e)
	case recHardState:
		hs := &raftpb.HardState{}
		if err := proto.Unmarshal(payload, hs); err != nil {
			return fmt.Errorf("%w: hard state: %w", ErrCorrupt, err)
		}
		rec.HardState = hs
	case recSnapshot:
		m, err := decodeMarker(payload)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		rec.Markers = append(rec.Markers, m)
		switch m.Kind {
		case MarkerReset:
			rec.Entries = nil
		case MarkerLocal:
			// Entries at or below a durable snapshot are not needed:
			// drop them to keep replay memory bounded.
			k := 0
			for k < len(rec.Entries) && rec.Entries[k].GetIndex() <= m.Index {
				k++
			}
			if k > 0 {
				rec.Entries = append([]*raftpb.Entry(nil), rec.Entries[k:]...)
			}
		}
	default:
		return fmt.Errorf("%w: unknown record type %d", ErrCorrupt, typ)
	}
	return nil
}

// appendEntry appends e to the replayed log, replacing the entries at its
// index and above.
func appendEntry(rec *Recovered, e *raftpb.Entry) error {
	n := len(rec.Entries)
	if n == 0 {
		rec.Entries = append(rec.Entries, e)
		return nil
	}
	first, last := rec.Entries[0].GetIndex(), rec.Entries[n-1].GetIndex()
	idx := e.GetIndex()
	switch {
	case idx == last+1:
		rec.Entries = append(rec.Entries, e)
	case idx > last+1:
		return fmt.Errorf("%w: entry %d follows entry %d", ErrCorrupt, idx, last)
	case idx <= first:
		rec.Entries = append(rec.Entries[:0], e)
	default:
		rec.Entries = append(rec.Entries[:idx-first], e)
	}
	return nil
}
