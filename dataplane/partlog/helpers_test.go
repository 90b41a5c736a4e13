package partlog

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"strand.dev/client/recordbatch"
)

// batch encodes n records whose values say which (tag, i) they are, with
// timestamps ts, ts+1, ...
func batch(t testing.TB, tag string, n int, ts int64, valueSize int) []byte {
	t.Helper()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		v := []byte(fmt.Sprintf("%s-%d|", tag, i))
		if len(v) < valueSize {
			v = append(v, bytes.Repeat([]byte{'x'}, valueSize-len(v))...)
		}
		recs[i] = recordbatch.Record{Timestamp: ts + int64(i), Key: []byte(fmt.Sprintf("k%d", i)), Value: v}
	}
	b, err := recordbatch.Encode(recs, recordbatch.EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// regionBytes reads a region and closes its file.
func regionBytes(t testing.TB, r Region) []byte {
	t.Helper()
	if r.Len == 0 {
		if r.File != nil {
			t.Fatalf("empty region with a file")
		}
		return nil
	}
	defer r.File.Close()
	b := make([]byte, r.Len)
	if _, err := io.ReadFull(r.File, b); err != nil {
		t.Fatalf("read region: %v", err)
	}
	return b
}

// readAll reads every record from offset from to the end.
func readAll(t testing.TB, l *Log, from int64) []recordbatch.Record {
	t.Helper()
	var out []recordbatch.Record
	off := from
	for off < l.EndOffset() {
		r, err := l.Read(off, 1<<20, 1<<62)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		b := regionBytes(t, r)
		if len(b) == 0 {
			if r.NextOffset <= off {
				t.Fatalf("no progress at %d", off)
			}
			off = r.NextOffset
			continue
		}
		recs, err := recordbatch.Decode(b, 64<<20)
		if err != nil {
			t.Fatalf("decode region at %d: %v", off, err)
		}
		for _, rec := range recs {
			if rec.Offset >= off {
				out = append(out, rec)
			}
		}
		off = r.NextOffset
	}
	return out
}

// quietLogger drops everything below warnings.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func testConfig() Config {
	c := DefaultConfig()
	c.IndexIntervalBytes = 256
	return c
}
