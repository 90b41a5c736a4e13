package offsetindex

import (
	"testing"
)

func TestOffsetsLookup(t *testing.T) {
	ix := NewOffsets(1000)
	for _, e := range []OffsetEntry{{1010, 4096}, {1020, 8200}, {1020, 9000}, {1015, 9500}, {1030, 8000}, {1040, 12300}} {
		ix.Append(e.Offset, e.Position)
	}
	if ix.Len() != 3 {
		t.Fatalf("len %d, want 3 (out-of-order entries ignored)", ix.Len())
	}
	cases := []struct {
		off  int64
		want OffsetEntry
	}{
		{999, OffsetEntry{1000, 0}}, {1000, OffsetEntry{1000, 0}}, {1009, OffsetEntry{1000, 0}},
		{1010, OffsetEntry{1010, 4096}}, {1019, OffsetEntry{1010, 4096}}, {1020, OffsetEntry{1020, 8200}},
		{1039, OffsetEntry{1020, 8200}}, {5000, OffsetEntry{1040, 12300}},
	}
	for _, c := range cases {
		if got := ix.Lookup(c.off); got != c.want {
			t.Errorf("Lookup(%d) = %+v, want %+v", c.off, got, c.want)
		}
	}
	if got := ix.LookupPosition(8199); got != (OffsetEntry{1010, 4096}) {
		t.Errorf("LookupPosition = %+v", got)
	}
	p, err := ParseOffsets(1000, append([]byte(nil), ix.Bytes()...), 20000)
	if err != nil || p.Len() != 3 {
		t.Fatalf("parse: %v", err)
	}
	if _, err := ParseOffsets(1000, ix.Bytes(), 12300); err == nil {
		t.Fatal("accepted a position beyond the segment")
	}
	if _, err := ParseOffsets(1000, ix.Bytes()[:7], 20000); err == nil {
		t.Fatal("accepted a partial entry")
	}
	bad := append([]byte(nil), ix.Bytes()...)
	copy(bad[8:], bad[:8]) // entry 1 == entry 0
	if _, err := ParseOffsets(1000, bad, 20000); err == nil {
		t.Fatal("accepted a repeated entry")
	}
	ix.TruncateFromPosition(8200)
	if ix.Len() != 1 {
		t.Fatalf("truncate left %d", ix.Len())
	}
	if ix.Fits(999, 0) || ix.Fits(1000+1<<32, 0) || !ix.Fits(1000+1<<32-1, 1<<32-1) {
		t.Fatal("Fits wrong")
	}
}

func TestTimesLookup(t *testing.T) {
	ix := NewTimes(0)
	ix.Append(100, 5)
	ix.Append(100, 9) // not larger: ignored
	ix.Append(200, 10)
	ix.Append(150, 20) // smaller: ignored
	ix.Append(300, 30)
	if ix.Len() != 3 {
		t.Fatalf("len %d", ix.Len())
	}
	if _, ok := ix.LookupBefore(100); ok {
		t.Fatal("found an entry before the first timestamp")
	}
	if e, ok := ix.LookupBefore(101); !ok || e != (TimeEntry{100, 5}) {
		t.Fatalf("LookupBefore(101) = %+v %v", e, ok)
	}
	if e, _ := ix.LookupBefore(300); e != (TimeEntry{200, 10}) {
		t.Fatalf("LookupBefore(300) = %+v", e)
	}
	if e, _ := ix.LookupBefore(1 << 40); e != (TimeEntry{300, 30}) {
		t.Fatalf("LookupBefore(big) = %+v", e)
	}
	if _, err := ParseTimes(0, ix.Bytes(), 31); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTimes(0, ix.Bytes(), 30); err == nil {
		t.Fatal("accepted an offset beyond the segment")
	}
	ix.TruncateFromOffset(10)
	if ix.Len() != 1 {
		t.Fatalf("truncate left %d", ix.Len())
	}
}
