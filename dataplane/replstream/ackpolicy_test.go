package replstream

import (
	"testing"
	"time"
)

func TestAckBatcher(t *testing.T) {
	var b AckBatcher
	if b.Due(0) {
		t.Fatal("due with nothing pending")
	}
	b.Add(Ack{SID: 1, Gen: 1, LogEndOffset: 10}, 1000)
	if !b.Due(0) {
		t.Fatal("not due with nothing buffered")
	}
	if b.Due(500) {
		t.Fatal("due with a whole frame buffered, 1000 bytes pending and no time passed")
	}
	// The same partition again replaces its ack; another adds one.
	b.Add(Ack{SID: 1, Gen: 1, LogEndOffset: 20}, 1000)
	b.Add(Ack{SID: 2, Gen: 3, LogEndOffset: 5}, 1000)
	got := b.Take()
	want := []Ack{{SID: 1, Gen: 1, LogEndOffset: 20}, {SID: 2, Gen: 3, LogEndOffset: 5}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Take() = %+v, want %+v", got, want)
	}
	if b.Due(0) {
		t.Fatal("due right after Take")
	}
	// A backlog: due by bytes while frames stay buffered.
	for i := range AckEveryBytes / (64 << 10) {
		if b.Due(1) {
			t.Fatalf("due after %d KiB", i*64)
		}
		b.Add(Ack{SID: 1, Gen: 1, LogEndOffset: int64(100 + i)}, 64<<10)
	}
	if !b.Due(1) {
		t.Fatalf("not due after %d bytes", AckEveryBytes)
	}
	b.Take()
	// Due by age while frames stay buffered.
	b.Add(Ack{SID: 3, Gen: 1, LogEndOffset: 1}, 10)
	deadline := time.Now().Add(10 * time.Second)
	for !b.Due(1) {
		if time.Now().After(deadline) {
			t.Fatalf("not due %v after the first pending ack", AckEveryDelay)
		}
		time.Sleep(100 * time.Microsecond)
	}
	if got := b.Take(); len(got) != 1 || got[0].SID != 3 {
		t.Fatalf("Take() = %+v", got)
	}
}
