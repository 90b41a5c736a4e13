package replication

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

// seqProducer writes sequence-numbered records to one partition with
// acks=all, one request at a time, and never sends a record twice: a
// request that fails leaves its records unacknowledged (they may or may not
// be in the log), and the next request carries new numbers. So every record
// is in the log at most once, and the acknowledged ones must all be there.
type seqProducer struct {
	c         *cluster
	topic     string
	partition int32
	batch     int           // records per request
	timeout   time.Duration // acks=all wait (timeout_ms)

	mu       sync.Mutex
	next     int64
	acked    []int64 // last sequence number of each acknowledged request
	ackedN   int
	firsts   []int64 // first sequence number of each acknowledged request
	errs     map[wire.Code]int
	lastOK   time.Time
	okAfter  []time.Time // success times (for failover timing)
	leader   int32
	attempts int
}

func newSeqProducer(c *cluster, topic string, partition int32) *seqProducer {
	return &seqProducer{c: c, topic: topic, partition: partition, batch: 10, timeout: 10 * time.Second,
		errs: map[wire.Code]int{}, leader: -1}
}

// value is the record value of sequence number seq.
func (p *seqProducer) value(seq int64) []byte {
	return []byte(fmt.Sprintf("%s-%d-%010d|%s", p.topic, p.partition, seq, strings.Repeat("v", 100)))
}

// seqOf parses a record value back.
func seqOf(v []byte) (int64, bool) {
	s := string(v)
	i := strings.IndexByte(s, '|')
	if i < 11 {
		return 0, false
	}
	n, err := strconv.ParseInt(s[i-10:i], 10, 64)
	return n, err == nil
}

// run produces until ctx ends.
func (p *seqProducer) run(ctx context.Context) {
	for ctx.Err() == nil {
		p.once(ctx)
	}
}

// once sends one request and returns its error code ("" on success).
func (p *seqProducer) once(ctx context.Context) wire.Code {
	p.mu.Lock()
	first := p.next
	p.next += int64(p.batch)
	leader := p.leader
	p.attempts++
	p.mu.Unlock()
	if leader < 0 {
		leader = p.findLeader()
		if leader < 0 {
			sleepCtx(ctx, 50*time.Millisecond)
			return wire.CodeLeaderNotAvailable
		}
	}
	recs := make([]recordbatch.Record, p.batch)
	now := time.Now().UnixMilli()
	for i := range recs {
		recs[i] = recordbatch.Record{Timestamp: now, Value: p.value(first + int64(i))}
	}
	b, err := recordbatch.Encode(recs, recordbatch.EncodeOptions{})
	if err != nil {
		panic(err)
	}
	_, code := produce(ctx, p.c.http, p.c.node(leader).addr, p.topic, p.partition, "-1", p.timeout, b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if code == "" {
		p.acked = append(p.acked, first+int64(p.batch)-1)
		p.firsts = append(p.firsts, first)
		p.ackedN += p.batch
		p.lastOK = time.Now()
		p.okAfter = append(p.okAfter, p.lastOK)
		return ""
	}
	p.errs[code]++
	p.leader = -1
	if code != wire.CodeNotEnoughReplicas && code != wire.CodeNotEnoughReplicasAfterAppend {
		p.mu.Unlock()
		sleepCtx(ctx, 20*time.Millisecond)
		p.mu.Lock()
	}
	return code
}

// findLeader reads the partition's leader from the image.
func (p *seqProducer) findLeader() int32 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	img, err := p.c.meta.Image(ctx, true)
	if err != nil {
		return -1
	}
	rec := partition(img, p.topic, p.partition)
	if rec == nil {
		return -1
	}
	p.mu.Lock()
	p.leader = rec.Leader
	p.mu.Unlock()
	return rec.Leader
}

// firstOKAfter is the first acknowledgement after t (zero if none).
func (p *seqProducer) firstOKAfter(t time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ok := range p.okAfter {
		if ok.After(t) {
			return ok
		}
	}
	return time.Time{}
}

// ackedCount is how many records were acknowledged.
func (p *seqProducer) ackedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ackedN
}

// produce sends one produce request; it returns the answer or the error's
// code (a transport failure is REQUEST_TIMED_OUT-like: NETWORK_EXCEPTION).
func produce(ctx context.Context, hc *http.Client, addr, topic string, p int32, acks string, timeout time.Duration, batch []byte) (wire.ProduceResponse, wire.Code) {
	u := fmt.Sprintf("http://%s%s?topic=%s&partition=%d&acks=%s&timeout_ms=%d", addr, wire.PathProduce, topic, p, acks, timeout.Milliseconds())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(batch))
	req.Header.Set("Content-Type", wire.ContentTypeBatch)
	resp, err := hc.Do(req)
	if err != nil {
		return wire.ProduceResponse{}, "NETWORK_EXCEPTION"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return wire.ProduceResponse{}, wire.UnmarshalError(resp.StatusCode, b).Code
	}
	var out wire.ProduceResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return out, wire.CodeUnknown
	}
	return out, ""
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// consumed is one record read back.
type consumed struct {
	offset int64
	seq    int64
}

