package partlog

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"strand.dev/client/recordbatch"
)

// buildLog writes n batches of 4 records (offsets 4i..4i+3) and closes the
// log; it returns the segment files and each batch's (file, position).
func buildLog(t *testing.T, dir string, cfg Config, n int) (segs []string, batches []batchAt) {
	t.Helper()
	l, err := Open(dir, cfg, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := l.Append(batch(t, "c", 4, int64(i), 150)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ = filepath.Glob(filepath.Join(dir, "*.log"))
	sort.Strings(segs)
	for _, p := range segs {
		b, _ := os.ReadFile(p)
		hs, err := recordbatch.ValidateWith(b, recordbatch.ValidateOptions{Stored: true})
		if err != nil {
			t.Fatal(err)
		}
		pos := 0
		for _, h := range hs {
			batches = append(batches, batchAt{file: p, pos: int64(pos), size: int64(h.Size()), base: h.BaseOffset})
			pos += h.Size()
		}
	}
	return segs, batches
}

type batchAt struct {
	file      string
	pos, size int64
	base      int64
}

func flipByte(t *testing.T, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, at)
	b[0] ^= 0x5a
	f.WriteAt(b, at)
}

func TestCorruptTailIsCut(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 4000
	cases := []struct {
		name string
		// damage returns the offset expected as the end after recovery.
		damage func(t *testing.T, segs []string, bs []batchAt) int64
		opts   Options
	}{
		{"torn last batch", func(t *testing.T, segs []string, bs []batchAt) int64 {
			last := bs[len(bs)-1]
			os.Truncate(last.file, last.pos+last.size-7)
			return last.base
		}, Options{}},
		{"torn header", func(t *testing.T, segs []string, bs []batchAt) int64 {
			last := bs[len(bs)-1]
			os.Truncate(last.file, last.pos+20)
			return last.base
		}, Options{}},
		{"flipped byte in the last batch", func(t *testing.T, segs []string, bs []batchAt) int64 {
			last := bs[len(bs)-1]
			flipByte(t, last.file, last.pos+last.size/2)
			return last.base
		}, Options{}},
		{"flipped length in an active-segment batch", func(t *testing.T, segs []string, bs []batchAt) int64 {
			b := bs[len(bs)-2]
			if b.file != bs[len(bs)-1].file {
				t.Skip("layout: not two batches in the active segment")
			}
			flipByte(t, b.file, b.pos+10)
			return b.base
		}, Options{}},
		{"zeros after the end", func(t *testing.T, segs []string, bs []batchAt) int64 {
			f, _ := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
			f.Write(make([]byte, 4096))
			f.Close()
			return bs[len(bs)-1].base + 4
		}, Options{}},
		{"garbage after the end, clean open", func(t *testing.T, segs []string, bs []batchAt) int64 {
			f, _ := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte("not a batch at all, but long enough to look like a header of one......"))
			f.Close()
			return bs[len(bs)-1].base + 4
		}, Options{Clean: true}},
		{"corrupt batch in an older segment drops what follows", func(t *testing.T, segs []string, bs []batchAt) int64 {
			for _, b := range bs {
				if b.file == segs[1] && b.pos > 0 {
					flipByte(t, b.file, b.pos+b.size-1)
					return b.base
				}
			}
			t.Fatal("no batch in segment 1")
			return 0
		}, Options{}},
		{"corruption below the recovery point is trusted", func(t *testing.T, segs []string, bs []batchAt) int64 {
			// A segment wholly below the recovery point is not rescanned (as
			// in Kafka): the damage stays until a read trips over it.
			b := bs[1]
			flipByte(t, b.file, b.pos+b.size-1)
			return bs[len(bs)-1].base + 4
		}, Options{RecoveryPoint: 1 << 40}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			segs, bs := buildLog(t, dir, cfg, 30)
			if len(segs) < 3 {
				t.Fatalf("only %d segments", len(segs))
			}
			want := c.damage(t, segs, bs)
			opts := c.opts
			opts.Logger = quietLogger()
			l, err := Open(dir, cfg, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if l.EndOffset() != want {
				t.Fatalf("end offset %d, want %d", l.EndOffset(), want)
			}
			if opts.RecoveryPoint == 0 {
				recs := readAll(t, l, 0)
				if int64(len(recs)) != want {
					t.Fatalf("%d records survive, want %d", len(recs), want)
				}
				for i, r := range recs {
					if r.Offset != int64(i) {
						t.Fatalf("record %d at offset %d", i, r.Offset)
					}
				}
			}
			info, err := l.Append(batch(t, "after", 2, 0, 10))
			if err != nil || info.BaseOffset != want {
				t.Fatalf("append after recovery: %+v %v", info, err)
			}
			if opts.RecoveryPoint > 0 {
				return // a full rescan would now find the damage
			}
			// And it stays recovered.
			l.Close()
			l2, err := Open(dir, cfg, Options{Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			if l2.EndOffset() != want+2 {
				t.Fatalf("second reopen: end %d, want %d", l2.EndOffset(), want+2)
			}
		})
	}
}

func TestBrokenIndexesAreRebuilt(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 4000
	cases := []struct {
		name   string
		damage func(seg string)
	}{
		{"missing index", func(seg string) { os.Remove(seg[:len(seg)-4] + ".index") }},
		{"missing time index", func(seg string) { os.Remove(seg[:len(seg)-4] + ".timeindex") }},
		{"partial entry", func(seg string) {
			f, _ := os.OpenFile(seg[:len(seg)-4]+".index", os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte{1, 2, 3})
			f.Close()
		}},
		{"garbage entries", func(seg string) {
			os.WriteFile(seg[:len(seg)-4]+".index", []byte{0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 2, 0, 0, 1, 0}, 0o644)
		}},
		{"entry past the end", func(seg string) {
			os.WriteFile(seg[:len(seg)-4]+".index", []byte{0, 0, 0, 1, 0, 1, 0, 0}, 0o644)
		}},
	}
	for _, c := range cases {
		for _, clean := range []bool{true, false} {
			t.Run(c.name, func(t *testing.T) {
				dir := t.TempDir()
				segs, _ := buildLog(t, dir, cfg, 30)
				want := func() []recordbatch.Record {
					l := openLog(t, dir, cfg, Options{Clean: true})
					defer l.Close()
					return readAll(t, l, 0)
				}()
				for _, s := range segs {
					c.damage(s)
				}
				l := openLog(t, dir, cfg, Options{Clean: clean})
				got := readAll(t, l, 0)
				if len(got) != len(want) {
					t.Fatalf("%d records, want %d", len(got), len(want))
				}
				for _, from := range []int64{0, 7, 33, 61, 90, 119} {
					r, err := l.Read(from, 1, 1<<40)
					if err != nil {
						t.Fatalf("Read(%d): %v", from, err)
					}
					if r.FirstOffset > from || r.NextOffset <= from {
						t.Fatalf("Read(%d) gave %d..%d", from, r.FirstOffset, r.NextOffset)
					}
					regionBytes(t, r)
				}
				if off, _, err := l.OffsetForTimestamp(20); err != nil || off != 71 { // batch 17 holds 68..71 at 17..20
					t.Fatalf("OffsetForTimestamp after rebuild: %d %v", off, err)
				}
			})
		}
	}
}

// TestStaleColdIndexIsRebuiltOnRead gives a cold segment a well-formed
// index that points at the wrong batches (it passes the open-time sanity
// check of its last entry only): a read must notice and rebuild it.
func TestStaleColdIndexIsRebuiltOnRead(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 4000
	dir := t.TempDir()
	segs, bs := buildLog(t, dir, cfg, 30)
	// Shift every entry but the last of segment 0's index by one batch.
	idx := segs[0][:len(segs[0])-4] + ".index"
	b, _ := os.ReadFile(idx)
	if len(b) < 16 {
		t.Skip("layout: too few index entries")
	}
	for i := 0; i+8 < len(b); i += 8 {
		b[i+3]++ // relative offset + 1: no batch starts there with that offset
	}
	os.WriteFile(idx, b, 0o644)
	l := openLog(t, dir, cfg, Options{Clean: true})
	for _, ba := range bs {
		if ba.file != segs[0] {
			break
		}
		r, err := l.Read(ba.base+1, 1, 1<<40)
		if err != nil || r.FirstOffset != ba.base {
			t.Fatalf("Read(%d): %+v %v", ba.base+1, r, err)
		}
		regionBytes(t, r)
	}
}
