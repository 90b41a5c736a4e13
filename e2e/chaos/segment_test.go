package chaos

import (
	"testing"

	"strand.dev/client/recordbatch"
)

// TestDecodeSegment reads batches back to back, as a segment file holds
// them, up to a torn tail.
func TestDecodeSegment(t *testing.T) {
	tp := TP{"t", 2}
	var seg []byte
	next := int64(0)
	for b := 0; b < 3; b++ {
		var recs []recordbatch.Record
		for i := 0; i < 4; i++ {
			id := RecordID{Producer: 1, Seq: next}
			recs = append(recs, recordbatch.Record{Timestamp: 1, Value: EncodeValue("r", tp, id, 0)})
			next++
		}
		comp := recordbatch.None
		if b == 1 {
			comp = recordbatch.Zstd
		}
		batch, err := recordbatch.Encode(recs, recordbatch.EncodeOptions{Compression: comp, BaseOffset: int64(b * 4)})
		if err != nil {
			t.Fatal(err)
		}
		seg = append(seg, batch...)
	}
	whole := len(seg)
	for _, tc := range []struct {
		name string
		b    []byte
		want int
	}{
		{"whole", seg[:whole], 12},
		{"torn batch", append(append([]byte(nil), seg[:whole]...), seg[:30]...), 12},
		{"preallocated zeros", append(append([]byte(nil), seg[:whole]...), make([]byte, 100)...), 12},
		{"cut in the middle", seg[:whole-5], 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := decodeSegment(tc.b, "r", tp)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != tc.want {
				t.Fatalf("%d entries, want %d", len(entries), tc.want)
			}
			for i, e := range entries {
				if !e.Valid || e.Offset != int64(i) || e.ID != (RecordID{1, int64(i)}) {
					t.Errorf("entry %d: %+v", i, e)
				}
			}
		})
	}
	// A record of another run or partition is not valid.
	if e := entryOf("other", tp, 0, EncodeValue("r", tp, RecordID{1, 0}, 0)); e.Valid {
		t.Error("a record of another run counted as this run's")
	}
	if e := entryOf("r", TP{"t", 3}, 0, EncodeValue("r", tp, RecordID{1, 0}, 0)); e.Valid {
		t.Error("a record of another partition counted as this one's")
	}
}
