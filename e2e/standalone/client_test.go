package standalone

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"strand.dev/client/admin"
	"strand.dev/client/consumer"
	"strand.dev/client/producer"
	"strand.dev/client/record"
	"strand.dev/client/wire"
	"strand.dev/e2e/harness"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func createTopic(t *testing.T, addr, name string, parts int32, configs map[string]string) {
	t.Helper()
	adm, err := admin.New(admin.Bootstrap(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := adm.CreateTopic(ctxFor(t, 60*time.Second), admin.NewTopic{Name: name, Partitions: parts, ReplicationFactor: 1, Configs: configs}); err != nil {
		t.Fatal(err)
	}
}

// Every codec round-trips through a real node: values, keys, headers and
// timestamps come back as sent.
func TestCompressionRoundTrip(t *testing.T) {
	node := harness.StartStandalone(t, binary(t, "strand-data"), 1)
	for _, codec := range []producer.Compression{producer.CompressionNone, producer.CompressionGzip,
		producer.CompressionSnappy, producer.CompressionLZ4, producer.CompressionZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			topic := "c-" + codec.String()
			createTopic(t, node.Addr, topic, 1, nil)
			p, err := producer.New(producer.Bootstrap(node.Addr), producer.WithCompression(codec), producer.BatchSize(4096))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			ts := time.UnixMilli(time.Now().UnixMilli() - 1000)
			var recs []*record.Record
			for i := 0; i < 500; i++ {
				recs = append(recs, &record.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte(strings.Repeat(fmt.Sprint(i), 30)),
					Headers: []record.Header{{Key: "n", Value: []byte(fmt.Sprint(i))}}, Timestamp: ts})
			}
			if err := p.SendSync(ctxFor(t, 60*time.Second), recs...); err != nil {
				t.Fatal(err)
			}
			c, err := consumer.New(consumer.Bootstrap(node.Addr), consumer.AutoOffsetReset(consumer.ResetEarliest))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Assign(consumer.TopicPartition{Topic: topic})
			got := poll(t, c, 500)
			for i, r := range got {
				if r.Offset != int64(i) || string(r.Key) != fmt.Sprint(i) || string(r.Value) != strings.Repeat(fmt.Sprint(i), 30) ||
					len(r.Headers) != 1 || string(r.Headers[0].Value) != fmt.Sprint(i) || !r.Timestamp.Equal(ts) {
					t.Fatalf("record %d came back as %+v", i, r)
				}
			}
		})
	}
}

func poll(t *testing.T, c *consumer.Consumer, n int) []*record.Record {
	t.Helper()
	ctx := ctxFor(t, 90*time.Second)
	var out []*record.Record
	for len(out) < n {
		recs, err := c.Poll(ctx)
		if err != nil {
			t.Fatalf("after %d of %d records: %v", len(out), n, err)
		}
		out = append(out, recs...)
	}
	return out
}

