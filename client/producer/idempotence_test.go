package producer

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"strand.dev/client/internal/fakecluster"
	"strand.dev/client/partitioner"
	"strand.dev/client/record"
	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

func TestIdempotenceDefaults(t *testing.T) {
	for _, c := range []struct {
		name     string
		opts     []Option
		idem     bool
		inFlight int
	}{
		{"defaults", nil, true, 5},
		{"acks=1", []Option{RequiredAcks(AcksLeader)}, false, 1},
		{"acks=0", []Option{RequiredAcks(AcksNone)}, false, 1},
		{"no retries", []Option{Retries(0)}, false, 1},
		{"6 in flight", []Option{MaxInFlight(6)}, false, 6},
		{"2 in flight", []Option{MaxInFlight(2)}, true, 2},
		{"switched off", []Option{Idempotence(false)}, false, 1},
		{"switched on", []Option{Idempotence(true)}, true, 5},
	} {
		p, err := New(c.opts...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if p.Idempotent() != c.idem || p.cfg.maxInFlight != c.inFlight {
			t.Errorf("%s: idempotent %v with %d in flight, want %v with %d", c.name, p.Idempotent(), p.cfg.maxInFlight, c.idem, c.inFlight)
		}
		p.Close(testCtx(t))
	}
}

// checkExactlyOnce checks that a partition holds the values want, each once
// and in order, and that every callback named the record's offset.
func checkExactlyOnce(t *testing.T, fc *fakecluster.Cluster, o *outcome, topic string, part int32, want []string) {
	t.Helper()
	recs := logRecords(t, fc, topic, part)
	if len(recs) != len(want) {
		t.Fatalf("%s-%d holds %d records, want %d", topic, part, len(recs), len(want))
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, r := range recs {
		if string(r.Value) != want[i] {
			t.Fatalf("offset %d holds %s, want %s", i, r.Value, want[i])
		}
		if cb := o.ok[want[i]]; cb == nil || cb.Offset != r.Offset {
			t.Fatalf("record %s: callback %+v, log offset %d", want[i], cb, r.Offset)
		}
	}
}

// A leader that wrote batches but whose answers were lost: the retries are
// recognised and nothing is written twice. Without idempotence the same
// losses write records twice (the test sees what it tests).
func TestIdempotentRetryAfterLostAnswer(t *testing.T) {
	for _, idem := range []bool{true, false} {
		t.Run(fmt.Sprintf("idempotence=%v", idem), func(t *testing.T) {
			fc := newFake(t, 1)
			fc.CreateTopic("t", 1, nil)
			p := newProducer(t, fc, Idempotence(idem), Linger(0), BatchSize(100))
			ctx := testCtx(t)
			fc.LoseAnswers(5)
			o := newOutcome()
			var want []string
			for i := 0; i < 300; i++ {
				v := fmt.Sprintf("%05d", i)
				want = append(want, v)
				p.Send(ctx, &record.Record{Topic: "t", Value: []byte(v)}, o.cb)
			}
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if len(o.errs) != 0 || len(o.ok) != 300 {
				t.Fatalf("%d ok, errors %v", len(o.ok), o.errs)
			}
			if p.Stats().Retries == 0 {
				t.Fatal("no retries: no answer was lost")
			}
			if !idem {
				if n := len(logRecords(t, fc, "t", 0)); n <= 300 {
					t.Fatalf("without idempotence the lost answers wrote %d records, want duplicates", n)
				}
				return
			}
			checkExactlyOnce(t, fc, o, "t", 0, want)
			hdrs, err := recordbatch.ValidateWith(fc.Log("t", 0), recordbatch.ValidateOptions{Stored: true})
			if err != nil {
				t.Fatal(err)
			}
			var seq int32
			for _, h := range hdrs {
				if h.ProducerID < 0 || h.ProducerEpoch != 0 || h.BaseSequence != seq {
					t.Fatalf("batch at %d: producer %d epoch %d sequence %d, want sequence %d", h.BaseOffset, h.ProducerID, h.ProducerEpoch, h.BaseSequence, seq)
				}
				seq += h.LastOffsetDelta + 1
			}
			if fc.ProducerIDs() != 1 {
				t.Fatalf("%d producer ids taken", fc.ProducerIDs())
			}
		})
	}
}

// Five requests in flight, answers lost, errors injected and leaders moved:
// records stay in order, each once.
func TestIdempotentOrderWithRequestsInFlight(t *testing.T) {
	fc := newFake(t, 3)
	fc.CreateTopic("t", 2, nil)
	var reqs atomic.Int64
	fc.Intercept(func(node int32, w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != wire.PathProduce {
			return false
		}
		switch n := reqs.Add(1); {
		case n%7 == 0:
			body, status := wire.MarshalError(wire.Errorf(wire.CodeNotEnoughReplicas, "injected"))
			w.WriteHeader(status)
			w.Write(body)
			return true
		case n%11 == 0:
			var part int32
			fmt.Sscan(r.URL.Query().Get(wire.ParamPartition), &part)
			fc.SetLeader("t", part, fc.Leader("t", part)%3+1)
		case n%13 == 0:
			fc.LoseAnswers(1)
		}
		return false
	})
	p := newProducer(t, fc, Linger(0), BatchSize(200), WithPartitioner(partitioner.Manual()))
	ctx := testCtx(t)
	o := newOutcome()
	want := map[int32][]string{}
	for i := 0; i < 3000; i++ {
		part := int32(i % 2)
		v := fmt.Sprintf("%d-%05d", part, i)
		want[part] = append(want[part], v)
		p.Send(ctx, &record.Record{Topic: "t", Partition: part, Value: []byte(v)}, o.cb)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(o.errs) != 0 || len(o.ok) != 3000 {
		t.Fatalf("%d ok, errors %v", len(o.ok), o.errs)
	}
	if p.Stats().Retries == 0 {
		t.Fatal("no retries")
	}
	for part := int32(0); part < 2; part++ {
		checkExactlyOnce(t, fc, o, "t", part, want[part])
		offs := o.seq[part]
		for i := 1; i < len(offs); i++ {
			if offs[i] != offs[i-1]+1 {
				t.Fatalf("partition %d: callbacks out of order: %v", part, offs[max(0, i-3):i+1])
			}
		}
	}
}

// A leader that lost the producer's state answers the next batch with
// OUT_OF_ORDER_SEQUENCE_NUMBER: the producer restarts the partition's
// sequence under a new epoch and writes the batch once.
func TestIdempotentGapRestartsSequence(t *testing.T) {
	fc := newFake(t, 1)
	fc.CreateTopic("t", 1, nil)
	p := newProducer(t, fc, Linger(0))
	ctx := testCtx(t)
	o := newOutcome()
	var want []string
	send := func(from, to int) {
		for i := from; i < to; i++ {
			v := fmt.Sprintf("%05d", i)
			want = append(want, v)
			p.Send(ctx, &record.Record{Topic: "t", Value: []byte(v)}, o.cb)
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	send(0, 50)
	fc.ForgetProducers("t", 0)
	send(50, 100)
	if len(o.errs) != 0 {
		t.Fatalf("errors %v", o.errs)
	}
	if st := p.Stats(); st.SequenceResets != 1 || st.ProducerIDs != 1 {
		t.Fatalf("stats %+v: want one sequence restart with the same producer id", st)
	}
	checkExactlyOnce(t, fc, o, "t", 0, want)
	hdrs, err := recordbatch.ValidateWith(fc.Log("t", 0), recordbatch.ValidateOptions{Stored: true})
	if err != nil {
		t.Fatal(err)
	}
	if last := hdrs[len(hdrs)-1]; last.ProducerEpoch != 1 {
		t.Fatalf("the last batch has epoch %d, want 1 after the restart", last.ProducerEpoch)
	}
}

// INVALID_PRODUCER_EPOCH: the producer takes a new producer id.
func TestIdempotentInvalidEpochTakesNewID(t *testing.T) {
	fc := newFake(t, 1)
	fc.CreateTopic("t", 1, nil)
	var once atomic.Bool
	fc.Intercept(func(node int32, w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == wire.PathProduce && once.CompareAndSwap(false, true) {
			body, status := wire.MarshalError(wire.Errorf(wire.CodeInvalidProducerEpoch, "injected"))
			w.WriteHeader(status)
			w.Write(body)
			return true
		}
		return false
	})
	p := newProducer(t, fc)
	if err := p.SendSync(testCtx(t), &record.Record{Topic: "t", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.ProducerIDs != 2 || fc.ProducerIDs() != 2 {
		t.Fatalf("stats %+v, %d ids handed out: want a second producer id", st, fc.ProducerIDs())
	}
	if n := len(logRecords(t, fc, "t", 0)); n != 1 {
		t.Fatalf("%d records", n)
	}
}

// DUPLICATE_SEQUENCE_NUMBER is success without an offset.
func TestIdempotentDuplicateSequenceIsSuccess(t *testing.T) {
	fc := newFake(t, 1)
	fc.CreateTopic("t", 1, nil)
	fc.Intercept(func(node int32, w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == wire.PathProduce {
			body, status := wire.MarshalError(wire.Errorf(wire.CodeDuplicateSequenceNumber, "injected"))
			w.WriteHeader(status)
			w.Write(body)
			return true
		}
		return false
	})
	p := newProducer(t, fc)
	r := &record.Record{Topic: "t", Value: []byte("x")}
	if err := p.SendSync(testCtx(t), r); err != nil {
		t.Fatal(err)
	}
	if r.Offset != -1 {
		t.Fatalf("offset %d, want -1 (unknown)", r.Offset)
	}
}

// A cluster that hands out no producer ids: records fail at once with the
// reason, instead of waiting for the delivery timeout.
func TestIdempotentNoProducerIDs(t *testing.T) {
	fc := newFake(t, 1)
	fc.CreateTopic("t", 1, nil)
	fc.Intercept(func(node int32, w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == wire.PathInitProducerID {
			body, status := wire.MarshalError(wire.Errorf(wire.CodeInvalidRequest, "this node hands out no producer ids"))
			w.WriteHeader(status)
			w.Write(body)
			return true
		}
		return false
	})
	p := newProducer(t, fc)
	start := time.Now()
	err := p.SendSync(testCtx(t), &record.Record{Topic: "t", Value: []byte("x")})
	if !errors.Is(err, wire.ErrInvalidRequest) || !strings.Contains(err.Error(), "producer id") {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
	if n := len(logRecords(t, fc, "t", 0)); n != 0 {
		t.Fatalf("%d records written", n)
	}
}

// A batch over the topic's limit is split; the halves get new sequence
// numbers and every record lands once, in order.
func TestIdempotentSplitRenumbers(t *testing.T) {
	fc := newFake(t, 1)
	fc.CreateTopic("t", 1, map[string]string{"max.message.bytes": "600"})
	p := newProducer(t, fc, Linger(time.Hour), DeliveryTimeout(2*time.Hour), BatchSize(100000))
	ctx := testCtx(t)
	o := newOutcome()
	var want []string
	for i := 0; i < 40; i++ {
		v := fmt.Sprintf("%03d", i) + strings.Repeat("x", 97)
		want = append(want, v)
		p.Send(ctx, &record.Record{Topic: "t", Value: []byte(v)}, o.cb)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(o.errs) != 0 {
		t.Fatalf("errors %v", o.errs)
	}
	checkExactlyOnce(t, fc, o, "t", 0, want)
	if p.Stats().SequenceResets == 0 {
		t.Fatal("no split: the batch fit the topic's limit")
	}
}
