package replica

import (
	"context"
	"testing"
	"time"

	"strand.dev/client/wire"
	"strand.dev/dataplane/producerstate"
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

// Snapshots of the producer state are written while appends go on (the
// write and its fsyncs happen outside the lock appends take) and with
// truncations in between; every snapshot still describes the log at its
// offset, so a table rebuilt from the newest one and the log agrees with
// the live one.
func TestProducerSnapshotsWhileAppending(t *testing.T) {
	meta := &fakeMeta{isr: []int32{1}}
	n1 := startNode(t, 1, meta, 10*time.Second)
	assign(t, meta, n1, 1, n1)
	p := part(t, n1)
	const batches = 300
	stop, done := make(chan struct{}), make(chan struct{})
	snaps := 0
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := p.snapshotProducers(true); err != nil {
				t.Errorf("snapshot: %v", err)
				return
			}
			snaps++
		}
	}()
	for i := range batches {
		_, err := n1.rm.Append(context.Background(), AppendRequest{Topic: "t", Partition: 0, Acks: AcksLeader, Timeout: 10 * time.Second,
			Batches: idemBatch(7, 0, int32(i*5), 5)})
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	close(stop)
	<-done
	if err := p.snapshotProducers(true); err != nil {
		t.Fatal(err)
	}
	rebuilt, err := producerstate.Rebuild(p.log, 1000)
	if err != nil {
		t.Fatal(err)
	}
	next := producerstate.Incoming{ProducerID: 7, FirstSeq: batches * 5, LastSeq: batches*5 + 4}
	retry := producerstate.Incoming{ProducerID: 7, FirstSeq: (batches - 1) * 5, LastSeq: batches*5 - 1}
	p.prod.mu.Lock()
	defer p.prod.mu.Unlock()
	for name, tbl := range map[string]*producerstate.Table{"rebuilt": rebuilt, "live": p.prod.table} {
		if dup, err := tbl.Check(next); dup != nil || err != nil {
			t.Errorf("%s table: the next batch is a duplicate (%v) or refused (%v)", name, dup, err)
		}
		if dup, err := tbl.Check(retry); dup == nil || err != nil {
			t.Errorf("%s table: a retry of the last batch is not known as one (%v)", name, err)
		}
	}
	t.Logf("%d snapshots written during %d appends", snaps, batches)
}
