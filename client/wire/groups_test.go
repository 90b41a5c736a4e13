package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestOffsetsPartitionFor(t *testing.T) {
	tests := []struct {
		group string
		n     int32
		want  int32
	}{
		{"", 50, 0},
		{"hello", 50, 99162322 % 50}, // Java: "hello".hashCode() == 99162322
		{"hello", 1, 0},
		{"polygenelubricants", 50, 0}, // Java hashCode is Integer.MIN_VALUE; Kafka's abs maps it to 0
		{"Aa", 7, 2112 % 7},           // "Aa" and "BB" collide in Java
		{"BB", 7, 2112 % 7},
	}
	for _, tt := range tests {
		if got := OffsetsPartitionFor(tt.group, tt.n); got != tt.want {
			t.Errorf("OffsetsPartitionFor(%q, %d) = %d, want %d", tt.group, tt.n, got, tt.want)
		}
	}
	for _, g := range []string{"a", "group-1", "日本語", "\U0001F600"} {
		if p := OffsetsPartitionFor(g, 50); p < 0 || p >= 50 {
			t.Errorf("OffsetsPartitionFor(%q, 50) = %d, out of range", g, p)
		}
	}
}

func TestUTF16Units(t *testing.T) {
	got := utf16Units("a\U0001F600")
	want := []uint16{'a', 0xd83d, 0xde00}
	if len(got) != len(want) {
		t.Fatalf("utf16Units = %x, want %x", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("utf16Units = %x, want %x", got, want)
		}
	}
}

func TestValidateGroupID(t *testing.T) {
	for _, tt := range []struct {
		group string
		ok    bool
	}{
		{"g", true},
		{"", false},
		{strings.Repeat("x", MaxGroupIDLen), true},
		{strings.Repeat("x", MaxGroupIDLen+1), false},
	} {
		err := ValidateGroupID(tt.group)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateGroupID(len %d) = %v, want ok=%v", len(tt.group), err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("ValidateGroupID error %v is not INVALID_REQUEST", err)
		}
	}
}
