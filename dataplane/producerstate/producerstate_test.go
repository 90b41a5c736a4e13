package producerstate

import (
	"errors"
	"math"
	"path/filepath"
	"testing"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
	"strand.dev/dataplane/partlog"
)

func codeOf(err error) wire.Code {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return ""
}

func TestCheck(t *testing.T) {
	tb := New(0)
	in := func(pid int64, epoch int16, first, last int32) Incoming {
		return Incoming{ProducerID: pid, Epoch: epoch, FirstSeq: first, LastSeq: last}
	}
	steps := []struct {
		name   string
		in     Incoming
		dupOff int64 // first offset of the duplicate, or -1
		code   wire.Code
		offset int64 // offset the batch is appended at when accepted
	}{
		{"unknown producer must start at 0", in(7, 0, 5, 9), -1, wire.CodeOutOfOrderSequenceNumber, 0},
		{"first batch", in(7, 0, 0, 4), -1, "", 100},
		{"next batch", in(7, 0, 5, 9), -1, "", 105},
		{"retry of the first is a duplicate", in(7, 0, 0, 4), 100, "", 0},
		{"retry of the last is a duplicate", in(7, 0, 5, 9), 105, "", 0},
		{"gap", in(7, 0, 12, 14), -1, wire.CodeOutOfOrderSequenceNumber, 0},
		{"overlap that is no batch", in(7, 0, 3, 7), -1, wire.CodeOutOfOrderSequenceNumber, 0},
		{"older epoch", in(7, -1, 10, 10), -1, wire.CodeInvalidProducerEpoch, 0},
		{"new epoch not at 0", in(7, 1, 10, 10), -1, wire.CodeOutOfOrderSequenceNumber, 0},
		{"new epoch at 0", in(7, 1, 0, 0), -1, "", 110},
		{"old epoch now fenced", in(7, 0, 10, 10), -1, wire.CodeInvalidProducerEpoch, 0},
		{"another producer is separate", in(8, 0, 0, 0), -1, "", 111},
	}
	for _, s := range steps {
		dup, err := tb.Check(s.in)
		if codeOf(err) != s.code {
			t.Fatalf("%s: error %v, want %q", s.name, err, s.code)
		}
		if (dup != nil) != (s.dupOff >= 0) || (dup != nil && dup.FirstOffset != s.dupOff) {
			t.Fatalf("%s: duplicate %+v, want first offset %d", s.name, dup, s.dupOff)
		}
		if err == nil && dup == nil {
			tb.Update(s.in, s.offset, s.offset+int64(s.in.LastSeq-s.in.FirstSeq), 1000, 0)
		}
	}
	// Only the last five batches are remembered.
	for i := range int32(10) {
		tb.Update(in(9, 0, i, i), int64(200+i), int64(200+i), 1000, 0)
	}
	if dup, err := tb.Check(in(9, 0, 4, 4)); dup != nil || codeOf(err) != wire.CodeOutOfOrderSequenceNumber {
		t.Fatalf("sixth-last batch: %+v %v", dup, err)
	}
	if dup, _ := tb.Check(in(9, 0, 5, 5)); dup == nil || dup.FirstOffset != 205 {
		t.Fatalf("fifth-last batch: %+v", dup)
	}
	// Sequence numbers wrap at MaxInt32.
	tb.Update(in(10, 0, math.MaxInt32-1, math.MaxInt32), 300, 301, 1000, 0)
	if _, err := tb.Check(in(10, 0, 0, 3)); err != nil {
		t.Fatalf("wrap: %v", err)
	}
	if got := addSeq(math.MaxInt32-1, 3); got != 1 {
		t.Fatalf("addSeq wraps to %d", got)
	}
}

