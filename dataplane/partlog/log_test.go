package partlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

func openLog(t *testing.T, dir string, cfg Config, opts Options) *Log {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	l, err := Open(dir, cfg, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestAppendAssignsOffsetsAndReads(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), Options{})
	var want []string
	for i := 0; i < 20; i++ {
		n := 1 + i%7
		info, err := l.Append(batch(t, fmt.Sprintf("b%d", i), n, 1000+int64(i), 100))
		if err != nil {
			t.Fatal(err)
		}
		if info.BaseOffset != int64(len(want)) || info.LastOffset != int64(len(want)+n-1) || info.Records != n || info.LogAppendTime != -1 {
			t.Fatalf("append %d: %+v", i, info)
		}
		for j := 0; j < n; j++ {
			want = append(want, fmt.Sprintf("b%d-%d|", i, j))
		}
	}
	if l.EndOffset() != int64(len(want)) || l.StartOffset() != 0 {
		t.Fatalf("offsets %d..%d", l.StartOffset(), l.EndOffset())
	}
	for _, from := range []int64{0, 1, 5, 17, int64(len(want) - 1)} {
		got := readAll(t, l, from)
		if len(got) != len(want)-int(from) {
			t.Fatalf("from %d: %d records, want %d", from, len(got), len(want)-int(from))
		}
		for i, r := range got {
			if r.Offset != from+int64(i) || string(r.Value[:len(want[r.Offset])]) != want[r.Offset] {
				t.Fatalf("from %d: record %d = offset %d %q", from, i, r.Offset, r.Value[:10])
			}
		}
	}
}

func TestReadBounds(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), Options{})
	for i := 0; i < 10; i++ {
		if _, err := l.Append(batch(t, "x", 10, 0, 100)); err != nil {
			t.Fatal(err)
		}
	}
	end := l.EndOffset()
	cases := []struct {
		name              string
		off               int64
		max               int32
		maxOff            int64
		wantErr           wire.Code
		wantFirst, wantNx int64
	}{
		{"end is empty", end, 1 << 20, end, "", end, end},
		{"beyond end", end + 1, 1 << 20, 1 << 40, wire.CodeOffsetOutOfRange, 0, 0},
		{"negative", -1, 1 << 20, 1 << 40, wire.CodeOffsetOutOfRange, 0, 0},
		{"at high watermark", 50, 1 << 20, 50, "", 50, 50},
		{"high watermark inside a batch", 40, 1 << 20, 45, "", 40, 40},
		{"stops before high watermark", 0, 1 << 20, 45, "", 0, 40},
		{"first batch whole though over max", 3, 10, 1 << 40, "", 0, 10},
		{"max bytes cuts at batch boundaries", 0, 2500, 1 << 40, "", 0, 20},
		{"all", 0, 1 << 20, 1 << 40, "", 0, 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := l.Read(c.off, c.max, c.maxOff)
			if c.wantErr != "" {
				var we *wire.Error
				if !errors.As(err, &we) || we.Code != c.wantErr {
					t.Fatalf("got %v, want %s", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b := regionBytes(t, r)
			if r.FirstOffset != c.wantFirst || r.NextOffset != c.wantNx {
				t.Fatalf("region %d..%d (%d bytes), want %d..%d", r.FirstOffset, r.NextOffset, r.Len, c.wantFirst, c.wantNx)
			}
			if len(b) > 0 {
				hs, err := recordbatch.ValidateWith(b, recordbatch.ValidateOptions{Stored: true})
				if err != nil {
					t.Fatalf("region is not whole batches: %v", err)
				}
				if hs[0].BaseOffset != c.wantFirst || hs[len(hs)-1].NextOffset() != c.wantNx {
					t.Fatalf("batches %d..%d", hs[0].BaseOffset, hs[len(hs)-1].NextOffset())
				}
				if c.max > 0 && len(hs) > 1 && len(b) > int(c.max) {
					t.Fatalf("%d bytes over max %d", len(b), c.max)
				}
			}
		})
	}
}

func TestBadBatchWritesNothing(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), Options{})
	good := batch(t, "g", 3, 0, 10)
	bad := batch(t, "b", 3, 0, 10)
	bad[len(bad)-1] ^= 0xff
	_, err := l.Append(append(append([]byte(nil), good...), bad...))
	if !errors.Is(err, wire.ErrCorruptMessage) {
		t.Fatalf("got %v, want CORRUPT_MESSAGE", err)
	}
	cfg := testConfig()
	cfg.MaxMessageBytes = 100
	l.SetConfig(cfg)
	if _, err := l.Append(batch(t, "big", 3, 0, 100)); !errors.Is(err, wire.ErrMessageTooLarge) {
		t.Fatalf("got %v, want MESSAGE_TOO_LARGE", err)
	}
	if l.EndOffset() != 0 || l.Stats().SizeBytes != 0 {
		t.Fatalf("something was written: %+v", l.Stats())
	}
}

