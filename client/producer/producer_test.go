package producer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"strand.dev/client/internal/fakecluster"
	"strand.dev/client/partitioner"
	"strand.dev/client/record"
	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

func newFake(t *testing.T, nodes int) *fakecluster.Cluster {
	return fakecluster.New(nodes, t.Cleanup)
}

func newProducer(t *testing.T, fc *fakecluster.Cluster, opts ...Option) *Producer {
	t.Helper()
	base := []Option{Bootstrap(fc.Addrs()...), RetryBackoff(5*time.Millisecond, 50*time.Millisecond)}
	p, err := New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// logRecords decodes a partition's stored log.
func logRecords(t *testing.T, fc *fakecluster.Cluster, topic string, p int32) []recordbatch.Record {
	t.Helper()
	b := fc.Log(topic, p)
	if len(b) == 0 {
		return nil
	}
	recs, err := recordbatch.Decode(b, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// outcome collects callbacks.
type outcome struct {
	mu   sync.Mutex
	ok   map[string]*record.Record // by value
	errs map[string]error
	seq  map[int32][]int64 // offsets per partition in callback order
}

func newOutcome() *outcome {
	return &outcome{ok: map[string]*record.Record{}, errs: map[string]error{}, seq: map[int32][]int64{}}
}

func (o *outcome) cb(r *record.Record, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.errs[string(r.Value)] = err
		return
	}
	o.ok[string(r.Value)] = r
	o.seq[r.Partition] = append(o.seq[r.Partition], r.Offset)
}

func TestProduceKeysLandOnKafkasPartitions(t *testing.T) {
	fc := newFake(t, 3)
	fc.CreateTopic("t", 6, nil)
	p := newProducer(t, fc, Linger(time.Millisecond), BatchSize(2048))
	ctx := testCtx(t)
	o := newOutcome()
	const n = 3000
	for i := 0; i < n; i++ {
		p.Send(ctx, &record.Record{Topic: "t", Key: []byte(fmt.Sprintf("key-%d", i%50)), Value: []byte(fmt.Sprintf("v%05d", i)),
			Headers: []record.Header{{Key: "h", Value: []byte{byte(i)}}}}, o.cb)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(o.errs) != 0 || len(o.ok) != n {
		t.Fatalf("%d ok, %d errors: %v", len(o.ok), len(o.errs), o.errs)
	}
	total := 0
	for part := int32(0); part < 6; part++ {
		recs := logRecords(t, fc, "t", part)
		total += len(recs)
		last := -1
		for i, r := range recs {
			if got := partitioner.KeyPartition(r.Key, 6); got != int(part) {
				t.Fatalf("key %q in partition %d, Kafka puts it in %d", r.Key, part, got)
			}
			if r.Offset != int64(i) {
				t.Fatalf("partition %d: record %d has offset %d", part, i, r.Offset)
			}
			var v int
			fmt.Sscanf(string(r.Value), "v%d", &v)
			if v <= last {
				t.Fatalf("partition %d: %s after v%05d: out of order", part, r.Value, last)
			}
			last = v
			cbRec := o.ok[string(r.Value)]
			if cbRec.Partition != part || cbRec.Offset != r.Offset {
				t.Fatalf("callback said %d@%d, log has %d@%d", cbRec.Partition, cbRec.Offset, part, r.Offset)
			}
			if len(r.Headers) != 1 || r.Headers[0].Key != "h" || r.Headers[0].Value[0] != byte(v) {
				t.Fatalf("headers %+v", r.Headers)
			}
		}
	}
	if total != n {
		t.Fatalf("log holds %d records, want %d", total, n)
	}
	st := p.Stats()
	if st.RecordsDelivered != n || st.RecordsFailed != 0 || st.BufferedBytes != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCompressionCodecs(t *testing.T) {
	for _, c := range []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
		t.Run(c.String(), func(t *testing.T) {
			fc := newFake(t, 1)
			fc.CreateTopic("t", 1, nil)
			p := newProducer(t, fc, WithCompression(c))
			var recs []*record.Record
			for i := 0; i < 200; i++ {
				recs = append(recs, &record.Record{Topic: "t", Value: []byte(strings.Repeat(fmt.Sprint(i), 50))})
			}
			if err := p.SendSync(testCtx(t), recs...); err != nil {
				t.Fatal(err)
			}
			got := logRecords(t, fc, "t", 0)
			if len(got) != 200 {
				t.Fatalf("%d records", len(got))
			}
			for i, r := range got {
				if string(r.Value) != strings.Repeat(fmt.Sprint(i), 50) {
					t.Fatalf("record %d: %q", i, r.Value)
				}
			}
			hdrs, err := recordbatch.ValidateWith(fc.Log("t", 0), recordbatch.ValidateOptions{Stored: true})
			if err != nil {
				t.Fatal(err)
			}
			if hdrs[0].Compression() != recordbatch.Compression(c) {
				t.Fatalf("batch compressed with %v", hdrs[0].Compression())
			}
		})
	}
}

func TestLingerAndBatchSize(t *testing.T) {
	fc := newFake(t, 1)
	fc.CreateTopic("t", 1, nil)
	// Each record counts 96 bytes: ten fill a 960-byte batch exactly.
	p := newProducer(t, fc, Linger(time.Hour), DeliveryTimeout(2*time.Hour), BatchSize(960))
	ctx := testCtx(t)
	var delivered atomic.Int64
	send := func(n int) {
		for i := 0; i < n; i++ {
			p.Send(ctx, &record.Record{Topic: "t", Value: make([]byte, 60)}, func(r *record.Record, err error) {
				if err == nil {
					delivered.Add(1)
				}
			})
		}
	}
	// A full batch goes at once despite the hour of linger.
	send(10)
	waitFor(t, func() bool { return delivered.Load() == 10 })
	// A batch that is not full lingers.
	send(5)
	time.Sleep(200 * time.Millisecond)
	if got := fc.EndOffset("t", 0); got != 10 {
		t.Fatalf("log end %d: a batch that is not full did not linger", got)
	}
	// Flush sends it at once.
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if delivered.Load() != 15 || fc.ProduceRequests() != 2 {
		t.Fatalf("flush: %d delivered in %d requests", delivered.Load(), fc.ProduceRequests())
	}
}

func TestLingerExpiresWithoutFlush(t *testing.T) {
	fc := newFake(t, 1)
	fc.CreateTopic("t", 1, nil)
	p := newProducer(t, fc, Linger(20*time.Millisecond))
	done := make(chan error, 1)
	p.Send(testCtx(t), &record.Record{Topic: "t", Value: []byte("x")}, func(r *record.Record, err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a lingering record was never sent")
	}
}

func TestLeaderMovesMidStream(t *testing.T) {
	fc := newFake(t, 3)
	fc.CreateTopic("t", 2, nil)
	var reqs atomic.Int64
	// Every 5th produce request moves the partition's leader first, so the
	// request lands on the old leader and is refused.
	fc.Intercept(func(node int32, w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == wire.PathProduce && reqs.Add(1)%5 == 0 {
			var part int32
			fmt.Sscan(r.URL.Query().Get(wire.ParamPartition), &part)
			fc.SetLeader("t", part, fc.Leader("t", part)%3+1)
		}
		return false
	})
	// Small requests, so that there are many and every 5th moves a leader.
	p := newProducer(t, fc, Linger(0), BatchSize(200), MaxInFlight(3), MaxRequestSize(2048))
	ctx := testCtx(t)
	o := newOutcome()
	const n = 2000
	for i := 0; i < n; i++ {
		p.Send(ctx, &record.Record{Topic: "t", Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprintf("%05d", i))}, o.cb)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(o.errs) != 0 || len(o.ok) != n {
		t.Fatalf("%d ok, %d errors: %v", len(o.ok), len(o.errs), o.errs)
	}
	if p.Stats().Retries == 0 {
		t.Fatal("no retries: the test moved no leader")
	}
	seen := map[string]bool{}
	for part := int32(0); part < 2; part++ {
		for _, r := range logRecords(t, fc, "t", part) {
			if seen[string(r.Value)] {
				t.Fatalf("record %s written twice", r.Value)
			}
			seen[string(r.Value)] = true
			if cb := o.ok[string(r.Value)]; cb.Offset != r.Offset || cb.Partition != part {
				t.Fatalf("record %s: callback %d@%d, log %d@%d", r.Value, cb.Partition, cb.Offset, part, r.Offset)
			}
		}
	}
	if len(seen) != n {
		t.Fatalf("log has %d records, want %d", len(seen), n)
	}
}

// With one request in flight per partition, records of a key stay in order
// across retries.
func TestOrderKeptAcrossRetries(t *testing.T) {
	fc := newFake(t, 1)
	fc.CreateTopic("t", 1, nil)
	var reqs atomic.Int64
	fc.Intercept(func(node int32, w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == wire.PathProduce && reqs.Add(1)%3 == 0 {
			body, status := wire.MarshalError(wire.Errorf(wire.CodeNotEnoughReplicas, "injected"))
			w.WriteHeader(status)
			w.Write(body)
			return true
		}
		return false
	})
	p := newProducer(t, fc, Linger(0), BatchSize(100))
	ctx := testCtx(t)
	o := newOutcome()
	for i := 0; i < 500; i++ {
		p.Send(ctx, &record.Record{Topic: "t", Value: []byte(fmt.Sprintf("%05d", i))}, o.cb)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(o.errs) != 0 {
		t.Fatalf("errors: %v", o.errs)
	}
	for i, r := range logRecords(t, fc, "t", 0) {
		if string(r.Value) != fmt.Sprintf("%05d", i) {
			t.Fatalf("offset %d holds %s: order broken", i, r.Value)
		}
	}
	offs := o.seq[0]
	for i := 1; i < len(offs); i++ {
		if offs[i] != offs[i-1]+1 {
			t.Fatalf("callbacks out of order: %v", offs[max(0, i-3):i+1])
		}
	}
}

func TestNodeDownThenBack(t *testing.T) {
	fc := newFake(t, 1)
	fc.CreateTopic("t", 1, nil)
	p := newProducer(t, fc)
	ctx := testCtx(t)
	// Warm the metadata, then stop the node.
	if err := p.SendSync(ctx, &record.Record{Topic: "t", Value: []byte("first")}); err != nil {
		t.Fatal(err)
	}
	fc.SetStopped(1, true)
	o := newOutcome()
	for i := 0; i < 10; i++ {
		p.Send(ctx, &record.Record{Topic: "t", Value: []byte(fmt.Sprint(i))}, o.cb)
	}
	waitFor(t, func() bool { return p.Stats().Retries >= 2 })
	fc.SetStopped(1, false)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(o.ok) != 10 || len(o.errs) != 0 {
		t.Fatalf("%d ok, errors %v", len(o.ok), o.errs)
	}
	if n := len(logRecords(t, fc, "t", 0)); n != 11 {
		t.Fatalf("log has %d records, want 11", n)
	}
}

func TestDeliveryTimeoutReportsNothingDelivered(t *testing.T) {
	fc := newFake(t, 1)
	fc.CreateTopic("t", 1, nil)
	p := newProducer(t, fc, RequestTimeout(200*time.Millisecond), DeliveryTimeout(time.Second))
	ctx := testCtx(t)
	if err := p.SendSync(ctx, &record.Record{Topic: "t", Value: []byte("warm")}); err != nil {
		t.Fatal(err)
	}
	fc.SetStopped(1, true)
	o := newOutcome()
	start := time.Now()
	for i := 0; i < 20; i++ {
		p.Send(ctx, &record.Record{Topic: "t", Value: []byte(fmt.Sprint(i))}, o.cb)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("took %v with a 1s delivery timeout", took)
	}
	if len(o.ok) != 0 || len(o.errs) != 20 {
		t.Fatalf("%d reported delivered, %d failed", len(o.ok), len(o.errs))
	}
	for _, err := range o.errs {
		if !errors.Is(err, ErrDeliveryTimeout) {
			t.Fatalf("error %v, want ErrDeliveryTimeout", err)
		}
	}
	if n := len(logRecords(t, fc, "t", 0)); n != 1 {
		t.Fatalf("log has %d records", n)
	}
}

func TestGarbageAnswerIsNotDelivery(t *testing.T) {
	fc := newFake(t, 1)
	fc.CreateTopic("t", 1, nil)
	fc.Intercept(func(node int32, w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == wire.PathProduce {
			w.Write([]byte("<html>I am not a Strand node</html>"))
			return true
		}
		return false
	})
	p := newProducer(t, fc, RequestTimeout(time.Second), DeliveryTimeout(3*time.Second))
	err := p.SendSync(testCtx(t), &record.Record{Topic: "t", Value: []byte("x")})
	if !errors.Is(err, ErrDeliveryTimeout) || !strings.Contains(err.Error(), "not Strand's protocol") {
		t.Fatalf("want a delivery timeout naming the garbage, got %v", err)
	}
}

func TestNonRetriableErrorFailsAtOnce(t *testing.T) {
	fc := newFake(t, 1)
	fc.CreateTopic("t", 1, nil)
	var reqs atomic.Int64
	fc.Intercept(func(node int32, w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == wire.PathProduce {
			reqs.Add(1)
			body, status := wire.MarshalError(wire.Errorf(wire.CodeInvalidRecord, "injected"))
			w.WriteHeader(status)
			w.Write(body)
			return true
		}
		return false
	})
	p := newProducer(t, fc)
	err := p.SendSync(testCtx(t), &record.Record{Topic: "t", Value: []byte("x")})
	if !errors.Is(err, wire.ErrInvalidRecord) {
		t.Fatalf("got %v", err)
	}
	if reqs.Load() != 1 {
		t.Fatalf("%d requests for a non-retriable error", reqs.Load())
	}
}

func TestMessageTooLargeSplitsThenFails(t *testing.T) {
	fc := newFake(t, 1)
	fc.CreateTopic("t", 1, map[string]string{"max.message.bytes": "600"})
	p := newProducer(t, fc, Linger(time.Hour), DeliveryTimeout(2*time.Hour), BatchSize(100000))
	ctx := testCtx(t)
	o := newOutcome()
	// Ten 100-byte records: one batch of about 1.2 KB, over the topic's
	// limit; the producer splits it until the parts fit.
	for i := 0; i < 10; i++ {
		p.Send(ctx, &record.Record{Topic: "t", Value: []byte(fmt.Sprintf("%03d", i) + strings.Repeat("x", 97))}, o.cb)
	}
	// A record over the limit on its own fails.
	big := &record.Record{Topic: "t", Value: make([]byte, 700)}
	var bigErr error
	done := make(chan struct{})
	p.Send(ctx, big, func(r *record.Record, err error) { bigErr = err; close(done) })
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	if !errors.Is(bigErr, ErrRecordTooLarge) || !errors.Is(bigErr, wire.ErrMessageTooLarge) {
		t.Fatalf("oversized record: %v", bigErr)
	}
	if len(o.ok) != 10 {
		t.Fatalf("%d of 10 delivered: %v", len(o.ok), o.errs)
	}
	for i, r := range logRecords(t, fc, "t", 0) {
		if !strings.HasPrefix(string(r.Value), fmt.Sprintf("%03d", i)) {
			t.Fatalf("offset %d holds %.3s", i, r.Value)
		}
	}
}

func TestRecordOverMaxRequestSize(t *testing.T) {
	fc := newFake(t, 1)
	fc.CreateTopic("t", 1, nil)
	p := newProducer(t, fc, MaxRequestSize(4096))
	err := p.SendSync(testCtx(t), &record.Record{Topic: "t", Value: make([]byte, 5000)})
	if !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("got %v", err)
	}
}

func TestUnknownTopic(t *testing.T) {
	fc := newFake(t, 1)
	p := newProducer(t, fc, MaxBlock(300*time.Millisecond))
	start := time.Now()
	err := p.SendSync(testCtx(t), &record.Record{Topic: "nope", Value: []byte("x")})
	if !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatalf("took %v with MaxBlock 300ms", time.Since(start))
	}
}

func TestBadBootstrap(t *testing.T) {
	if _, err := New(Bootstrap("nohost")); err == nil {
		t.Fatal("a bootstrap without a port was accepted")
	}
	// Nothing listens there: Send fails within MaxBlock with a clear error.
	p, err := New(Bootstrap("127.0.0.1:1"), MaxBlock(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	err = p.SendSync(context.Background(), &record.Record{Topic: "t", Value: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "no node answered") {
		t.Fatalf("got %v", err)
	}
}

func TestManualPartitioner(t *testing.T) {
	fc := newFake(t, 2)
	fc.CreateTopic("t", 4, nil)
	p := newProducer(t, fc, WithPartitioner(partitioner.Manual()))
	ctx := testCtx(t)
	if err := p.SendSync(ctx, &record.Record{Topic: "t", Partition: 3, Key: []byte("k"), Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if n := len(logRecords(t, fc, "t", 3)); n != 1 {
		t.Fatalf("partition 3 has %d records", n)
	}
	if err := p.SendSync(ctx, &record.Record{Topic: "t", Partition: 4, Value: []byte("x")}); !errors.Is(err, ErrInvalidPartition) {
		t.Fatalf("partition 4 of 4: %v", err)
	}
}

func TestBackPressure(t *testing.T) {
	fc := newFake(t, 1)
	fc.CreateTopic("t", 1, nil)
	release := make(chan struct{})
	fc.Intercept(func(node int32, w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == wire.PathProduce {
			<-release
		}
		return false
	})
	p := newProducer(t, fc, BufferMemory(64<<10), MaxRequestSize(16<<10), Linger(0), MaxBlock(200*time.Millisecond))
	ctx := testCtx(t)
	var full error
	sent := 0
	for i := 0; i < 1000 && full == nil; i++ {
		p.Send(ctx, &record.Record{Topic: "t", Value: make([]byte, 1000)}, func(r *record.Record, err error) {
			if errors.Is(err, ErrBufferFull) {
				full = err
			}
		})
		sent++
	}
	if full == nil {
		t.Fatal("1000 KB went into a 64 KB buffer without back-pressure")
	}
	if used := p.Stats().BufferedBytes; used > 64<<10 {
		t.Fatalf("buffer holds %d bytes, limit 64 KiB", used)
	}
	close(release)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := fc.EndOffset("t", 0); got != int64(sent-1) {
		t.Fatalf("log end %d, want %d", got, sent-1)
	}
}

func TestCloseGivesUpAndFailsTheRest(t *testing.T) {
	fc := newFake(t, 1)
	fc.CreateTopic("t", 1, nil)
	p := newProducer(t, fc)
	ctx := testCtx(t)
	if err := p.SendSync(ctx, &record.Record{Topic: "t", Value: []byte("warm")}); err != nil {
		t.Fatal(err)
	}
	fc.SetStopped(1, true)
	o := newOutcome()
	for i := 0; i < 5; i++ {
		p.Send(ctx, &record.Record{Topic: "t", Value: []byte(fmt.Sprint(i))}, o.cb)
	}
	cctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := p.Close(cctx); err == nil {
		t.Fatal("Close reported success with a stopped node")
	}
	if len(o.errs) != 5 || len(o.ok) != 0 {
		t.Fatalf("%d ok, %d failed", len(o.ok), len(o.errs))
	}
	for _, err := range o.errs {
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("got %v, want ErrClosed", err)
		}
	}
	var after error
	p.Send(ctx, &record.Record{Topic: "t", Value: []byte("late")}, func(r *record.Record, err error) { after = err })
	if !errors.Is(after, ErrClosed) {
		t.Fatalf("send after close: %v", after)
	}
}

func TestAcksZero(t *testing.T) {
	fc := newFake(t, 1)
	fc.CreateTopic("t", 1, nil)
	p := newProducer(t, fc, RequiredAcks(AcksNone))
	r := &record.Record{Topic: "t", Value: []byte("x")}
	if err := p.SendSync(testCtx(t), r); err != nil {
		t.Fatal(err)
	}
	if r.Offset != -1 {
		t.Fatalf("acks=0 reported offset %d", r.Offset)
	}
}

func TestOptionValidation(t *testing.T) {
	for _, c := range []struct {
		name string
		opt  Option
	}{
		{"acks", RequiredAcks(Acks(2))},
		{"batch size", BatchSize(0)},
		{"linger", Linger(-1)},
		{"compression", WithCompression(Compression(9))},
		{"max request", MaxRequestSize(10)},
		{"buffer below request", BufferMemory(1000)},
		{"max block", MaxBlock(0)},
		{"delivery below request timeout", DeliveryTimeout(time.Second)},
		{"retries", Retries(-1)},
		{"in flight", MaxInFlight(0)},
		{"partitioner", WithPartitioner(nil)},
		{"bootstrap", Bootstrap()},
		{"bootstrap port", Bootstrap("127.0.0.1:99999")},
		{"backoff", RetryBackoff(time.Second, time.Millisecond)},
	} {
		if _, err := New(c.opt); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	for _, c := range []struct {
		name string
		opts []Option
	}{
		{"idempotence with acks=1", []Option{Idempotence(true), RequiredAcks(AcksLeader)}},
		{"idempotence with acks=0", []Option{Idempotence(true), RequiredAcks(AcksNone)}},
		{"idempotence without retries", []Option{Idempotence(true), Retries(0)}},
		{"idempotence with 6 in flight", []Option{Idempotence(true), MaxInFlight(6)}},
	} {
		if _, err := New(c.opts...); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	p, err := New()
	if err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	p.Close(context.Background())
}

func TestParsers(t *testing.T) {
	for in, want := range map[string]Acks{"all": AcksAll, "-1": AcksAll, "0": AcksNone, "1": AcksLeader} {
		if got, err := ParseAcks(in); err != nil || got != want {
			t.Errorf("ParseAcks(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseAcks("2"); err == nil {
		t.Error("ParseAcks(2) accepted")
	}
	for _, c := range []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
		if got, err := ParseCompression(c.String()); err != nil || got != c {
			t.Errorf("ParseCompression(%q) = %v, %v", c, got, err)
		}
	}
	if _, err := ParseCompression("brotli"); err == nil {
		t.Error("brotli accepted")
	}
}