// The consumer's reset policies and typed errors against a real node.
func TestConsumerOffsetsAndErrors(t *testing.T) {
	node := harness.StartStandalone(t, binary(t, "strand-data"), 1)
	createTopic(t, node.Addr, "o", 1, nil)
	p, err := producer.New(producer.Bootstrap(node.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	for i := 0; i < 10; i++ {
		if err := p.SendSync(ctxFor(t, 30*time.Second), &record.Record{Topic: "o", Value: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	tp := consumer.TopicPartition{Topic: "o"}
	c, err := consumer.New(consumer.Bootstrap(node.Addr), consumer.AutoOffsetReset(consumer.ResetNone))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Assign(tp)
	var noOff *consumer.NoOffsetError
	if _, err := c.Poll(ctxFor(t, 30*time.Second)); !errors.As(err, &noOff) {
		t.Fatalf("no position with ResetNone: %v", err)
	}
	c.Seek(tp, 25)
	var oor *consumer.OffsetOutOfRangeError
	if _, err := c.Poll(ctxFor(t, 30*time.Second)); !errors.As(err, &oor) || !errors.Is(err, wire.ErrOffsetOutOfRange) {
		t.Fatalf("offset 25 of 10: %v", err)
	}
	c.Seek(tp, 7)
	if got := poll(t, c, 3); got[0].Offset != 7 || string(got[2].Value) != "9" {
		t.Fatalf("from 7: %+v", got)
	}
	latest, err := consumer.New(consumer.Bootstrap(node.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer latest.Close()
	latest.Assign(tp)
	harness.Eventually(t, 30*time.Second, "latest position", func() bool { pos, _ := latest.Position(tp); return pos == 10 })
}

// A producer keeps sending with acks=all while the node is killed and
// restarted on its data: every record its callback reported delivered is in
// the log at the offset the callback gave, records of the partition keep
// their order, and a consumer reading across the restart sees the log
// exactly, without gaps or repeats.
//
// Records whose answer was lost in the kill are retried and may be written
// twice (the data plane has no producer ids yet, so produce is
// at-least-once); the test counts such duplicates and requires that only
// records that were retried have them.
func TestProducerAndConsumerAcrossNodeRestart(t *testing.T) {
	node := harness.StartStandalone(t, binary(t, "strand-data"), 1)
	createTopic(t, node.Addr, "r", 1, nil)
	p, err := producer.New(producer.Bootstrap(node.Addr), producer.Linger(time.Millisecond), producer.BatchSize(2048),
		producer.RetryBackoff(20*time.Millisecond, 200*time.Millisecond), producer.RequestTimeout(5*time.Second), producer.DeliveryTimeout(90*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())

	c, err := consumer.New(consumer.Bootstrap(node.Addr), consumer.AutoOffsetReset(consumer.ResetEarliest),
		consumer.RetryBackoff(20*time.Millisecond, 200*time.Millisecond), consumer.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Assign(consumer.TopicPartition{Topic: "r"})

	var (
		mu        sync.Mutex
		delivered = map[string]int64{} // value -> offset the callback gave
		failed    = map[string]error{}
		sent      atomic.Int64
	)
	ctx := ctxFor(t, 120*time.Second)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v := fmt.Sprintf("%06d", i)
			p.Send(ctx, &record.Record{Topic: "r", Value: []byte(v)}, func(r *record.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed[v] = err
					return
				}
				delivered[v] = r.Offset
			})
			sent.Add(1)
			if i%50 == 0 {
				time.Sleep(time.Millisecond) // about 50k records/s at most
			}
		}
	}()
	// The consumer reads all along, across the restart.
	var (
		cmu      sync.Mutex
		log      []*record.Record // guarded by cmu
		pollErrs atomic.Int64
	)
	cctx, cancelConsumer := context.WithCancel(ctx)
	defer cancelConsumer()
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for {
			recs, err := c.Poll(cctx)
			if cctx.Err() != nil {
				return
			}
			if err != nil {
				pollErrs.Add(1)
				continue
			}
			cmu.Lock()
			log = append(log, recs...)
			cmu.Unlock()
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(delivered) }
	harness.Eventually(t, 60*time.Second, "first 2000 records delivered", func() bool { return count() >= 2000 })
	node.Kill()
	node.RestartAndWait(t)
	before := count()
	harness.Eventually(t, 60*time.Second, "deliveries after the restart", func() bool { return count() >= before+2000 })
	close(stop)
	wg.Wait()
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	retries := p.Stats().Retries

	mu.Lock()
	defer mu.Unlock()
	if len(failed) > 0 {
		for v, err := range failed {
			t.Fatalf("%d records failed, e.g. %s: %v", len(failed), v, err)
		}
	}
	if int64(len(delivered)) != sent.Load() {
		t.Fatalf("%d sent, %d delivered", sent.Load(), len(delivered))
	}
	var end int64
	for _, off := range delivered {
		end = max(end, off+1)
	}
	harness.Eventually(t, 60*time.Second, "the consumer reached the end", func() bool {
		cmu.Lock()
		defer cmu.Unlock()
		return int64(len(log)) >= end
	})
	cancelConsumer()
	<-consumed
	if pollErrs.Load() > 0 {
		t.Fatalf("%d Poll errors", pollErrs.Load())
	}
	for i, r := range log {
		if r.Offset != int64(i) {
			t.Fatalf("the consumer saw offset %d at position %d: a gap or a repeat", r.Offset, i)
		}
	}
	atOffset := map[int64]string{}
	copies := map[string]int{}
	for _, r := range log {
		atOffset[r.Offset] = string(r.Value)
		copies[string(r.Value)]++
	}
	dups := 0
	for v, off := range delivered {
		if atOffset[off] != v {
			t.Fatalf("the callback put %s at offset %d, the log has %q there", v, off, atOffset[off])
		}
		if copies[v] > 1 {
			dups++
		}
	}
	// Order: values increase along the log, except where a retried batch
	// was written again.
	maxSeen := ""
	for _, r := range log {
		v := string(r.Value)
		if v < maxSeen && copies[v] == 1 {
			t.Fatalf("%s is after %s in the log: order broken", v, maxSeen)
		}
		maxSeen = max(maxSeen, v)
	}
	t.Logf("%d records delivered across the restart, %d batch retries, %d records written twice", len(delivered), retries, dups)
	if dups > 0 && retries == 0 {
		t.Fatalf("%d duplicates without a retry", dups)
	}
}
