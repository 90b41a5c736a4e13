package consumer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"strand.dev/client/internal/fakecluster"
	"strand.dev/client/producer"
	"strand.dev/client/record"
	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newConsumer(t *testing.T, fc *fakecluster.Cluster, opts ...Option) *Consumer {
	t.Helper()
	base := []Option{Bootstrap(fc.Addrs()...), RetryBackoff(5*time.Millisecond, 50*time.Millisecond), FetchMaxWait(100 * time.Millisecond)}
	c, err := New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// produce writes n records "<prefix><i>" to one partition.
func produce(t *testing.T, fc *fakecluster.Cluster, topic string, part int32, prefix string, n int) {
	t.Helper()
	p, err := producer.New(producer.Bootstrap(fc.Addrs()...), producer.WithPartitioner(manual{}), producer.Linger(0), producer.BatchSize(300))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	var recs []*record.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &record.Record{Topic: topic, Partition: part, Key: []byte("k"), Value: []byte(fmt.Sprintf("%s%d", prefix, i)),
			Headers: []record.Header{{Key: "i", Value: []byte(fmt.Sprint(i))}}})
	}
	if err := p.SendSync(testCtx(t), recs...); err != nil {
		t.Fatal(err)
	}
}

// pollN polls until n records arrived.
func pollN(t *testing.T, c *Consumer, n int) []*record.Record {
	t.Helper()
	ctx := testCtx(t)
	var out []*record.Record
	for len(out) < n {
		recs, err := c.Poll(ctx)
		if err != nil {
			t.Fatalf("after %d of %d records: %v", len(out), n, err)
		}
		out = append(out, recs...)
	}
	if len(out) != n {
		t.Fatalf("got %d records, want %d", len(out), n)
	}
	return out
}

func TestConsumeFromEarliest(t *testing.T) {
	fc := fakecluster.New(2, t.Cleanup)
	fc.CreateTopic("t", 2, nil)
	produce(t, fc, "t", 0, "a", 500)
	produce(t, fc, "t", 1, "b", 300)
	c := newConsumer(t, fc, AutoOffsetReset(ResetEarliest), MaxPollRecords(64), MaxPartitionFetchBytes(4096))
	tps, err := c.AssignTopic(testCtx(t), "t")
	if err != nil || len(tps) != 2 {
		t.Fatal(tps, err)
	}
	recs := pollN(t, c, 800)
	next := map[int32]int64{}
	for _, r := range recs {
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
		}
		prefix := map[int32]string{0: "a", 1: "b"}[r.Partition]
		if string(r.Value) != fmt.Sprintf("%s%d", prefix, r.Offset) || string(r.Key) != "k" || r.Topic != "t" {
			t.Fatalf("record %+v", r)
		}
		if len(r.Headers) != 1 || string(r.Headers[0].Value) != fmt.Sprint(r.Offset) || r.Timestamp.IsZero() {
			t.Fatalf("headers/timestamp %+v", r)
		}
		next[r.Partition]++
	}
	if pos, _ := c.Position(TopicPartition{"t", 0}); pos != 500 {
		t.Fatalf("position %d", pos)
	}
	if st := c.Stats(); st.RecordsPolled != 800 || st.RecordsFetched < 800 || st.Fetches < 2 || st.BytesFetched <= 0 {
		t.Fatalf("stats %+v", st)
	}
	waitFor(t, func() bool { return c.HighWatermark(TopicPartition{"t", 1}) == 300 })
}

func TestResetLatestSeesOnlyNewRecords(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	fc.CreateTopic("t", 1, nil)
	produce(t, fc, "t", 0, "old", 10)
	c := newConsumer(t, fc) // ResetLatest is the default
	tp := TopicPartition{"t", 0}
	c.Assign(tp)
	waitFor(t, func() bool { p, _ := c.Position(tp); return p == 10 })
	produce(t, fc, "t", 0, "new", 5)
	recs := pollN(t, c, 5)
	if string(recs[0].Value) != "new0" || recs[0].Offset != 10 {
		t.Fatalf("first record %s@%d", recs[0].Value, recs[0].Offset)
	}
}

func TestResetNoneIsATypedError(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	fc.CreateTopic("t", 1, nil)
	produce(t, fc, "t", 0, "r", 20)
	c := newConsumer(t, fc, AutoOffsetReset(ResetNone))
	tp := TopicPartition{"t", 0}
	c.Assign(tp)
	_, err := c.Poll(testCtx(t))
	var noOff *NoOffsetError
	if !errors.As(err, &noOff) || noOff.Partition != 0 {
		t.Fatalf("want NoOffsetError, got %v", err)
	}
	// Seek resumes it.
	if err := c.Seek(tp, 15); err != nil {
		t.Fatal(err)
	}
	recs := pollN(t, c, 5)
	if recs[0].Offset != 15 {
		t.Fatalf("first offset %d", recs[0].Offset)
	}
	// Past the end: out of range.
	if err := c.Seek(tp, 99); err != nil {
		t.Fatal(err)
	}
	_, err = c.Poll(testCtx(t))
	var oor *OffsetOutOfRangeError
	if !errors.As(err, &oor) || oor.Offset != 99 || !errors.Is(err, wire.ErrOffsetOutOfRange) {
		t.Fatalf("want OffsetOutOfRangeError at 99, got %v", err)
	}
}

