package producerstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strand.dev/dataplane/durablefile"
	"strconv"
	"strings"

	"strand.dev/client/recordbatch"
	"strand.dev/dataplane/partlog"
)

// SnapshotSuffix ends the name of a snapshot file.
const SnapshotSuffix = ".snapshot"

// snapshotFile is a snapshot's content: the table after every batch below
// Offset, with a CRC-32C of the encoded producers.
type snapshotFile struct {
	Version   int      `json:"version"`
	Offset    int64    `json:"offset"`
	CRC       uint32   `json:"crc"`
	Producers []*Entry `json:"producers"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SnapshotName is the file name of the snapshot at offset.
func SnapshotName(offset int64) string { return fmt.Sprintf("%020d%s", offset, SnapshotSuffix) }

// WriteSnapshot writes the table as it is after every batch below offset,
// atomically and durably.
func WriteSnapshot(dir string, offset int64, t *Table) error {
	b, err := EncodeSnapshot(offset, t)
	if err != nil {
		return err
	}
	return WriteEncodedSnapshot(dir, offset, b)
}

// EncodeSnapshot returns the snapshot of the table as it is now, to be
// written by WriteEncodedSnapshot once the table's lock is released (the
// write fsyncs, and a busy disk can take long over it).
func EncodeSnapshot(offset int64, t *Table) ([]byte, error) {
	prods := t.entries()
	enc, err := json.Marshal(prods)
	if err != nil {
		return nil, err
	}
	return json.Marshal(snapshotFile{Version: 1, Offset: offset, CRC: crc32.Checksum(enc, castagnoli), Producers: prods})
}

// WriteEncodedSnapshot writes an EncodeSnapshot result for offset,
// atomically and durably.
func WriteEncodedSnapshot(dir string, offset int64, b []byte) error {
	path := filepath.Join(dir, SnapshotName(offset))
	if err := durablefile.Write(path, b); err != nil {
		return fmt.Errorf("write producer snapshot %s: %w", path, err)
	}
	return nil
}

// Snapshots lists the offsets of the snapshots in dir, ascending.
func Snapshots(dir string) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, e := range ents {
		stem, ok := strings.CutSuffix(e.Name(), SnapshotSuffix)
		if !ok || len(stem) != 20 {
			continue
		}
		if n, err := strconv.ParseInt(stem, 10, 64); err == nil && n >= 0 {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// loadSnapshot reads the snapshot at offset into a new table.
func loadSnapshot(dir string, offset int64, maxProducers int) (*Table, error) {
	b, err := os.ReadFile(filepath.Join(dir, SnapshotName(offset)))
	if err != nil {
		return nil, err
	}
	var f snapshotFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("producer snapshot at %d: %w", offset, err)
	}
	enc, err := json.Marshal(f.Producers)
	if err != nil {
		return nil, err
	}
	if f.Offset != offset || crc32.Checksum(enc, castagnoli) != f.CRC {
		return nil, fmt.Errorf("producer snapshot at %d: checksum or offset mismatch", offset)
	}
	t := New(maxProducers)
	for _, e := range f.Producers {
		if len(e.Batches) > MaxBatches {
			e.Batches = e.Batches[len(e.Batches)-MaxBatches:]
		}
		t.producers[e.ProducerID] = e
	}
	return t, nil
}

// DeleteSnapshots removes the snapshots whose offset drop says.
func DeleteSnapshots(dir string, drop func(offset int64) bool) error {
	offs, err := Snapshots(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range offs {
		if drop(o) {
			if err := os.Remove(filepath.Join(dir, SnapshotName(o))); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Rebuild returns the table of a log: from the newest readable snapshot at
// or below the log end offset, then the batches after it (from the log
// start when there is none). Snapshots beyond the log end (left by a
// truncation) are deleted.
func Rebuild(l *partlog.Log, maxProducers int) (*Table, error) {
	dir := l.Dir()
	leo, lso := l.EndOffset(), l.StartOffset()
	offs, err := Snapshots(dir)
	if err != nil {
		return nil, err
	}
	if err := DeleteSnapshots(dir, func(o int64) bool { return o > leo }); err != nil {
		return nil, err
	}
	t, from := New(maxProducers), lso
	for i := len(offs) - 1; i >= 0; i-- {
		if offs[i] > leo {
			continue
		}
		st, err := loadSnapshot(dir, offs[i], maxProducers)
		if err != nil {
			continue // an unreadable snapshot: try an older one
		}
		t, from = st, max(offs[i], lso)
		break
	}
	if err := Scan(t, l, from, leo); err != nil {
		return nil, err
	}
	return t, nil
}

// Scan updates the table with every batch of the log in [from, to),
// reading only the batch headers.
func Scan(t *Table, l *partlog.Log, from, to int64) error {
	var hdr [recordbatch.HeaderSize]byte
	for off := from; off < to; {
		r, err := l.Read(off, 16<<20, math.MaxInt64)
		if err != nil {
			return fmt.Errorf("scan %s from %d: %w", l.Dir(), off, err)
		}
		if r.File == nil {
			if r.NextOffset <= off {
				return nil
			}
			off = r.NextOffset
			continue
		}
		pos, end := r.Pos, r.Pos+r.Len
		for pos < end {
			if _, err := r.File.ReadAt(hdr[:], pos); err != nil && !errors.Is(err, io.EOF) {
				r.File.Close()
				return fmt.Errorf("scan %s: %w", l.Dir(), err)
			}
			h, err := recordbatch.ParseHeader(hdr[:])
			if err != nil {
				r.File.Close()
				return fmt.Errorf("scan %s: %w", l.Dir(), err)
			}
			if h.BaseOffset >= to {
				break
			}
			if h.LastOffset() >= from {
				t.UpdateHeader(h, 0)
			}
			pos += int64(h.Size())
		}
		r.File.Close()
		if r.NextOffset <= off {
			return nil
		}
		off = r.NextOffset
	}
	return nil
}
