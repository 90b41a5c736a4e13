package offsets

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"strand.dev/client/recordbatch"
	"strand.dev/coordinator/group"
)

func TestKafkaLayout(t *testing.T) {
	// OffsetCommitKey v1: int16 1, string "g", string "t", int32 3.
	wantKey := []byte{0, 1, 0, 1, 'g', 0, 1, 't', 0, 0, 0, 3}
	if got := OffsetKey("g", "t", 3).Encode(); !bytes.Equal(got, wantKey) {
		t.Fatalf("offset key % x, want % x", got, wantKey)
	}
	// GroupMetadataKey v2: int16 2, string "g".
	if got := GroupKey("g").Encode(); !bytes.Equal(got, []byte{0, 2, 0, 1, 'g'}) {
		t.Fatalf("group key % x", got)
	}
	// OffsetCommitValue v3: int16 3, int64 42, int32 5, string "m", int64 7.
	wantVal := []byte{0, 3, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 5, 0, 1, 'm', 0, 0, 0, 0, 0, 0, 0, 7}
	if got := (OffsetValue{Offset: 42, LeaderEpoch: 5, Metadata: "m", CommitTimestampMs: 7}).Encode(); !bytes.Equal(got, wantVal) {
		t.Fatalf("offset value % x, want % x", got, wantVal)
	}
	// Kafka's older value versions are read.
	v1 := []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0, 12}
	got, err := DecodeOffsetValue(v1)
	if err != nil || got != (OffsetValue{Offset: 9, LeaderEpoch: -1, CommitTimestampMs: 11}) {
		t.Fatalf("v1 value: %+v, %v", got, err)
	}
}

func TestRoundTrips(t *testing.T) {
	for _, k := range []Key{OffsetKey("grp", "topic", 7), GroupKey("grp"), OwnerKey(), OffsetKey("", "", 0)} {
		got, err := DecodeKey(k.Encode())
		if err != nil || got != k {
			t.Fatalf("key %+v: got %+v, %v", k, got, err)
		}
	}
	ov := OwnerValue{Coordinator: "c1", Epoch: 9, TimestampMs: 123}
	if got, err := DecodeOwnerValue(ov.Encode()); err != nil || got != ov {
		t.Fatalf("owner value: %+v %v", got, err)
	}
	snap := sampleSnapshot()
	got, err := DecodeGroupValue("grp", EncodeGroupValue(snap))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, snap) {
		t.Fatalf("group value:\n got %+v\nwant %+v", got, snap)
	}
}

func sampleSnapshot() group.Snapshot {
	tp := func(t string, p int32) group.TopicPartition { return group.TopicPartition{Topic: t, Partition: p} }
	return group.Snapshot{
		GroupID: "grp", Assignor: "cooperative-sticky", Generation: 12, EmptySinceMs: 0,
		Partitions: map[string]int32{"a": 3, "b": 1},
		Members: []group.MemberSnapshot{
			{MemberID: "m1", InstanceID: "i1", ClientID: "c", ClientHost: "127.0.0.1", Topics: []string{"a", "b"},
				Assignors: []string{"cooperative-sticky", "range"}, SessionTimeoutMs: 45000, RebalanceTimeoutMs: 300000,
				JoinGeneration: 3, Generation: 12,
				Owned: []group.TopicPartition{tp("a", 0), tp("a", 1), tp("b", 0)}, Revoking: []group.TopicPartition{tp("a", 1)},
				Target: []group.TopicPartition{tp("a", 0), tp("b", 0)}},
			{MemberID: "m2", Topics: []string{"a"}, Assignors: []string{"cooperative-sticky"}, SessionTimeoutMs: 10000,
				RebalanceTimeoutMs: 20000, JoinGeneration: 12, Generation: 12,
				Owned: []group.TopicPartition{tp("a", 2)}, Revoking: []group.TopicPartition{}, Target: []group.TopicPartition{tp("a", 1), tp("a", 2)}},
		},
	}
}

// TestCorruptInputsNeverPanic truncates and flips every encoded form.
func TestCorruptInputsNeverPanic(t *testing.T) {
	inputs := [][]byte{
		OffsetKey("g", "t", 1).Encode(), GroupKey("g").Encode(), OwnerKey().Encode(),
		(OffsetValue{Offset: 1, Metadata: "x"}).Encode(), (OwnerValue{Coordinator: "c", Epoch: 1}).Encode(),
		EncodeGroupValue(sampleSnapshot()),
	}
	for _, in := range inputs {
		for cut := 0; cut < len(in); cut++ {
			b := in[:cut]
			_, e1 := DecodeKey(b)
			_, e2 := DecodeOffsetValue(b)
			_, e3 := DecodeOwnerValue(b)
			_, e4 := DecodeGroupValue("g", b)
			for _, err := range []error{e1, e2, e3, e4} {
				if err != nil && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v does not wrap ErrCorrupt", err)
				}
			}
		}
		for i := range in {
			b := bytes.Clone(in)
			b[i] ^= 0xff
			DecodeKey(b)
			DecodeOffsetValue(b)
			DecodeOwnerValue(b)
			DecodeGroupValue("g", b)
		}
	}
	if _, err := DecodeKey([]byte{0, 50}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unknown key version: %v", err)
	}
	if _, err := DecodeOffsetValue(append((OffsetValue{}).Encode(), 1)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing bytes: %v", err)
	}
}