func TestRollAndReopen(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 4000
	l, err := Open(dir, cfg, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if _, err := l.Append(batch(t, fmt.Sprint(i), 5, int64(i*10), 100)); err != nil {
			t.Fatal(err)
		}
	}
	st := l.Stats()
	if st.Segments < 5 {
		t.Fatalf("only %d segments", st.Segments)
	}
	want := readAll(t, l, 0)
	if len(want) != 250 {
		t.Fatalf("%d records", len(want))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []Options{{}, {Clean: true}, {RecoveryPoint: 120}} {
		opts.Logger = quietLogger()
		l2, err := Open(dir, cfg, opts)
		if err != nil {
			t.Fatal(err)
		}
		if l2.EndOffset() != 250 || l2.Stats().Segments != st.Segments {
			t.Fatalf("%+v: reopened with end %d, %d segments", opts, l2.EndOffset(), l2.Stats().Segments)
		}
		got := readAll(t, l2, 0)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%+v: records differ after reopen", opts)
		}
		if _, err := l2.Append(batch(t, "more", 1, 0, 10)); err != nil {
			t.Fatal(err)
		}
		if err := l2.TruncateTo(250); err != nil {
			t.Fatal(err)
		}
		l2.Close()
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(names) != st.Segments {
		t.Fatalf("%d segment files, want %d", len(names), st.Segments)
	}
}

func TestRetention(t *testing.T) {
	clock := &fakeClock{t: time.UnixMilli(1_000_000)}
	cfg := testConfig()
	cfg.SegmentBytes = 2000
	cfg.RetentionBytes = -1
	cfg.RetentionMs = 60_000
	l := openLog(t, t.TempDir(), cfg, Options{Now: clock.Now})
	for i := 0; i < 30; i++ {
		// Timestamps advance 10 s per batch.
		if _, err := l.Append(batch(t, "r", 5, 1_000_000+int64(i)*10_000, 100)); err != nil {
			t.Fatal(err)
		}
	}
	segs := l.Stats().Segments
	clock.t = time.UnixMilli(1_000_000 + 29*10_000 + 30_000)
	n, err := l.ApplyRetention(clock.t)
	if err != nil || n == 0 {
		t.Fatalf("retention deleted %d: %v", n, err)
	}
	start := l.StartOffset()
	if start == 0 || l.Stats().Segments != segs-n {
		t.Fatalf("start %d, %d segments", start, l.Stats().Segments)
	}
	if _, err := l.Read(start-1, 1000, 1<<40); !errors.Is(err, wire.ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	// Every remaining segment but the newest holds records within 60 s.
	got := readAll(t, l, start)
	if got[0].Timestamp < clock.t.UnixMilli()-60_000-50_000 {
		t.Fatalf("an old record survived: %d", got[0].Timestamp)
	}
	// Size retention keeps at most RetentionBytes plus the active segment.
	cfg.RetentionMs = -1
	cfg.RetentionBytes = 3000
	l.SetConfig(cfg)
	if _, err := l.ApplyRetention(clock.t); err != nil {
		t.Fatal(err)
	}
	if sz := l.Stats().SizeBytes; sz > 3000+2000 {
		t.Fatalf("size %d after size retention", sz)
	}
	// Everything expired: the log keeps its end offset with no records.
	cfg.RetentionMs = 1
	l.SetConfig(cfg)
	end := l.EndOffset()
	if _, err := l.ApplyRetention(clock.t.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != end || l.EndOffset() != end {
		t.Fatalf("after full expiry %d..%d, want %d", l.StartOffset(), l.EndOffset(), end)
	}
	if info, err := l.Append(batch(t, "after", 1, clock.t.UnixMilli(), 10)); err != nil || info.BaseOffset != end {
		t.Fatalf("append after expiry: %+v %v", info, err)
	}
}

func TestTruncateTo(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 3000
	l := openLog(t, dir, cfg, Options{})
	for i := 0; i < 40; i++ {
		if _, err := l.Append(batch(t, fmt.Sprint(i), 4, int64(i), 100)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ to, wantEnd int64 }{{150, 148}, {148, 148}, {100, 100}, {37, 36}, {0, 0}} {
		if err := l.TruncateTo(c.to); err != nil {
			t.Fatal(err)
		}
		if l.EndOffset() != c.wantEnd {
			t.Fatalf("TruncateTo(%d): end %d, want %d", c.to, l.EndOffset(), c.wantEnd)
		}
		got := readAll(t, l, 0)
		if int64(len(got)) != c.wantEnd {
			t.Fatalf("TruncateTo(%d): %d records", c.to, len(got))
		}
		info, err := l.Append(batch(t, "new", 2, 0, 10))
		if err != nil || info.BaseOffset != c.wantEnd {
			t.Fatalf("append after truncate: %+v %v", info, err)
		}
		if err := l.TruncateTo(c.wantEnd); err != nil {
			t.Fatal(err)
		}
	}
	// Crash-reopen after truncation must not resurrect anything.
	l.Close()
	l2 := openLog(t, dir, cfg, Options{})
	if l2.EndOffset() != 0 {
		t.Fatalf("reopened at %d", l2.EndOffset())
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 3000
	l := openLog(t, t.TempDir(), cfg, Options{})
	for i := 0; i < 30; i++ {
		if _, err := l.Append(batch(t, "t", 5, 10_000+int64(i)*100, 100)); err != nil {
			t.Fatal(err)
		}
	}
	// Batch i holds offsets 5i..5i+4 with timestamps 10000+100i .. +4.
	cases := []struct{ ts, off, rts int64 }{
		{0, 0, 10_000}, {10_000, 0, 10_000}, {10_003, 3, 10_003}, {10_005, 5, 10_100},
		{12_345, 120, 12_400}, {12_904, 149, 12_904}, {12_905, -1, -1},
	}
	for _, c := range cases {
		off, rts, err := l.OffsetForTimestamp(c.ts)
		if err != nil || off != c.off || rts != c.rts {
			t.Errorf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", c.ts, off, rts, err, c.off, c.rts)
		}
	}
}

func TestLogAppendTime(t *testing.T) {
	clock := &fakeClock{t: time.UnixMilli(5_000_000)}
	cfg := testConfig()
	cfg.TimestampType = LogAppendTime
	l := openLog(t, t.TempDir(), cfg, Options{Now: clock.Now})
	info, err := l.Append(batch(t, "a", 3, 1, 10))
	if err != nil || info.LogAppendTime != 5_000_000 {
		t.Fatalf("%+v %v", info, err)
	}
	for _, r := range readAll(t, l, 0) {
		if r.Timestamp != 5_000_000 {
			t.Fatalf("record timestamp %d", r.Timestamp)
		}
	}
	if off, ts, _ := l.OffsetForTimestamp(4_000_000); off != 0 || ts != 5_000_000 {
		t.Fatalf("by timestamp: %d %d", off, ts)
	}
}

func TestEpochsAndReplicatedAppend(t *testing.T) {
	dir := t.TempDir()
	leader := openLog(t, filepath.Join(dir, "leader"), testConfig(), Options{})
	follower := openLog(t, filepath.Join(dir, "follower"), testConfig(), Options{})
	if err := leader.AssignEpoch(3, 0); err != nil {
		t.Fatal(err)
	}
	var all []byte
	for i := 0; i < 5; i++ {
		b := batch(t, "e", 2, 0, 10)
		if i == 3 {
			if err := leader.AssignEpoch(5, leader.EndOffset()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := leader.Append(b); err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if got := leader.Epochs(); fmt.Sprint(got) != "[{3 0} {5 6}]" {
		t.Fatalf("leader epochs %v", got)
	}
	if _, err := follower.AppendReplicated(all); err != nil {
		t.Fatal(err)
	}
	hs, _ := recordbatch.Validate(all, 0)
	var ue *UnexpectedOffsetError
	if _, err := follower.AppendReplicated(all[:hs[0].Size()]); !errors.Is(err, ErrUnexpectedOffset) || !errors.As(err, &ue) || ue.EndOffset != 10 {
		t.Fatalf("replicated append behind the end: %v", err)
	}
	var we *wire.Error
	if _, err := follower.AppendReplicated(all[:hs[0].Size()]); !errors.As(err, &we) || we.Code != wire.CodeInvalidRecord {
		t.Fatalf("no wire code: %v", err)
	}
	if got := follower.Epochs(); fmt.Sprint(got) != "[{3 0} {5 6}]" {
		t.Fatalf("follower epochs %v", got)
	}
	for _, c := range []struct {
		ask       int32
		epoch     int32
		endOffset int64
	}{{5, 5, 10}, {4, 3, 6}, {3, 3, 6}, {2, 2, 0}, {6, -1, -1}} {
		e, off := follower.EndOffsetForEpoch(c.ask)
		if e != c.epoch || off != c.endOffset {
			t.Errorf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", c.ask, e, off, c.epoch, c.endOffset)
		}
	}
	if err := follower.TruncateTo(6); err != nil {
		t.Fatal(err)
	}
	if got := follower.Epochs(); fmt.Sprint(got) != "[{3 0}]" {
		t.Fatalf("epochs after truncation %v", got)
	}
	b, err := os.ReadFile(filepath.Join(dir, "follower", epochCheckpointFile))
	if err != nil || string(b) != "0\n1\n3 0\n" {
		t.Fatalf("checkpoint file %q %v", b, err)
	}
}
