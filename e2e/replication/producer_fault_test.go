package replication

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"strand.dev/client/partitioner"
	"strand.dev/client/producer"
	"strand.dev/client/record"
)

// ledger is what the client producer's callbacks reported, per partition.
type ledger struct {
	topic string

	mu     sync.Mutex
	next   []int64           // the next sequence number to send, per partition
	acked  []map[int64]int64 // sequence number -> offset the callback gave
	failed []map[int64]error // sequence number -> error the callback gave
	order  [][]int64         // acknowledged sequence numbers in callback order
}

func newLedger(topic string, parts int32) *ledger {
	l := &ledger{topic: topic, next: make([]int64, parts), acked: make([]map[int64]int64, parts),
		failed: make([]map[int64]error, parts), order: make([][]int64, parts)}
	for p := range parts {
		l.acked[p], l.failed[p] = map[int64]int64{}, map[int64]error{}
	}
	return l
}

// value is the record value of a partition's sequence number seq (seqOf
// reads it back).
func (l *ledger) value(p int32, seq int64) []byte {
	return []byte(fmt.Sprintf("%s-%d-%010d|%s", l.topic, p, seq, strings.Repeat("c", 100)))
}

// ackedIn is how many records of a partition were acknowledged.
func (l *ledger) ackedIn(p int32) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked[p])
}

// clientWorkload sends sequence-numbered records to every partition of a
// topic with the client library's producer until stop is called, keeping at
// most window records outstanding. Records of a partition are sent in
// sequence-number order.
func clientWorkload(t *testing.T, p *producer.Producer, l *ledger, parts int32, window int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sem := make(chan struct{}, window)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			part := int32(i) % parts
			l.mu.Lock()
			seq := l.next[part]
			l.next[part]++
			l.mu.Unlock()
			r := &record.Record{Topic: l.topic, Partition: part, Value: l.value(part, seq)}
			p.Send(context.Background(), r, func(r *record.Record, err error) {
				defer func() { <-sem }()
				l.mu.Lock()
				defer l.mu.Unlock()
				if err != nil {
					l.failed[part][seq] = err
					return
				}
				l.acked[part][seq] = r.Offset
				l.order[part] = append(l.order[part], seq)
			})
		}
	}()
	return func() {
		cancel()
		<-done
		fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer fcancel()
		if err := p.Flush(fctx); err != nil {
			t.Errorf("flush: %v", err)
		}
	}
}

// producerUnderKills runs the client producer against a 4-partition RF=3
// topic while the leader of one partition after another is SIGKILLed and
// restarted, then returns the ledger, the partitions' logs and the
// producer's stats.
func producerUnderKills(t *testing.T, topic string, opts ...producer.Option) (*cluster, *ledger, [][]consumed, producer.Stats) {
	c := startCluster(t, clusterOptions{})
	const parts = int32(4)
	c.createTopic(topic, parts, 3, map[string]string{"min.insync.replicas": "2"})
	c.waitFullISR(topic, 60*time.Second)
	var boot []string
	for _, d := range c.data {
		boot = append(boot, d.addr)
	}
	base := []producer.Option{
		producer.Bootstrap(boot...),
		producer.RequiredAcks(producer.AcksAll),
		producer.WithPartitioner(partitioner.Manual()),
		producer.Linger(2 * time.Millisecond),
		producer.BatchSize(4 << 10),
		producer.RequestTimeout(5 * time.Second),
		producer.DeliveryTimeout(5 * time.Minute),
		producer.MaxBlock(time.Minute),
		producer.RetryBackoff(20*time.Millisecond, 500*time.Millisecond),
		producer.MetadataMaxAge(2 * time.Second),
	}
	p, err := producer.New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	l := newLedger(topic, parts)
	stop := clientWorkload(t, p, l, parts, 4000)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	for r := range rounds("STRAND_E2E_PRODUCER_KILLS", 8) {
		part := int32(r) % parts
		rec := partition(c.image(), topic, part)
		n := l.ackedIn(part)
		victim := c.node(rec.Leader)
		t.Logf("round %d: SIGKILL node %d, the leader of %s-%d (%d of its records acknowledged so far)", r, victim.id, topic, part, n)
		victim.kill()
		c.eventually(60*time.Second, fmt.Sprintf("round %d: acknowledgements after the kill", r), func() error {
			if got := l.ackedIn(part); got < n+500 {
				return fmt.Errorf("%d of %s-%d acknowledged since the kill", got-n, topic, part)
			}
			return nil
		})
		c.restart(victim)
		c.waitFullISR(topic, 120*time.Second)
	}
	stop()
	stopped = true
	c.waitFullISR(topic, 120*time.Second)
	c.waitCaughtUp(topic, 120*time.Second)
	logs := make([][]consumed, parts)
	for part := range parts {
		logs[part] = c.readAll(topic, part)
		c.checkReplicasIdentical(topic, part)
	}
	return c, l, logs, p.Stats()
}