func TestEvictAndExpire(t *testing.T) {
	tb := New(2)
	tb.Update(Incoming{ProducerID: 1}, 0, 0, 100, 0)
	tb.Update(Incoming{ProducerID: 2}, 1, 1, 300, 0)
	tb.Update(Incoming{ProducerID: 3}, 2, 2, 200, 0)
	if _, ok := tb.Entry(1); ok || tb.Len() != 2 {
		t.Fatalf("the producer idle longest was not evicted (%d producers)", tb.Len())
	}
	if n := tb.Expire(250); n != 1 || tb.Len() != 1 {
		t.Fatalf("expired %d, left %d", n, tb.Len())
	}
}

// idempotentBatch encodes n records of producer pid from sequence seq.
func idempotentBatch(t *testing.T, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{Timestamp: 1000 + int64(seq), Value: []byte("v")}
	}
	b, err := recordbatch.Encode(recs, recordbatch.EncodeOptions{Idempotent: true, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSnapshotAndRebuild(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	l, err := partlog.Open(dir, partlog.DefaultConfig(), partlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	live := New(0)
	appendBatch := func(b []byte) {
		h, err := recordbatch.ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		info, err := l.Append(b)
		if err != nil {
			t.Fatal(err)
		}
		h.BaseOffset = info.BaseOffset
		live.UpdateHeader(h, 0)
	}
	for i := range int32(8) {
		appendBatch(idempotentBatch(t, 1, 0, i*3, 3))
		appendBatch(idempotentBatch(t, 2, 4, i, 1))
	}
	if err := WriteSnapshot(dir, l.EndOffset(), live); err != nil {
		t.Fatal(err)
	}
	mid := l.EndOffset()
	for i := int32(8); i < 12; i++ {
		appendBatch(idempotentBatch(t, 1, 0, i*3, 3))
	}
	got, err := Rebuild(l, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int64{1, 2} {
		want, _ := live.Entry(pid)
		have, ok := got.Entry(pid)
		if !ok || have.Epoch != want.Epoch || len(have.Batches) != len(want.Batches) || have.Batches[len(have.Batches)-1] != want.Batches[len(want.Batches)-1] {
			t.Fatalf("producer %d rebuilt as %+v, want %+v", pid, have, want)
		}
	}
	// After a truncation below the snapshot, the snapshot is dropped and
	// the state is rebuilt from the log.
	if err := l.TruncateTo(mid - 6); err != nil {
		t.Fatal(err)
	}
	got, err = Rebuild(l, 0)
	if err != nil {
		t.Fatal(err)
	}
	if offs, _ := Snapshots(dir); len(offs) != 0 {
		t.Fatalf("snapshots beyond the log end kept: %v", offs)
	}
	e, _ := got.Entry(1)
	if last := e.Batches[len(e.Batches)-1]; last.LastOffset >= l.EndOffset() {
		t.Fatalf("state after the truncation still has offset %d (log end %d)", last.LastOffset, l.EndOffset())
	}
}

func TestAhead(t *testing.T) {
	tb := New(0)
	in := func(pid int64, epoch int16, first, last int32) Incoming {
		return Incoming{ProducerID: pid, Epoch: epoch, FirstSeq: first, LastSeq: last}
	}
	tb.Update(in(7, 1, 0, 4), 0, 4, 0, 0)
	tb.Update(in(8, 0, math.MaxInt32-1, math.MaxInt32), 5, 6, 0, 0)
	for _, c := range []struct {
		name string
		in   Incoming
		want bool
	}{
		{"unknown producer beyond 0", in(9, 0, 5, 9), true},
		{"unknown producer at 0", in(9, 0, 0, 9), false},
		{"beyond the next", in(7, 1, 10, 14), true},
		{"the next", in(7, 1, 5, 9), false},
		{"behind the next", in(7, 1, 3, 4), false},
		{"older epoch", in(7, 0, 10, 14), false},
		{"newer epoch beyond 0", in(7, 2, 10, 14), true},
		{"beyond the next across the wrap", in(8, 0, 3, 4), true},
		{"the next across the wrap", in(8, 0, 0, 4), false},
	} {
		if got := tb.Ahead(c.in); got != c.want {
			t.Errorf("%s: Ahead = %v, want %v", c.name, got, c.want)
		}
	}
}
