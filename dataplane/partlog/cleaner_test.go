package partlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

// compactConfig is a compacted log with small segments.
func compactConfig() Config {
	c := testConfig()
	c.CleanupPolicy = PolicyCompact
	c.SegmentBytes = 4 << 10
	c.MinCleanableDirtyRatio = 0.01
	c.DeleteRetentionMs = 1000
	return c
}

// rec is a record as the tests keep it: offset, key, value (nil for a
// tombstone), timestamp.
type rec struct {
	off   int64
	key   string
	value []byte
	ts    int64
}

// history is everything appended to a log, by offset.
type history struct {
	recs []rec
	// lastBatch is, per producer id, the header of its last batch.
	lastBatch map[int64]recordbatch.BatchHeader
}

// appendRandom appends n batches of 1..8 random records over keys keys
// (about one in tombstoneEvery a tombstone), timestamps from ts, some
// batches from idempotent producers 1..3; it returns the records appended.
func appendRandom(t testing.TB, l *Log, h *history, rng *rand.Rand, n, keys, tombstoneEvery int, ts int64, seqs map[int64]int32) {
	t.Helper()
	if h.lastBatch == nil {
		h.lastBatch = map[int64]recordbatch.BatchHeader{}
	}
	for range n {
		cnt := 1 + rng.IntN(8)
		recs := make([]recordbatch.Record, cnt)
		for i := range recs {
			k := fmt.Sprintf("key-%04d", rng.IntN(keys))
			var v []byte
			if tombstoneEvery == 0 || rng.IntN(tombstoneEvery) != 0 {
				v = []byte(fmt.Sprintf("v-%s-%d-%s", k, rng.Uint32(), strings.Repeat("x", rng.IntN(64))))
			}
			recs[i] = recordbatch.Record{Timestamp: ts, Key: []byte(k), Value: v}
		}
		opts := recordbatch.EncodeOptions{}
		pid := int64(rng.IntN(4)) // 0: no producer id
		if pid > 0 {
			opts = recordbatch.EncodeOptions{Idempotent: true, ProducerID: pid, ProducerEpoch: 1, BaseSequence: seqs[pid]}
			seqs[pid] += int32(cnt)
		}
		if rng.IntN(5) == 0 {
			opts.Compression = recordbatch.Compression(1 + rng.IntN(4))
		}
		b, err := recordbatch.Encode(recs, opts)
		if err != nil {
			t.Fatal(err)
		}
		info, err := l.Append(b)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		for i, r := range recs {
			h.recs = append(h.recs, rec{off: info.BaseOffset + int64(i), key: string(r.Key), value: r.Value, ts: r.Timestamp})
		}
		if pid > 0 {
			hd, err := recordbatch.ParseHeader(b)
			if err != nil {
				t.Fatal(err)
			}
			h.lastBatch[pid] = hd
		}
	}
}

// expected is what a log cleaned up to mapEnd at time nowMs must hold:
// below mapEnd, each key's latest record below mapEnd unless it is a
// tombstone older than retentionMs; from mapEnd on, every record.
func (h *history) expected(mapEnd, nowMs, retentionMs int64) []rec {
	latest := map[string]int64{}
	for _, r := range h.recs {
		if r.off < mapEnd {
			latest[r.key] = r.off
		}
	}
	var out []rec
	for _, r := range h.recs {
		switch {
		case r.off >= mapEnd:
			out = append(out, r)
		case latest[r.key] != r.off:
		case r.value == nil && nowMs-r.ts > retentionMs:
		default:
			out = append(out, r)
		}
	}
	return out
}

// checkRecords compares what a log holds with want.
func checkRecords(t testing.TB, l *Log, want []rec) {
	t.Helper()
	got := readAll(t, l, l.StartOffset())
	for i := 1; i < len(got); i++ {
		if got[i].Offset <= got[i-1].Offset {
			t.Fatalf("offsets out of order or repeated: %d then %d", got[i-1].Offset, got[i].Offset)
		}
	}
	if len(got) != len(want) {
		for i := 0; i < min(len(got), len(want)); i++ {
			if got[i].Offset != want[i].off {
				t.Logf("first difference at %d: got offset %d key %q value %q ts %d; want offset %d key %q value %q ts %d",
					i, got[i].Offset, got[i].Key, got[i].Value, got[i].Timestamp, want[i].off, want[i].key, want[i].value, want[i].ts)
				break
			}
		}
		t.Fatalf("log holds %d records, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Offset != w.off || string(g.Key) != w.key || !bytes.Equal(g.Value, w.value) || (g.Value == nil) != (w.value == nil) {
			t.Fatalf("record %d: got offset %d key %q value %q, want offset %d key %q value %q", i, g.Offset, g.Key, g.Value, w.off, w.key, w.value)
		}
	}
}