// checkAcknowledged checks that every record a callback reported delivered
// is in the log at the offset the callback gave, that callbacks of a
// partition ran in send order, and that the log holds only records that
// were sent.
func (l *ledger) checkAcknowledged(t *testing.T, part int32, got []consumed) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	at := make(map[int64]int64, len(got)) // offset -> sequence number
	for _, r := range got {
		if r.seq < 0 || r.seq >= l.next[part] {
			t.Fatalf("%s-%d: offset %d holds sequence number %d, never sent", l.topic, part, r.offset, r.seq)
		}
		at[r.offset] = r.seq
	}
	for seq, off := range l.acked[part] {
		s, ok := at[off]
		if !ok || s != seq {
			t.Fatalf("%s-%d: record %d was reported delivered at offset %d, which holds %d (present %v)", l.topic, part, seq, off, s, ok)
		}
	}
	for i := 1; i < len(l.order[part]); i++ {
		if l.order[part][i] <= l.order[part][i-1] {
			t.Fatalf("%s-%d: callback of record %d after that of %d", l.topic, part, l.order[part][i], l.order[part][i-1])
		}
	}
}

// TestClientProducerLeaderKills: the client library's idempotent producer
// (acks=all, five requests in flight per partition) writes to four RF=3
// partitions while their leaders are SIGKILLed and restarted one after
// another. Every record is acknowledged, each is in its partition exactly
// once and in the order sent, at the offset its callback reported.
func TestClientProducerLeaderKills(t *testing.T) {
	const topic = "client-idem"
	_, l, logs, st := producerUnderKills(t, topic, producer.Idempotence(true))
	for part, got := range logs {
		part := int32(part)
		l.checkAcknowledged(t, part, got)
		l.mu.Lock()
		sent, failed := l.next[part], len(l.failed[part])
		var firstErr error
		for _, err := range l.failed[part] {
			firstErr = err
			break
		}
		l.mu.Unlock()
		if failed > 0 {
			t.Fatalf("%s-%d: %d records failed (within a 5-minute delivery timeout), e.g. %v", topic, part, failed, firstErr)
		}
		if int64(len(got)) != sent {
			t.Fatalf("%s-%d: %d records in the log, %d sent and acknowledged", topic, part, len(got), sent)
		}
		for i, r := range got {
			if r.seq != int64(i) {
				t.Fatalf("%s-%d: record %d (offset %d) is sequence number %d: duplicated, lost or out of order", topic, part, i, r.offset, r.seq)
			}
		}
		t.Logf("%s-%d: %d records sent, acknowledged and in the log exactly once, in order", topic, part, sent)
	}
	t.Logf("producer: %d requests, %d retries, %d sequence restarts, %d producer ids", st.Requests, st.Retries, st.SequenceResets, st.ProducerIDs)
	if st.Retries == 0 {
		t.Fatal("no retries: the kills did not reach the producer")
	}
}

// TestClientProducerLeaderKillsAtLeastOnce: the same without idempotence
// (one request in flight per partition): nothing acknowledged is lost and
// order holds (a retried batch may be in the log twice).
func TestClientProducerLeaderKillsAtLeastOnce(t *testing.T) {
	const topic = "client-plain"
	_, l, logs, st := producerUnderKills(t, topic, producer.Idempotence(false))
	dups := 0
	for part, got := range logs {
		part := int32(part)
		l.checkAcknowledged(t, part, got)
		seen := map[int64]bool{}
		var prev int64 = -1
		for _, r := range got {
			if seen[r.seq] {
				dups++
				continue
			}
			seen[r.seq] = true
			if r.seq < prev {
				t.Fatalf("%s-%d: offset %d holds %d, first written after %d: order broken", topic, part, r.offset, r.seq, prev)
			}
			prev = r.seq
		}
		l.mu.Lock()
		acked, failed := len(l.acked[part]), len(l.failed[part])
		l.mu.Unlock()
		t.Logf("%s-%d: %d acknowledged all present (%d failed, %d records in the log)", topic, part, acked, failed, len(got))
	}
	t.Logf("producer: %d requests, %d retries; %d records in the logs twice (at-least-once)", st.Requests, st.Retries, dups)
	if st.Retries == 0 {
		t.Fatal("no retries: the kills did not reach the producer")
	}
}