// readAll reads a partition from its leader from the log start to the high
// watermark.
func (c *cluster) readAll(topic string, p int32) []consumed {
	c.t.Helper()
	var out []consumed
	c.eventually(60*time.Second, fmt.Sprintf("read %s-%d", topic, p), func() error {
		out = out[:0]
		img := c.image()
		rec := partition(img, topic, p)
		if rec == nil || rec.Leader < 0 {
			return errors.New("no leader")
		}
		addr := c.node(rec.Leader).addr
		hw, err := c.offsets(addr, topic, p, wire.AtLatest)
		if err != nil {
			return err
		}
		off, err := c.offsets(addr, topic, p, wire.AtEarliest)
		if err != nil {
			return err
		}
		for off < hw {
			u := fmt.Sprintf("http://%s%s?topic=%s&partition=%d&offset=%d&max_bytes=%d&max_wait_ms=0", addr, wire.PathFetch, topic, p, off, 4<<20)
			resp, err := c.http.Get(u)
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return wire.UnmarshalError(resp.StatusCode, b)
			}
			batches, err := recordbatch.DecodeBatches(b, 256<<20)
			if err != nil {
				return err
			}
			if len(batches) == 0 {
				return fmt.Errorf("empty fetch at %d below the high watermark %d", off, hw)
			}
			for _, bt := range batches {
				for i, r := range bt.Records {
					o := bt.Header.BaseOffset + int64(i)
					if o < off || o >= hw {
						continue
					}
					s, ok := seqOf(r.Value)
					if !ok {
						return fmt.Errorf("offset %d: value %q", o, r.Value)
					}
					out = append(out, consumed{offset: o, seq: s})
				}
				off = bt.Header.NextOffset()
			}
		}
		return nil
	})
	return out
}

// check verifies a partition against its producer: the records' sequence
// numbers strictly increase (each at most once, in order) and every
// acknowledged one is there.
func (p *seqProducer) check(t *testing.T, got []consumed) {
	t.Helper()
	present := make(map[int64]bool, len(got))
	var prev int64 = -1
	for i, r := range got {
		if r.seq <= prev {
			t.Fatalf("%s-%d: record %d (offset %d) has sequence %d after %d: duplicated or out of order",
				p.topic, p.partition, i, r.offset, r.seq, prev)
		}
		prev = r.seq
		present[r.seq] = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	missing := 0
	for i, last := range p.acked {
		for s := p.firsts[i]; s <= last; s++ {
			if !present[s] {
				if missing < 5 {
					t.Errorf("%s-%d: acknowledged record %d is missing", p.topic, p.partition, s)
				}
				missing++
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%s-%d: %d acknowledged records missing (of %d acknowledged, %d in the log)", p.topic, p.partition, missing, p.ackedN, len(got))
	}
	t.Logf("%s-%d: %d acknowledged records all present once and in order (%d in the log, %d requests, errors %v)",
		p.topic, p.partition, p.ackedN, len(got), p.attempts, p.errs)
}

// checkReplicasIdentical compares the replicas' log bytes up to the high
// watermark: every replica must hold exactly the leader's batches below it.
func (c *cluster) checkReplicasIdentical(topic string, p int32) {
	c.t.Helper()
	var (
		rec *wire.PartitionRecord
		hw  int64
	)
	// The controller may move the leadership back to the preferred
	// replica meanwhile: ask again.
	c.eventually(60*time.Second, fmt.Sprintf("the high watermark of %s-%d", topic, p), func() error {
		rec = partition(c.image(), topic, p)
		if rec == nil || rec.Leader < 0 {
			return errors.New("no leader")
		}
		var err error
		hw, err = c.offsets(c.node(rec.Leader).addr, topic, p, wire.AtLatest)
		return err
	})
	var ref []byte
	var refNode int32
	for _, r := range rec.Replicas {
		b := prefixBelow(c.t, replicaLog(c.t, c.node(r), topic, p), hw)
		if ref == nil {
			ref, refNode = b, r
			continue
		}
		if !bytes.Equal(ref, b) {
			c.t.Fatalf("%s-%d: replica on node %d differs from node %d below the high watermark %d (%d vs %d bytes)",
				topic, p, r, refNode, hw, len(b), len(ref))
		}
	}
	c.t.Logf("%s-%d: %d replicas byte-identical below the high watermark %d (%d bytes)", topic, p, len(rec.Replicas), hw, len(ref))
}

// prefixBelow cuts a log's bytes after the last batch that ends at or below
// hw, checking that the batches up to there are intact.
func prefixBelow(t *testing.T, b []byte, hw int64) []byte {
	t.Helper()
	pos := 0
	for pos < len(b) {
		h, err := recordbatch.ParseHeader(b[pos:])
		if err != nil || pos+h.Size() > len(b) {
			break
		}
		if h.NextOffset() > hw {
			break
		}
		pos += h.Size()
	}
	return b[:pos]
}
