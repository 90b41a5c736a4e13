package partlog

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzRecoverTail appends arbitrary bytes to a log's active segment, as a
// torn or garbled write would leave it, and reopens the log with a full
// recovery scan: it must open, keep every record written before, accept
// appends at its new end, and read back consistently.
func FuzzRecoverTail(f *testing.F) {
	good := batch(f, "seed", 3, 0, 20)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(good[:30])
	f.Add(make([]byte, 100))
	fsyncOff.Store(true)
	defer fsyncOff.Store(false)
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		cfg := testConfig()
		l, err := Open(dir, cfg, Options{Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if _, err := l.Append(batch(t, "f", 2, int64(i), 50)); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
		seg := filepath.Join(dir, segmentName(0)+logSuffix)
		fh, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		fh.Write(tail)
		fh.Close()
		l, err = Open(dir, cfg, Options{Logger: quietLogger()})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer l.Close()
		end := l.EndOffset()
		if end < 6 {
			t.Fatalf("recovery lost records: end %d", end)
		}
		recs := readAll(t, l, 0)
		if len(recs) < 6 {
			t.Fatalf("%d records survive", len(recs))
		}
		info, err := l.Append(batch(t, "after", 1, 0, 5))
		if err != nil || info.BaseOffset != end {
			t.Fatalf("append after recovery: %+v %v", info, err)
		}
	})
}
