package replication

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

// idemProducer writes sequence-numbered records with a producer id and
// retries every failed batch, the same bytes, until it is acknowledged: the
// leader must answer a retry of a batch it already has with its offsets
// instead of writing it twice.
type idemProducer struct {
	*seqProducer
	pid     int64
	retries int
	// fatal is why the producer stopped early (under seqProducer.mu): a
	// refusal a retry cannot get past, or a batch never acknowledged.
	fatal error
}

func initProducerID(t *testing.T, c *cluster) int64 {
	t.Helper()
	var out wire.InitProducerIDResponse
	c.eventually(30*time.Second, "a producer id", func() error {
		resp, err := c.http.Post("http://"+c.data[0].addr+wire.PathInitProducerID, wire.ContentTypeJSON, bytes.NewReader(nil))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return json.NewDecoder(resp.Body).Decode(&out)
	})
	return out.ProducerID
}

// idemGiveUp bounds how long, after ctx ends, the producer keeps retrying
// its last batch.
const idemGiveUp = 3 * time.Minute

// run sends batches until ctx ends; each is retried until acknowledged.
func (p *idemProducer) run(ctx context.Context) {
	for ctx.Err() == nil {
		p.mu.Lock()
		first := p.next
		p.next += int64(p.batch)
		p.mu.Unlock()
		recs := make([]recordbatch.Record, p.batch)
		for i := range recs {
			recs[i] = recordbatch.Record{Timestamp: time.Now().UnixMilli(), Value: p.value(first + int64(i))}
		}
		b, err := recordbatch.Encode(recs, recordbatch.EncodeOptions{Idempotent: true, ProducerID: p.pid, BaseSequence: int32(first)})
		if err != nil {
			panic(err)
		}
		var stopped time.Time
		for {
			leader := p.findLeader()
			if leader >= 0 {
				// A retry must not be cut short by ctx: the batch would be
				// left unacknowledged but maybe written, which is what
				// the plain producer tests; here every batch is resolved.
				_, code := produce(context.Background(), p.c.http, p.c.node(leader).addr, p.topic, p.partition, "-1", p.timeout, b)
				if code == "" {
					break
				}
				p.mu.Lock()
				p.errs[code]++
				p.retries++
				if code == wire.CodeOutOfOrderSequenceNumber || code == wire.CodeInvalidProducerEpoch {
					p.fatal = fmt.Errorf("producer %d: %s for the batch at sequence %d (node %d), errors before: %v", p.pid, code, first, leader, p.errs)
				}
				p.mu.Unlock()
				if code == wire.CodeOutOfOrderSequenceNumber || code == wire.CodeInvalidProducerEpoch {
					return
				}
			}
			if ctx.Err() != nil && stopped.IsZero() {
				stopped = time.Now()
			}
			if !stopped.IsZero() && time.Since(stopped) > idemGiveUp {
				p.mu.Lock()
				p.fatal = fmt.Errorf("producer %d: the batch at sequence %d was not acknowledged within %v of the stop (errors %v)", p.pid, first, idemGiveUp, p.errs)
				p.mu.Unlock()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		p.mu.Lock()
		p.acked = append(p.acked, first+int64(p.batch)-1)
		p.firsts = append(p.firsts, first)
		p.ackedN += p.batch
		p.okAfter = append(p.okAfter, time.Now())
		p.mu.Unlock()
	}
}

// stoppedEarly returns why the producer stopped before it was told to, if
// it did.
func (p *idemProducer) stoppedEarly() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fatal
}

// metricValue reads one unlabelled series from a node's /metrics (0 when
// absent).
func metricValue(c *cluster, d *dataNode, name string) float64 {
	resp, err := c.http.Get("http://" + d.addr + wire.PathMetrics)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// TestIdempotentProducerKills: idempotent producers retry every failed
// batch while partition leaders are SIGKILLed and restarted; every record
// ends up in its partition exactly once, in order, with no gap.
func TestIdempotentProducerKills(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	const topic, parts = "idem", int32(2)
	c.createTopic(topic, parts, 3, map[string]string{"min.insync.replicas": "2"})
	c.waitFullISR(topic, 60*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	prods := make([]*idemProducer, parts)
	for p := range parts {
		prods[p] = &idemProducer{seqProducer: newSeqProducer(c, topic, p), pid: initProducerID(t, c)}
		prods[p].timeout = 5 * time.Second
		wg.Add(1)
		go func() { defer wg.Done(); prods[p].run(ctx) }()
	}
	stop := func() { cancel(); wg.Wait() }
	defer stop()
	for r := range rounds("STRAND_E2E_IDEM_KILLS", 6) {
		p := int32(r) % parts
		before := partition(c.image(), topic, p)
		n := prods[p].ackedCount()
		victim := c.node(before.Leader)
		victim.kill()
		// Generous: under load a failover (lease, election, ISR) can take
		// tens of seconds on a small machine.
		c.eventually(90*time.Second, fmt.Sprintf("round %d: acknowledgements after the kill", r), func() error {
			if err := prods[p].stoppedEarly(); err != nil {
				t.Fatal(err)
			}
			if prods[p].ackedCount() < n+50 {
				return fmt.Errorf("%d acknowledged since the kill", prods[p].ackedCount()-n)
			}
			return nil
		})
		c.restart(victim)
		c.waitFullISR(topic, 120*time.Second)
	}
	stop()
	c.waitFullISR(topic, 120*time.Second)
	c.waitCaughtUp(topic, 120*time.Second)
	dups := 0.0
	for _, d := range c.data {
		dups += metricValue(c, d, "strand_data_replica_duplicate_batches_total")
	}
	t.Logf("retries the leaders recognised as duplicates (since their last restart): %.0f", dups)
	for _, prod := range prods {
		if err := prod.stoppedEarly(); err != nil {
			t.Fatal(err)
		}
	}
	for p, prod := range prods {
		got := c.readAll(topic, int32(p))
		prod.check(t, got)
		if len(got) != prod.ackedN {
			t.Fatalf("%s-%d: %d records in the log, %d acknowledged: a retried batch was written twice or a batch is missing",
				topic, p, len(got), prod.ackedN)
		}
		t.Logf("%s-%d: %d batches retried, every record once", topic, p, prod.retries)
		c.checkReplicasIdentical(topic, int32(p))
	}
}
