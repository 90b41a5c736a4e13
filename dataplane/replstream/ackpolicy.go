package replstream

import "time"

// The follower's ack rule (AckBatcher): acks go out when the follower has
// read everything whole that arrived (Conn.Buffered is 0), and, while it
// works off a backlog, at least every AckEveryBytes of appended records
// and every AckEveryDelay. Without the bounds a follower that fell behind
// (a GC pause, a slow write, a descheduled process) would ack nothing until
// it had drained the whole backlog, holding the leader's high watermark,
// and every acks=all produce behind it, for that long.
const (
	AckEveryBytes = 256 << 10
	AckEveryDelay = time.Millisecond
)

// AckBatcher collects a follower's acks between sends. Not safe for
// concurrent use; the goroutine that calls Conn.Next owns it.
type AckBatcher struct {
	acks  []Ack
	index map[uint32]int // SID -> position in acks
	bytes int
	first time.Time // when the oldest pending ack was added
}

// Add records an ack for an append of n bytes.
func (b *AckBatcher) Add(a Ack, n int) {
	if len(b.acks) == 0 {
		b.first = time.Now()
	}
	b.bytes += n
	// A partition acked again replaces its pending ack: the leader needs
	// only the newest log end offset.
	if i, ok := b.index[a.SID]; ok {
		b.acks[i] = a
		return
	}
	if b.index == nil {
		b.index = make(map[uint32]int)
	}
	b.index[a.SID] = len(b.acks)
	b.acks = append(b.acks, a)
}

// Due reports whether the pending acks should be sent now, given the bytes
// of whole frames still buffered (Conn.Buffered).
func (b *AckBatcher) Due(buffered int) bool {
	if len(b.acks) == 0 {
		return false
	}
	return buffered == 0 || b.bytes >= AckEveryBytes || time.Since(b.first) >= AckEveryDelay
}

// Take returns the pending acks and starts a new batch. The slice is
// reused by the next Add: send it before adding more.
func (b *AckBatcher) Take() []Ack {
	out := b.acks
	b.acks, b.bytes = b.acks[:0], 0
	clear(b.index)
	return out
}