// cleanFully cleans until everything in closed segments is deduplicated.
func cleanFully(t testing.TB, l *Log, opts CleanOptions) CleanResult {
	t.Helper()
	var last CleanResult
	for range 1000 {
		res, err := l.Clean(context.Background(), opts)
		if err != nil {
			t.Fatalf("clean: %v", err)
		}
		if res.MapEnd == res.FirstDirty {
			return last
		}
		last = res
	}
	t.Fatal("cleaning does not converge")
	return last
}

// rollNow seals the active segment (test helper).
func rollNow(t testing.TB, l *Log) {
	t.Helper()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.active().size == 0 {
		return
	}
	if err := l.roll(l.end, l.now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
}

// producerHeaders returns the header of the last batch of each producer in
// the log.
func producerHeaders(t testing.TB, l *Log) map[int64]recordbatch.BatchHeader {
	t.Helper()
	out := map[int64]recordbatch.BatchHeader{}
	for off := l.StartOffset(); off < l.EndOffset(); {
		r, err := l.Read(off, 1<<20, 1<<62)
		if err != nil {
			t.Fatal(err)
		}
		b := regionBytes(t, r)
		bs, err := recordbatch.DecodeBatches(b, 64<<20)
		if err != nil {
			t.Fatalf("decode at %d: %v", off, err)
		}
		for _, bt := range bs {
			if bt.Header.ProducerID >= 0 {
				out[bt.Header.ProducerID] = bt.Header
			}
		}
		if r.NextOffset <= off {
			t.Fatalf("no progress at %d", off)
		}
		off = r.NextOffset
	}
	return out
}

// TestCleanProperty: for random sequences of keyed records and tombstones,
// appended and cleaned in random steps (with key maps large and tiny), the
// log holds exactly each key's latest record below the cleaned offset,
// tombstones only until delete.retention.ms, everything above it, in
// offset order; the same after a reopen; and each producer's last batch
// keeps its producer id, epoch and sequence range.
func TestCleanProperty(t *testing.T) {
	// Durability is the crash test's subject; fsyncs only slow this one.
	fsyncOff.Store(true)
	defer fsyncOff.Store(false)
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			clock := newTestClock(time.UnixMilli(1_700_000_000_000))
			dir := t.TempDir()
			cfg := compactConfig()
			if seed%3 == 0 {
				cfg.SegmentBytes = 16 << 10
			}
			l, err := Open(dir, cfg, Options{Logger: quietLogger(), Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { l.Close() }()
			h := &history{}
			seqs := map[int64]int32{}
			keys := 20 + rng.IntN(200)
			keyMap := int64(1 << 20)
			if seed%2 == 1 {
				keyMap = 128 * keySlotBytes // 115 keys: several passes for the larger key sets
			}
			var mapEnd, cleanedAt int64
			for step := range 8 {
				ts := clock.Now().UnixMilli()
				appendRandom(t, l, h, rng, 20+rng.IntN(80), keys, 6, ts, seqs)
				clock.add(time.Duration(rng.IntN(1500)) * time.Millisecond)
				if step == 7 {
					rollNow(t, l)
				}
				res := cleanFully(t, l, CleanOptions{KeyMapBytes: keyMap, BufferBytes: 4096})
				if res.Cleaned {
					// Tombstones expire as of the last cleaning that rewrote the log.
					mapEnd, cleanedAt = res.MapEnd, clock.Now().UnixMilli()
				}
				checkRecords(t, l, h.expected(mapEnd, cleanedAt, cfg.DeleteRetentionMs))
			}
			if mapEnd != l.EndOffset() {
				t.Fatalf("cleaned to %d, want the log end %d after the roll", mapEnd, l.EndOffset())
			}
			// Every key once at most, tombstones gone once expired.
			clock.add(time.Hour)
			l.clean.mu.Lock()
			l.clean.firstDirty = 0 // reclean everything with the later clock
			l.clean.mu.Unlock()
			cleanFully(t, l, CleanOptions{KeyMapBytes: keyMap})
			want := h.expected(l.EndOffset(), clock.Now().UnixMilli(), cfg.DeleteRetentionMs)
			seen := map[string]bool{}
			for _, r := range want {
				if seen[r.key] || r.value == nil {
					t.Fatalf("expected set has a duplicate or a tombstone: %+v", r)
				}
				seen[r.key] = true
			}
			checkRecords(t, l, want)
			for pid, want := range h.lastBatch {
				got, ok := producerHeaders(t, l)[pid]
				if !ok || got.ProducerEpoch != want.ProducerEpoch || got.BaseSequence != want.BaseSequence ||
					got.LastOffsetDelta != want.LastOffsetDelta {
					t.Fatalf("producer %d: last batch %+v, want sequence %d+%d epoch %d", pid, got, want.BaseSequence, want.LastOffsetDelta, want.ProducerEpoch)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			for _, clean := range []bool{true, false} {
				l, err = Open(dir, cfg, Options{Logger: quietLogger(), Now: clock.Now, Clean: clean})
				if err != nil {
					t.Fatal(err)
				}
				checkRecords(t, l, want)
				checkReadsFrom(t, l, want, rng)
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// checkReadsFrom reads from random offsets (in gaps too) and checks the
// first record returned is the first wanted at or after the offset.
func checkReadsFrom(t testing.TB, l *Log, want []rec, rng *rand.Rand) {
	t.Helper()
	for range 8 {
		off := l.StartOffset() + rng.Int64N(max(l.EndOffset()-l.StartOffset(), 1))
		i := sort.Search(len(want), func(i int) bool { return want[i].off >= off })
		got := readAll(t, l, off)
		if len(got) != len(want)-i {
			t.Fatalf("read from %d: %d records, want %d", off, len(got), len(want)-i)
		}
		if len(got) > 0 && got[0].Offset != want[i].off {
			t.Fatalf("read from %d starts at %d, want %d", off, got[0].Offset, want[i].off)
		}
	}
}

// TestCleanKeepsActiveSegmentAndLags: the active segment and segments
// younger than min.compaction.lag.ms are not cleaned; max.compaction.lag.ms
// makes a log due whatever its ratio.
func TestCleanKeepsActiveSegmentAndLags(t *testing.T) {
	clock := newTestClock(time.UnixMilli(1_700_000_000_000))
	cfg := compactConfig()
	cfg.MinCompactionLagMs = 60_000
	l, err := Open(t.TempDir(), cfg, Options{Logger: quietLogger(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	h := &history{}
	appendRandom(t, l, h, rng, 200, 10, 0, clock.Now().UnixMilli(), map[int64]int32{})
	if l.Stats().Segments < 3 {
		t.Fatalf("want several segments, have %d", l.Stats().Segments)
	}
	res, err := l.Clean(context.Background(), CleanOptions{})
	if err != nil || res.Cleaned {
		t.Fatalf("clean within min.compaction.lag.ms: %+v, %v", res, err)
	}
	clock.add(2 * time.Minute)
	res, err = l.Clean(context.Background(), CleanOptions{})
	if err != nil || !res.Cleaned {
		t.Fatalf("clean after the lag: %+v, %v", res, err)
	}
	if a := l.Stats().ActiveSegmentBase; res.MapEnd != a {
		t.Fatalf("cleaned up to %d, want the active segment's base %d", res.MapEnd, a)
	}
	checkRecords(t, l, h.expected(res.MapEnd, clock.Now().UnixMilli(), cfg.DeleteRetentionMs))
	// The active segment keeps every record.
	var active int
	for _, r := range readAll(t, l, l.Stats().ActiveSegmentBase) {
		_ = r
		active++
	}
	if n := int(l.EndOffset() - l.Stats().ActiveSegmentBase); active != n {
		t.Fatalf("active segment holds %d records, want all %d", active, n)
	}

	// max.compaction.lag.ms: a ratio under the minimum is cleaned once
	// the oldest dirty record is that old.
	cfg.MinCompactionLagMs = 0
	cfg.MinCleanableDirtyRatio = 0.99
	cfg.MaxCompactionLagMs = 3_600_000
	l.SetConfig(cfg)
	appendRandom(t, l, h, rng, 60, 10, 0, clock.Now().UnixMilli(), map[int64]int32{})
	if ci := l.CleanerInfo(clock.Now()); ci.MustClean || ci.CleanableRatio >= 0.99 || ci.DirtyBytes == 0 {
		t.Fatalf("fresh dirty data: %+v", ci)
	}
	clock.add(2 * time.Hour)
	if ci := l.CleanerInfo(clock.Now()); !ci.MustClean {
		t.Fatalf("dirty data older than max.compaction.lag.ms: %+v", ci)
	}
}

// TestCompactedRejectsKeyless: a compacted log refuses records without a
// key with INVALID_RECORD, as Kafka does, compressed batches included.
func TestCompactedRejectsKeyless(t *testing.T) {
	l, err := Open(t.TempDir(), compactConfig(), Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, c := range []recordbatch.Compression{recordbatch.None, recordbatch.Zstd} {
		b, err := recordbatch.Encode([]recordbatch.Record{{Key: []byte("k"), Value: []byte("v")}, {Value: []byte("no key")}},
			recordbatch.EncodeOptions{Compression: c})
		if err != nil {
			t.Fatal(err)
		}
		_, err = l.Append(b)
		var we *wire.Error
		if !errors.As(err, &we) || we.Code != wire.CodeInvalidRecord {
			t.Fatalf("%s: keyless record appended: %v", c, err)
		}
	}
	if l.EndOffset() != 0 {
		t.Fatalf("something was written: end %d", l.EndOffset())
	}
}

// TestCleanReadersSeeNoCorruption: consumers reading from the start while
// the cleaner rewrites and swaps segments and producers append see valid
// batches, offsets strictly increasing, each record the one appended at
// its offset.
func TestCleanReadersSeeNoCorruption(t *testing.T) {
	cfg := compactConfig()
	l, err := Open(t.TempDir(), cfg, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	h := &history{}
	byOff := map[int64]rec{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	wg.Add(1)
	go func() { // producer
		defer wg.Done()
		defer close(done)
		rng := rand.New(rand.NewPCG(7, 7))
		seqs := map[int64]int32{}
		for range 40 {
			mu.Lock()
			n := len(h.recs)
			appendRandom(t, l, h, rng, 25, 50, 5, time.Now().UnixMilli(), seqs)
			for _, r := range h.recs[n:] {
				byOff[r.off] = r
			}
			mu.Unlock()
		}
	}()
	wg.Add(1)
	go func() { // cleaner
		defer wg.Done()
		for {
			if _, err := l.Clean(ctx, CleanOptions{KeyMapBytes: 64 * keySlotBytes}); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("clean: %w", err)
				return
			}
			select {
			case <-done:
				return
			default:
			}
		}
	}()
	for range 3 { // consumers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for passes := 0; ; passes++ {
				select {
				case <-done:
					if passes > 2 {
						return
					}
				default:
				}
				if err := consumeOnce(l, func(off int64, key, value []byte) error {
					mu.Lock()
					w, ok := byOff[off]
					mu.Unlock()
					if !ok || w.key != string(key) || !bytes.Equal(w.value, value) {
						return fmt.Errorf("offset %d: read key %q value %q, appended %+v", off, key, value, w)
					}
					return nil
				}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// consumeOnce reads the log from its start to its end as a consumer does,
// checking every batch and that offsets strictly increase.
func consumeOnce(l *Log, fn func(off int64, key, value []byte) error) error {
	prev := int64(-1)
	off := l.StartOffset()
	end := l.EndOffset()
	for off < end {
		r, err := l.Read(off, 64<<10, 1<<62)
		if err != nil {
			return fmt.Errorf("read at %d: %w", off, err)
		}
		if r.Len == 0 {
			if r.NextOffset <= off {
				l.mu.RLock()
				var segs []string
				for _, s := range l.segs {
					segs = append(segs, fmt.Sprintf("%d:%d/%d", s.base, s.size, s.next))
				}
				l.mu.RUnlock()
				return fmt.Errorf("no progress at %d (end %d, region %+v, segments %v)", off, end, r, segs)
			}
			off = r.NextOffset
			continue
		}
		b := make([]byte, r.Len)
		_, err = r.File.ReadAt(b, r.Pos)
		r.File.Close()
		if err != nil {
			return err
		}
		recs, err := recordbatch.Decode(b, 64<<20)
		if err != nil {
			return fmt.Errorf("decode at %d: %w", off, err)
		}
		for _, rc := range recs {
			if rc.Offset < off {
				continue
			}
			if rc.Offset <= prev {
				return fmt.Errorf("offset %d after %d", rc.Offset, prev)
			}
			prev = rc.Offset
			if err := fn(rc.Offset, rc.Key, rc.Value); err != nil {
				return err
			}
		}
		off = r.NextOffset
	}
	return nil
}

// TestFollowerCleansIndependently: a leader and a follower fed the same
// batches and cleaned at different times with different key maps hold the
// same records once both are cleaned.
func TestFollowerCleansIndependently(t *testing.T) {
	cfg := compactConfig()
	clock := newTestClock(time.UnixMilli(1_700_000_000_000))
	leader, err := Open(t.TempDir(), cfg, Options{Logger: quietLogger(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer leader.Close()
	follower, err := Open(t.TempDir(), cfg, Options{Logger: quietLogger(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	h := &history{}
	seqs := map[int64]int32{}
	fetched := leader.StartOffset()
	replicate := func() {
		for fetched < leader.EndOffset() {
			r, err := leader.Read(fetched, 32<<10, leader.EndOffset())
			if err != nil {
				t.Fatal(err)
			}
			if r.Len == 0 {
				fetched = r.NextOffset
				continue
			}
			b := regionBytes(t, r)
			if _, err := follower.AppendReplicated(b); err != nil {
				t.Fatalf("follower append at %d: %v", fetched, err)
			}
			fetched = r.NextOffset
		}
	}
	for step := range 6 {
		appendRandom(t, leader, h, rng, 50, 80, 7, clock.Now().UnixMilli(), seqs)
		if step%2 == 0 {
			if _, err := leader.Clean(context.Background(), CleanOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		replicate() // the follower fetches cleaned and uncleaned data alike
		if step%3 == 2 {
			cleanFully(t, follower, CleanOptions{KeyMapBytes: 32 * keySlotBytes})
		}
		clock.add(300 * time.Millisecond)
	}
	rollNow(t, leader)
	rollNow(t, follower)
	clock.add(time.Hour)
	cleanFully(t, leader, CleanOptions{})
	cleanFully(t, follower, CleanOptions{KeyMapBytes: 32 * keySlotBytes})
	want := h.expected(leader.EndOffset(), clock.Now().UnixMilli(), cfg.DeleteRetentionMs)
	checkRecords(t, leader, want)
	checkRecords(t, follower, want)

	// A new follower of the cleaned leader (whose active segment is
	// empty) ends where the leader does: a group keeps its last batch.
	fresh, err := Open(t.TempDir(), cfg, Options{Logger: quietLogger(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	follower, fetched = fresh, 0
	replicate()
	if fresh.EndOffset() != leader.EndOffset() {
		t.Fatalf("a follower of the cleaned leader ends at %d, the leader at %d", fresh.EndOffset(), leader.EndOffset())
	}
	checkRecords(t, fresh, want)
}

// TestCleanMergesSmallSegments: cleaning merges segments up to
// segment.bytes, and a segment wholly superseded stays as an empty segment
// that keeps the log start.
func TestCleanMergesSmallSegments(t *testing.T) {
	cfg := compactConfig()
	l, err := Open(t.TempDir(), cfg, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h := &history{}
	appendRandom(t, l, h, rand.New(rand.NewPCG(5, 5)), 300, 5, 0, time.Now().UnixMilli(), map[int64]int32{})
	before := l.Stats().Segments
	rollNow(t, l)
	cleanFully(t, l, CleanOptions{})
	// Groups are cut by the sizes before cleaning (as Kafka's): the small
	// cleaned segments merge at the next cleaning.
	appendRandom(t, l, h, rand.New(rand.NewPCG(6, 6)), 5, 5, 0, time.Now().UnixMilli(), map[int64]int32{})
	rollNow(t, l)
	cleanFully(t, l, CleanOptions{})
	after := l.Stats().Segments
	if after >= before/2 || after > 3 {
		t.Fatalf("segments: %d before, %d after cleaning; want them merged", before, after)
	}
	if l.StartOffset() != 0 {
		t.Fatalf("log start moved to %d", l.StartOffset())
	}
	checkRecords(t, l, h.expected(l.EndOffset(), time.Now().UnixMilli(), cfg.DeleteRetentionMs))
}

// TestSwapRecovery: unfinished cleaner output is deleted on open; a
// committed swap replaces its range's segments.
func TestSwapRecovery(t *testing.T) {
	cfg := compactConfig()
	dir := t.TempDir()
	l, err := Open(dir, cfg, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	h := &history{}
	appendRandom(t, l, h, rand.New(rand.NewPCG(9, 9)), 200, 20, 0, time.Now().UnixMilli(), map[int64]int32{})
	rollNow(t, l)
	segs := l.Stats().Segments
	end := l.EndOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A .cleaned file is not a replacement.
	if err := os.WriteFile(filepath.Join(dir, cleanedName(0)), []byte("half-written"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err = Open(dir, cfg, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, l, h.recs)
	if _, err := os.Stat(filepath.Join(dir, cleanedName(0))); !os.IsNotExist(err) {
		t.Fatalf("cleaned file left behind: %v", err)
	}
	// A swap committed but not finished: build one by cleaning a copy.
	l.Close()
	copyDir := t.TempDir()
	copyLogDir(t, dir, copyDir)
	cl, err := Open(copyDir, cfg, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var swapFile string
	_, err = cl.Clean(context.Background(), CleanOptions{hook: func(p string) {
		if p == "committed" && swapFile == "" {
			ents, _ := os.ReadDir(copyDir)
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), swapSuffix) {
					swapFile = e.Name()
					b, _ := os.ReadFile(filepath.Join(copyDir, e.Name()))
					if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
						t.Error(err)
					}
				}
			}
		}
	}})
	cl.Close()
	if err != nil || swapFile == "" {
		t.Fatalf("clean of the copy: %v (swap %q)", err, swapFile)
	}
	l, err = Open(dir, cfg, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Stats().Segments > segs || l.EndOffset() != end {
		t.Fatalf("after the swap: %d segments (was %d), end %d (was %d)", l.Stats().Segments, segs, l.EndOffset(), end)
	}
	base, swapEnd, _ := parseSwapName(swapFile)
	// The swapped range holds what the whole cleaning kept of it; the rest
	// is as appended.
	var want []rec
	for _, r := range h.expected(end, time.Now().UnixMilli(), cfg.DeleteRetentionMs) {
		if r.off >= base && r.off < swapEnd {
			want = append(want, r)
		}
	}
	for _, r := range h.recs {
		if r.off >= swapEnd {
			want = append(want, r)
		}
	}
	checkRecords(t, l, want)
}

// copyLogDir copies the files of a log directory.
func copyLogDir(t testing.TB, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCleanerAfterTruncation: a truncation below the cleaned offset makes
// the rewritten range dirty again.
func TestCleanerAfterTruncation(t *testing.T) {
	cfg := compactConfig()
	l, err := Open(t.TempDir(), cfg, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h := &history{}
	rng := rand.New(rand.NewPCG(11, 11))
	appendRandom(t, l, h, rng, 200, 30, 0, time.Now().UnixMilli(), map[int64]int32{})
	res := cleanFully(t, l, CleanOptions{})
	cut := res.MapEnd / 2
	if err := l.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	if fd := l.CleanerInfo(time.Now()).FirstDirtyOffset; fd > l.EndOffset() {
		t.Fatalf("first dirty offset %d beyond the end %d after truncation", fd, l.EndOffset())
	}
	var kept []rec
	for _, r := range h.recs {
		if r.off < l.EndOffset() {
			kept = append(kept, r)
		}
	}
	h.recs = kept
	appendRandom(t, l, h, rng, 200, 30, 0, time.Now().UnixMilli(), map[int64]int32{})
	rollNow(t, l)
	cleanFully(t, l, CleanOptions{})
	checkRecords(t, l, h.expected(l.EndOffset(), time.Now().UnixMilli(), cfg.DeleteRetentionMs))
}

// TestManagerCleanerPicksDirtiest: the Manager's cleaner threads clean
// compacted logs by themselves, dirtiest first, and leave others alone.
func TestManagerCleanerPicksDirtiest(t *testing.T) {
	m, err := OpenManager(t.TempDir(), ManagerOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 0.5
	a, _ := m.Create("a", 0, cfg)
	b, _ := m.Create("b", 0, cfg)
	del, _ := m.Create("plain", 0, testConfig())
	ha, hb := &history{}, &history{}
	rng := rand.New(rand.NewPCG(1, 1))
	appendRandom(t, a, ha, rng, 100, 10, 0, time.Now().UnixMilli(), map[int64]int32{})
	appendRandom(t, b, hb, rng, 100, 10, 0, time.Now().UnixMilli(), map[int64]int32{})
	cleanFully(t, b, CleanOptions{})
	appendRandom(t, b, hb, rng, 10, 10, 0, time.Now().UnixMilli(), map[int64]int32{})
	rollNow(t, b)
	pl, ok := m.grabDirtiest()
	if !ok || pl.Topic != "a" {
		t.Fatalf("dirtiest: %+v %v, want a", pl, ok)
	}
	pl.Log.clean.busy = false
	del.Append(batch(t, "p", 10, 1, 10))

	m.opts.Cleaner = CleanerOptions{Threads: 2, Backoff: 10 * time.Millisecond, DedupeBufferBytes: 1 << 20}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ia, ib := a.CleanerInfo(time.Now()), b.CleanerInfo(time.Now())
		if ia.DirtyBytes == 0 && ib.CleanableRatio < 0.5 && ia.Cleanings > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cleaner did not clean: a %+v, b %+v", ia, ib)
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := m.CleanerStats()
	if st.Runs == 0 || st.BytesRead == 0 || st.LastRun.IsZero() || st.Threads != 2 {
		t.Fatalf("cleaner stats: %+v", st)
	}
	if ci := del.CleanerInfo(time.Now()); ci.Compacted || ci.Cleanings != 0 {
		t.Fatalf("a delete-policy log was cleaned: %+v", ci)
	}
	cancel()
	<-done
	checkRecords(t, a, ha.expected(a.CleanerInfo(time.Now()).FirstDirtyOffset, time.Now().UnixMilli(), cfg.DeleteRetentionMs))
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestThrottleBoundsRate: the I/O throttle keeps the rate near its bound.
func TestThrottleBoundsRate(t *testing.T) {
	th := newThrottle(4<<20, time.Now)
	start := time.Now()
	for range 64 {
		if err := th.wait(context.Background(), 64<<10); err != nil {
			t.Fatal(err)
		}
	}
	// 4 MiB at 4 MiB/s: about a second (the last period may go unchecked).
	if d := time.Since(start); d < 600*time.Millisecond {
		t.Fatalf("4 MiB passed in %v at a 4 MiB/s bound", d)
	}
}

// TestKeyMap: the key map keeps the latest offset per key and refuses new
// keys when full.
func TestKeyMap(t *testing.T) {
	m := newKeyMap(100 * keySlotBytes)
	if m.capacity() != 90 {
		t.Fatalf("capacity %d", m.capacity())
	}
	for i := range 90 {
		if !m.put([]byte(fmt.Sprint("k", i)), int64(i)) {
			t.Fatalf("put %d refused", i)
		}
	}
	if m.put([]byte("new"), 1000) {
		t.Fatal("a full map took a new key")
	}
	if !m.put([]byte("k5"), 500) {
		t.Fatal("a full map refused an update")
	}
	if off, ok := m.get([]byte("k5")); !ok || off != 500 {
		t.Fatalf("k5 -> %d %v", off, ok)
	}
	if _, ok := m.get([]byte("missing")); ok {
		t.Fatal("found a missing key")
	}
	m.reset()
	if _, ok := m.get([]byte("k1")); ok || m.size() != 0 {
		t.Fatal("reset kept keys")
	}
	// A large map grows its slots as keys come, and loses none.
	big := newKeyMap(64 << 20)
	for i := range 300_000 {
		big.put([]byte(fmt.Sprint("key", i)), int64(i))
	}
	if len(big.slots) <= keyMapInitialSlots || len(big.slots) > big.maxSlots {
		t.Fatalf("%d slots for 300,000 keys (max %d)", len(big.slots), big.maxSlots)
	}
	for i := range 300_000 {
		if off, ok := big.get([]byte(fmt.Sprint("key", i))); !ok || off != int64(i) {
			t.Fatalf("key%d -> %d %v", i, off, ok)
		}
	}
}

// testClock is a settable clock safe for the log's background flushes.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock(t time.Time) *testClock { return &testClock{t: t} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