func TestOutOfRangeResetsToEarliest(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	fc.CreateTopic("t", 1, nil)
	produce(t, fc, "t", 0, "r", 30)
	// Retention removed the first batches.
	fc.DeleteBefore("t", 0, 12)
	c := newConsumer(t, fc, AutoOffsetReset(ResetEarliest))
	tp := TopicPartition{"t", 0}
	c.Assign(tp)
	c.Seek(tp, 0)
	recs, err := c.Poll(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if recs[0].Offset == 0 || recs[0].Offset > 12 {
		t.Fatalf("after the reset the first offset is %d", recs[0].Offset)
	}
}

func TestLeaderChangesLoseAndRepeatNothing(t *testing.T) {
	fc := fakecluster.New(3, t.Cleanup)
	fc.CreateTopic("t", 1, nil)
	produce(t, fc, "t", 0, "r", 1000)
	var fetches atomic.Int64
	fc.Intercept(func(node int32, w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == wire.PathFetch && fetches.Add(1)%4 == 0 {
			fc.SetLeader("t", 0, fc.Leader("t", 0)%3+1)
		}
		return false
	})
	c := newConsumer(t, fc, AutoOffsetReset(ResetEarliest), MaxPartitionFetchBytes(2048))
	c.Assign(TopicPartition{"t", 0})
	recs := pollN(t, c, 1000)
	for i, r := range recs {
		if r.Offset != int64(i) || string(r.Value) != fmt.Sprintf("r%d", i) {
			t.Fatalf("record %d: %s@%d", i, r.Value, r.Offset)
		}
	}
	if fetches.Load() < 8 {
		t.Fatalf("only %d fetches: the leader barely moved", fetches.Load())
	}
}

func TestNodeDownThenBack(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	fc.CreateTopic("t", 1, nil)
	produce(t, fc, "t", 0, "r", 10)
	c := newConsumer(t, fc, AutoOffsetReset(ResetEarliest))
	c.Assign(TopicPartition{"t", 0})
	pollN(t, c, 10)
	fc.SetStopped(1, true)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if recs, err := c.Poll(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("poll with the node down: %v %v", recs, err)
	}
	fc.SetStopped(1, false)
	produce(t, fc, "t", 0, "s", 3)
	recs := pollN(t, c, 3)
	if recs[0].Offset != 10 {
		t.Fatalf("resumed at %d", recs[0].Offset)
	}
}

func TestSeekMidStream(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	fc.CreateTopic("t", 1, nil)
	produce(t, fc, "t", 0, "r", 100)
	c := newConsumer(t, fc, AutoOffsetReset(ResetEarliest), MaxPollRecords(10))
	tp := TopicPartition{"t", 0}
	c.Assign(tp)
	pollN(t, c, 10)
	c.Seek(tp, 50)
	recs := pollN(t, c, 10)
	if recs[0].Offset != 50 {
		t.Fatalf("after Seek(50): %d", recs[0].Offset)
	}
	c.Seek(tp, OffsetEarliest)
	if recs := pollN(t, c, 10); recs[0].Offset != 0 {
		t.Fatalf("after Seek(earliest): %d", recs[0].Offset)
	}
	c.Seek(tp, OffsetLatest)
	waitFor(t, func() bool { p, _ := c.Position(tp); return p == 100 })
	if err := c.Seek(TopicPartition{"t", 7}, 0); !errors.Is(err, ErrNotAssigned) {
		t.Fatalf("seek of an unassigned partition: %v", err)
	}
}

func TestCompactionGapsAreSteppedOver(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	fc.CreateTopic("t", 1, nil)
	// A compacted batch: offsets 0..9 of which 2, 5 and 7 remain, then an
	// empty-looking gap up to 9, then a batch at 20 (10..19 compacted away).
	b1, err := recordbatch.Encode([]recordbatch.Record{
		{Offset: 2, Timestamp: 1, Value: []byte("two")},
		{Offset: 5, Timestamp: 1, Value: []byte("five")},
		{Offset: 7, Timestamp: 1, Value: []byte("seven")},
	}, recordbatch.EncodeOptions{KeepOffsets: true, BaseOffset: 0, LastOffsetDelta: 9})
	if err != nil {
		t.Fatal(err)
	}
	b2, err := recordbatch.Encode([]recordbatch.Record{{Offset: 20, Timestamp: 1, Value: []byte("twenty")}},
		recordbatch.EncodeOptions{KeepOffsets: true, BaseOffset: 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := fc.AppendStored("t", 0, append(b1, b2...)); err != nil {
		t.Fatal(err)
	}
	c := newConsumer(t, fc, AutoOffsetReset(ResetEarliest))
	tp := TopicPartition{"t", 0}
	c.Assign(tp)
	recs := pollN(t, c, 4)
	want := []int64{2, 5, 7, 20}
	for i, r := range recs {
		if r.Offset != want[i] {
			t.Fatalf("offsets %v, want %v", offsets(recs), want)
		}
	}
	waitFor(t, func() bool { p, _ := c.Position(tp); return p == 21 })
	// Seeking into the middle of a batch skips the records before it.
	c.Seek(tp, 6)
	if recs := pollN(t, c, 2); recs[0].Offset != 7 || recs[1].Offset != 20 {
		t.Fatalf("after Seek(6): %v", offsets(recs))
	}
}

func offsets(recs []*record.Record) []int64 {
	var out []int64
	for _, r := range recs {
		out = append(out, r.Offset)
	}
	return out
}

func TestPollWaitsForRecordsAndCloseEndsIt(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	fc.CreateTopic("t", 1, nil)
	c := newConsumer(t, fc, AutoOffsetReset(ResetEarliest))
	c.Assign(TopicPartition{"t", 0})
	got := make(chan []*record.Record, 1)
	go func() {
		recs, _ := c.Poll(testCtx(t))
		got <- recs
	}()
	produce(t, fc, "t", 0, "late", 1)
	select {
	case recs := <-got:
		if len(recs) != 1 || string(recs[0].Value) != "late0" {
			t.Fatalf("%v", recs)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Poll never saw the record")
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Poll(context.Background())
		errc <- err
	}()
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("poll after close: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not end a waiting Poll")
	}
}

func TestUnknownTopicIsRetriedThenSeen(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	c := newConsumer(t, fc, AutoOffsetReset(ResetEarliest))
	if _, err := c.AssignTopic(testCtx(t), "nope"); !errors.Is(err, wire.ErrUnknownTopicOrPartition) {
		t.Fatalf("AssignTopic of an unknown topic: %v", err)
	}
	// An assigned partition of a topic created later is picked up.
	c.Assign(TopicPartition{"later", 0})
	fc.CreateTopic("later", 1, nil)
	produce(t, fc, "later", 0, "r", 2)
	pollN(t, c, 2)
}

func TestOptionValidation(t *testing.T) {
	for name, opt := range map[string]Option{
		"reset":        AutoOffsetReset(Reset(7)),
		"min bytes":    FetchMinBytes(-1),
		"max wait":     FetchMaxWait(2 * time.Minute),
		"max bytes":    MaxPartitionFetchBytes(10),
		"poll records": MaxPollRecords(0),
		"timeout":      RequestTimeout(time.Millisecond),
		"bootstrap":    Bootstrap("localhost"),
	} {
		if _, err := New(opt); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for in, want := range map[string]Reset{"earliest": ResetEarliest, "latest": ResetLatest, "none": ResetNone} {
		if got, err := ParseReset(in); err != nil || got != want || got.String() != in {
			t.Errorf("ParseReset(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseReset("smallest"); err == nil {
		t.Error("smallest accepted")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestCorruptBatchStopsThePartition(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	fc.CreateTopic("t", 1, nil)
	for i := 0; i < 5; i++ {
		produce(t, fc, "t", 0, "r", 1) // five batches
	}
	good := fc.Log("t", 0)
	fc.Intercept(func(node int32, w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != wire.PathFetch {
			return false
		}
		bad := append([]byte(nil), good...)
		bad[len(bad)-1] ^= 0xff // breaks the CRC
		w.Header().Set(wire.HeaderHighWatermark, "5")
		w.Write(bad)
		return true
	})
	c := newConsumer(t, fc, AutoOffsetReset(ResetEarliest))
	tp := TopicPartition{"t", 0}
	c.Assign(tp)
	// The records of the good batches come first, then the error.
	var got []*record.Record
	var err error
	for err == nil {
		var recs []*record.Record
		recs, err = c.Poll(testCtx(t))
		got = append(got, recs...)
	}
	if !errors.Is(err, wire.ErrCorruptMessage) {
		t.Fatalf("want CORRUPT_MESSAGE from Poll, got %v", err)
	}
	if len(got) == 0 || len(got) >= 5 {
		t.Fatalf("%d records before the corrupt batch", len(got))
	}
	for i, r := range got {
		if r.Offset != int64(i) {
			t.Fatalf("offsets %v", offsets(got))
		}
	}
	// The partition stays stopped at the bad batch until a Seek.
	if pos, _ := c.Position(tp); pos != int64(len(got)) {
		t.Fatalf("position %d after %d records", pos, len(got))
	}
}
