package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

func ent(index, term uint64, data string) *raftpb.Entry {
	return &raftpb.Entry{Index: new(index), Term: new(term), Type: raftpb.EntryNormal.Enum(), Data: []byte(data)}
}

func ents(from, to, term uint64) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := from; i <= to; i++ {
		out = append(out, ent(i, term, fmt.Sprintf("e%d-t%d", i, term)))
	}
	return out
}

func hardState(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

// describe renders a recovered log as "index/term:data ..." for comparisons.
func describe(es []*raftpb.Entry) string {
	var b bytes.Buffer
	for _, e := range es {
		fmt.Fprintf(&b, "%d/%d:%s ", e.GetIndex(), e.GetTerm(), e.GetData())
	}
	return b.String()
}

func mustOpen(t *testing.T, dir string, opts Options) (*WAL, *Recovered) {
	t.Helper()
	w, rec, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w, rec
}

func TestReplaySemantics(t *testing.T) {
	type step struct {
		ents   []*raftpb.Entry
		hs     *raftpb.HardState
		marker *Marker
	}
	cases := []struct {
		name    string
		steps   []step
		want    []*raftpb.Entry
		commit  uint64
		markers int
	}{
		{
			name:   "append",
			steps:  []step{{ents: ents(1, 5, 1), hs: hardState(1, 1, 3)}, {ents: ents(6, 8, 1), hs: hardState(1, 1, 8)}},
			want:   ents(1, 8, 1),
			commit: 8,
		},
		{
			name:   "overwrite a suffix",
			steps:  []step{{ents: ents(1, 5, 1)}, {ents: ents(4, 6, 2), hs: hardState(2, 0, 3)}},
			want:   append(ents(1, 3, 1), ents(4, 6, 2)...),
			commit: 3,
		},
		{
			name:  "overwrite from the first entry",
			steps: []step{{ents: ents(1, 3, 1)}, {ents: ents(1, 2, 2)}},
			want:  ents(1, 2, 2),
		},
		{
			name:    "local marker keeps later entries",
			steps:   []step{{ents: ents(1, 10, 1)}, {marker: &Marker{Index: 6, Term: 1, Kind: MarkerLocal}}, {ents: ents(11, 12, 1)}},
			want:    ents(7, 12, 1),
			markers: 1,
		},
		{
			name:    "reset marker discards the log",
			steps:   []step{{ents: ents(1, 10, 1)}, {marker: &Marker{Index: 50, Term: 3, Kind: MarkerReset}}, {ents: ents(51, 52, 3), hs: hardState(3, 0, 52)}},
			want:    ents(51, 52, 3),
			commit:  52,
			markers: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w, _, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.steps {
				if s.marker != nil {
					if err := w.SaveSnapshot(*s.marker); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.Save(s.hs, s.ents, true); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			_, rec := mustOpen(t, dir, Options{})
			if got, want := describe(rec.Entries), describe(tc.want); got != want {
				t.Fatalf("entries:\n got %s\nwant %s", got, want)
			}
			if got := rec.HardState.GetCommit(); got != tc.commit {
				t.Fatalf("commit %d, want %d", got, tc.commit)
			}
			if len(rec.Markers) != tc.markers {
				t.Fatalf("markers %v, want %d", rec.Markers, tc.markers)
			}
		})
	}
}

// TestTornTail cuts the last segment at every offset inside its last two
// records and appends garbage of several kinds: every time the WAL must
// recover exactly the records before the damage, never lose an earlier one,
// and accept new appends afterwards.
func TestTornTail(t *testing.T) {
	base := t.TempDir()
	w, _, err := Open(base, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Save(hardState(1, 1, 0), ents(1, 3, 1), true); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(w.path())
	goodSize := fi.Size() // three entries and a hard state
	if err := w.Save(hardState(1, 1, 4), ents(4, 5, 1), true); err != nil {
		t.Fatal(err)
	}
	segPath := w.path()
	w.Close()
	full, err := os.ReadFile(segPath)
	if err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T, data []byte, wantLast uint64) {
		t.Helper()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(segPath)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		w, rec, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		if n := len(rec.Entries); n == 0 || rec.Entries[n-1].GetIndex() != wantLast {
			t.Fatalf("recovered %s, want entries up to %d", describe(rec.Entries), wantLast)
		}
		// Appending continues after the cut, and survives a reopen.
		next := wantLast + 1
		if err := w.Save(hardState(2, 0, next), []*raftpb.Entry{ent(next, 2, "after")}, true); err != nil {
			t.Fatal(err)
		}
		w.Close()
		_, rec2 := mustOpen(t, dir, Options{})
		if n := len(rec2.Entries); rec2.Entries[n-1].GetIndex() != next || string(rec2.Entries[n-1].GetData()) != "after" {
			t.Fatalf("after append and reopen: %s", describe(rec2.Entries))
		}
		if rec2.TornBytes != 0 {
			t.Fatalf("second open still cut %d bytes", rec2.TornBytes)
		}
		if rec2.HardState.GetCommit() != next {
			t.Fatalf("hard state %v", rec2.HardState)
		}
	}

	// The last entry wholly before each cut, from the record boundaries.
	type boundary struct {
		end  int64
		last uint64
	}
	var bounds []boundary
	rr := &recordReader{r: bytes.NewReader(full), maxBytes: DefaultMaxRecordBytes}
	var lastEntry uint64
	for {
		typ, payload, err := rr.next()
		if err != nil {
			break
		}
		if typ == recEntry {
			lastEntry++
		}
		_ = payload
		bounds = append(bounds, boundary{end: rr.off, last: lastEntry})
	}
	if lastEntry != 5 {
		t.Fatalf("segment holds %d entries", lastEntry)
	}
	for cut := goodSize; cut < int64(len(full)); cut++ {
		want := uint64(3)
		for _, b := range bounds {
			if b.end <= cut {
				want = b.last
			}
		}
		t.Run(fmt.Sprintf("cut=%d", cut), func(t *testing.T) {
			check(t, full[:cut], want)
		})
	}
	garbage := map[string][]byte{
		"zeros":       make([]byte, 4096),
		"ones":        bytes.Repeat([]byte{0xff}, 100),
		"short":       {1, 2, 3},
		"huge length": {0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 1},
	}
	for name, g := range garbage {
		t.Run("garbage "+name, func(t *testing.T) {
			check(t, append(append([]byte(nil), full...), g...), 5)
		})
	}
	t.Run("flipped byte in last record", func(t *testing.T) {
		data := append([]byte(nil), full...)
		data[len(data)-3] ^= 0x40
		check(t, data, 5) // the hard state is last: entries 4 and 5 survive
	})
}

func TestCorruptionBeforeTheLastSegmentIsAnError(t *testing.T) {
	dir := t.TempDir()
	w, _, err := Open(dir, Options{SegmentBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 40; i++ {
		if err := w.Save(hardState(1, 1, i), []*raftpb.Entry{ent(i, 1, "0123456789012345678901234567890123456789")}, true); err != nil {
			t.Fatal(err)
		}
	}
	if w.Segments() < 3 {
		t.Fatalf("expected rotation, have %d segments", w.Segments())
	}
	first := w.segs[0].path
	w.Close()
	data, _ := os.ReadFile(first)
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(first, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(dir, Options{SegmentBytes: 512}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open: %v, want ErrCorrupt", err)
	}
}

func TestRotationAndRelease(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 1024}
	w, _, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 200; i++ {
		if err := w.Save(hardState(1, 1, i), []*raftpb.Entry{ent(i, 1, "payload-payload-payload")}, i%3 == 0); err != nil {
			t.Fatal(err)
		}
		if i == 150 {
			if err := w.SaveSnapshot(Marker{Index: 150, Term: 1, Kind: MarkerLocal}); err != nil {
				t.Fatal(err)
			}
			before := w.Segments()
			if err := w.ReleaseTo(150); err != nil {
				t.Fatal(err)
			}
			if w.Segments() >= before {
				t.Fatalf("release kept all %d segments", before)
			}
		}
	}
	w.Close()
	_, rec := mustOpen(t, dir, opts)
	m, ok := rec.LastMarker()
	if !ok || m.Index != 150 {
		t.Fatalf("marker %v %v", m, ok)
	}
	// Every entry after the snapshot must be there, consecutive.
	var after []*raftpb.Entry
	for _, e := range rec.Entries {
		if e.GetIndex() > 150 {
			after = append(after, e)
		}
	}
	if len(after) != 50 || after[0].GetIndex() != 151 || after[49].GetIndex() != 200 {
		t.Fatalf("entries after the snapshot: %s", describe(after))
	}
	if rec.HardState.GetCommit() != 200 {
		t.Fatalf("hard state %v", rec.HardState)
	}
}

// TestReleaseKeepsResetMarker: once the segments before a received snapshot
// are released, the snapshot's marker still comes back from a segment header.
func TestReleaseKeepsResetMarker(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 600}
	w, _, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Save(hardState(1, 1, 10), ents(1, 10, 1), true); err != nil {
		t.Fatal(err)
	}
	if err := w.SaveSnapshot(Marker{Index: 1000, Term: 4, Kind: MarkerReset}); err != nil {
		t.Fatal(err)
	}
	for i := uint64(1001); i <= 1060; i++ {
		if err := w.Save(hardState(4, 0, i), []*raftpb.Entry{ent(i, 4, "x")}, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.ReleaseTo(1000); err != nil {
		t.Fatal(err)
	}
	w.Close()
	_, rec := mustOpen(t, dir, opts)
	m, _ := rec.LastMarker()
	if m.Index != 1000 || m.Term != 4 {
		t.Fatalf("marker %+v", m)
	}
	if len(rec.Entries) == 0 || rec.Entries[0].GetIndex() > 1001 || rec.Entries[len(rec.Entries)-1].GetIndex() != 1060 {
		t.Fatalf("entries %s", describe(rec.Entries))
	}
	for _, e := range rec.Entries {
		if e.GetIndex() <= 10 {
			t.Fatalf("entry %d from before the reset came back", e.GetIndex())
		}
	}
}

func TestLeftoverTempSegmentIsRemoved(t *testing.T) {
	dir := t.TempDir()
	w, _, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Save(hardState(1, 1, 1), ents(1, 1, 1), true); err != nil {
		t.Fatal(err)
	}
	w.Close()
	tmp := filepath.Join(dir, segmentName(1, 1)+".tmp")
	if err := os.WriteFile(tmp, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, rec := mustOpen(t, dir, Options{})
	if len(rec.Entries) != 1 {
		t.Fatalf("entries %s", describe(rec.Entries))
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("temporary segment still there: %v", err)
	}
}