func rec(off int64, epoch int64, k Key, v []byte) recordbatch.Record {
	r := recordbatch.Record{Offset: off, Key: k.Encode(), Value: v}
	if epoch > 0 {
		r.Headers = []recordbatch.Header{{Key: HeaderOwnerEpoch, Value: EpochHeader(epoch)}}
	}
	return r
}

func TestReplay(t *testing.T) {
	t0 := group.TopicPartition{Topic: "t", Partition: 0}
	t1 := group.TopicPartition{Topic: "t", Partition: 1}
	snap := sampleSnapshot()
	off := func(o int64) []byte { return (OffsetValue{Offset: o, LeaderEpoch: -1}).Encode() }
	recs := []recordbatch.Record{
		rec(0, 1, OwnerKey(), (OwnerValue{Coordinator: "c1", Epoch: 1}).Encode()),
		rec(1, 1, OffsetKey("g", "t", 0), off(10)),
		rec(2, 1, OffsetKey("g", "t", 1), off(20)),
		rec(3, 1, GroupKey("grp"), EncodeGroupValue(snap)),
		rec(4, 2, OwnerKey(), (OwnerValue{Coordinator: "c2", Epoch: 2}).Encode()),
		rec(5, 1, OffsetKey("g", "t", 0), off(999)), // the deposed owner's late write
		rec(6, 2, OffsetKey("g", "t", 0), off(11)),
		rec(7, 2, OffsetKey("g", "t", 1), nil), // tombstone
		rec(8, 2, OffsetKey("gone", "t", 0), off(1)),
		rec(9, 2, OffsetKey("gone", "t", 0), nil),
		{Offset: 10, Key: []byte{9, 9}, Value: []byte{1}, Headers: []recordbatch.Header{{Key: HeaderOwnerEpoch, Value: EpochHeader(2)}}}, // corrupt
		rec(11, 2, GroupKey("grp"), nil),
	}
	s := NewState()
	for i := range recs {
		s.Apply(&recs[i])
	}
	if s.Epoch != 2 || s.Owner != "c2" || s.Skipped != 1 || s.Corrupt != 1 || s.NextOffset != 12 {
		t.Fatalf("state epoch %d owner %s skipped %d corrupt %d next %d", s.Epoch, s.Owner, s.Skipped, s.Corrupt, s.NextOffset)
	}
	g := s.Groups["g"]
	if g == nil || len(g.Offsets) != 1 || g.Offsets[t0].Offset != 11 {
		t.Fatalf("group g: %+v", g)
	}
	if _, ok := g.Offsets[t1]; ok {
		t.Fatal("tombstoned offset survived")
	}
	if _, ok := s.Groups["gone"]; ok {
		t.Fatal("a group whose offsets were all deleted survived")
	}
	if _, ok := s.Groups["grp"]; ok {
		t.Fatal("a group whose metadata was deleted (and had no offsets) survived")
	}

	// The same records through RecordBatch bytes, in two batches, one
	// compressed.
	b1, err := recordbatch.Encode(recs[:6], recordbatch.EncodeOptions{KeepOffsets: true})
	if err != nil {
		t.Fatal(err)
	}
	b2, err := recordbatch.Encode(recs[6:], recordbatch.EncodeOptions{KeepOffsets: true, BaseOffset: 6, Compression: recordbatch.Gzip})
	if err != nil {
		t.Fatal(err)
	}
	s2 := NewState()
	n, err := s2.ApplyBatches(append(b1, b2...), 1<<20)
	if err != nil || n != len(recs) {
		t.Fatalf("ApplyBatches = %d, %v", n, err)
	}
	if fmt.Sprint(s2.Groups["g"].Offsets) != fmt.Sprint(s.Groups["g"].Offsets) || s2.NextOffset != 12 || s2.Epoch != 2 {
		t.Fatalf("batch replay differs: %+v", s2)
	}
}

func TestApplyBatchesSkipsWhatWasApplied(t *testing.T) {
	off := func(o int64) []byte { return (OffsetValue{Offset: o, LeaderEpoch: -1}).Encode() }
	recs := []recordbatch.Record{
		rec(0, 1, OffsetKey("g", "t", 0), off(1)),
		rec(1, 1, OffsetKey("g", "t", 0), off(2)),
		rec(2, 1, OffsetKey("g", "t", 0), off(3)),
	}
	b, err := recordbatch.Encode(recs, recordbatch.EncodeOptions{KeepOffsets: true})
	if err != nil {
		t.Fatal(err)
	}
	s := NewState()
	s.NextOffset = 2
	if n, err := s.ApplyBatches(b, 1<<20); err != nil || n != 1 {
		t.Fatalf("ApplyBatches = %d, %v; want 1 record", n, err)
	}
	if s.Applied != 1 || s.NextOffset != 3 {
		t.Fatalf("applied %d next %d", s.Applied, s.NextOffset)
	}
}
