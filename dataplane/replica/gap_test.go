package replica

import (
	"context"
	"testing"
	"time"

	"strand.dev/client/wire"
)

// A producer's request that overtook its predecessor on another connection
// waits for it instead of being refused; a batch beyond a gap that nothing
// fills is refused after gapWait.
func TestIdempotentBatchAheadWaitsForTheOneBefore(t *testing.T) {
	meta := &fakeMeta{isr: []int32{1}}
	n1 := startNode(t, 1, meta, 10*time.Second)
	assign(t, meta, n1, 1, n1)
	send := func(b []byte) (AppendResult, error) {
		return n1.rm.Append(context.Background(), AppendRequest{Topic: "t", Partition: 0, Acks: AcksLeader, Timeout: 10 * time.Second, Batches: b})
	}
	type answer struct {
		res AppendResult
		err error
	}
	ahead := make(chan answer, 1)
	go func() {
		res, err := send(idemBatch(7, 0, 5, 5))
		ahead <- answer{res, err}
	}()
	p := part(t, n1)
	waitFor(t, "the batch ahead waits", func() bool {
		p.prod.mu.Lock()
		defer p.prod.mu.Unlock()
		return p.prod.changed != nil
	})
	first, err := send(idemBatch(7, 0, 0, 5))
	if err != nil || first.BaseOffset != 0 {
		t.Fatalf("the batch before: %+v %v", first, err)
	}
	a := <-ahead
	if a.err != nil || a.res.BaseOffset != 5 || a.res.LastOffset != 9 {
		t.Fatalf("the batch ahead: %+v %v", a.res, a.err)
	}
	start := time.Now()
	if _, err := send(idemBatch(7, 0, 20, 1)); codeOf(err) != wire.CodeOutOfOrderSequenceNumber {
		t.Fatalf("a gap nothing fills: %v", err)
	}
	if took := time.Since(start); took < gapWait {
		t.Fatalf("refused after %v, before gapWait %v", took, gapWait)
	}
	if leo := p.log.EndOffset(); leo != 10 {
		t.Fatalf("log end %d, want 10", leo)
	}
}
