package replstream

import (
	"bufio"
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"testing/iotest"
	"time"

	"strand.dev/client/wire"
)

// TestBufferedCountsWholeFramesOnly: bytes of a frame that has not fully
// arrived do not count, since Next would wait for the network for them.
func TestBufferedCountsWholeFramesOnly(t *testing.T) {
	var stream []byte
	stream = appendPing(stream)
	stream = appendDataHeader(stream, Data{SID: 1, Gen: 1, NextOffset: 3}, 3)
	stream = append(stream, "abc"...)
	stream = appendPing(stream)
	ping := len(appendPing(nil))
	// The reader receives the first ping and all but the last byte of the
	// data frame, then the rest.
	first := len(stream) - ping - 1
	r := bufio.NewReaderSize(iotest.HalfReader(&chunks{parts: [][]byte{stream[:first], stream[first:]}}), 4096)
	c := &Conn{fr: frameReader{r: r, max: 1 << 20}}
	if _, err := r.Peek(1); err != nil { // fill from the first chunk
		t.Fatal(err)
	}
	if got := c.Buffered(); got == 0 {
		t.Fatalf("a whole ping is buffered, Buffered() = 0 (%d bytes buffered)", r.Buffered())
	}
	if _, _, err := c.fr.next(); err != nil {
		t.Fatal(err)
	}
	if r.Buffered() == 0 {
		t.Fatal("the test needs part of the data frame buffered")
	}
	if got := c.Buffered(); got != 0 {
		t.Fatalf("only part of the data frame is buffered (%d bytes), Buffered() = %d, want 0", r.Buffered(), got)
	}
	if ft, body, err := c.fr.next(); err != nil || ft != wire.ReplicaFrameData || !bytes.HasSuffix(body, []byte("abc")) {
		t.Fatalf("data frame: %v %q %v", ft, body, err)
	}
	if got := c.Buffered(); got != ping {
		t.Fatalf("a whole ping left: Buffered() = %d, want %d", got, ping)
	}
}

// chunks is a reader that returns its parts one Read at a time.
type chunks struct{ parts [][]byte }

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.parts) == 0 {
		return 0, nil
	}
	n := copy(p, c.parts[0])
	c.parts[0] = c.parts[0][n:]
	if len(c.parts[0]) == 0 {
		c.parts = c.parts[1:]
	}
	return n, nil
}

// TestAcksFlowDuringBacklog: a follower slower than the leader, acking as
// the fetcher does (whenever Buffered() is 0), acknowledges while it works
// through a backlog, not only once it has drained it: reads of a full
// socket seldom end on a frame boundary.
func TestAcksFlowDuringBacklog(t *testing.T) {
	p := newPart(t, filepath.Join(t.TempDir(), "t-0"))
	for range 256 {
		p.appendRecords(t, "x", 64, 1000) // 64 KiB batches, 16 MiB in all
	}
	size := p.log.Stats().SizeBytes
	src := &fakeSource{parts: map[string]*fakePart{"t-0": p}}
	_, addr := startServer(t, src, ServerConfig{MaxPartitionBytes: 256 << 10})
	c, err := Dial(context.Background(), addr, DialConfig{ReplicaID: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendFetch(Fetch{SID: 1, Gen: 1, LeaderEpoch: 3, Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	var got, firstAckAt int64
	frames, acks := 0, 0
	deadline := time.Now().Add(60 * time.Second)
	for got < size {
		if time.Now().After(deadline) {
			t.Fatalf("received %d of %d bytes", got, size)
		}
		f, err := c.Next()
		if err != nil {
			t.Fatal(err)
		}
		if f.Type != wire.ReplicaFrameData || len(f.Data.Records) == 0 {
			continue
		}
		got += int64(len(f.Data.Records))
		frames++
		time.Sleep(500 * time.Microsecond) // the follower's append
		if c.Buffered() == 0 {
			if acks == 0 {
				firstAckAt = got
			}
			acks++
		}
	}
	t.Logf("%d bytes in %d frames; %d ack points, the first after %d bytes", got, frames, acks, firstAckAt)
	if firstAckAt > size/2 {
		t.Fatalf("the first ack point came after %d of %d bytes", firstAckAt, size)
	}
	if acks < frames/8 {
		t.Fatalf("%d ack points for %d frames", acks, frames)
	}
}
