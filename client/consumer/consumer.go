package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"

	"strand.dev/client/internal/routing"
	"strand.dev/client/internal/transport"
	"strand.dev/client/record"
)

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String returns topic-partition.
func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

// Offsets Seek understands besides real ones.
const (
	// OffsetLatest seeks to the end of the partition (its high watermark).
	OffsetLatest int64 = -1
	// OffsetEarliest seeks to the log start offset.
	OffsetEarliest int64 = -2
)

// Consumer reads assigned partitions. It is safe for concurrent use.
//
// Goroutines: each assigned partition has a fetcher goroutine (started by
// Assign, stopped by Unassign or Close) that resolves the partition's start
// position, fetches from its leader and queues what it read. Poll runs on
// the caller's goroutine and takes records from that queue.
//
// Locks: Consumer.mu guards the assignment, the queue and every fetcher's
// position fields; it is never held across I/O.
type Consumer struct {
	cfg    config
	tr     *transport.Client
	router *routing.Router
	log    *slog.Logger

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // fetcher goroutines

	notify chan struct{} // capacity 1: the queue changed
	stats  counters

	// mu guards the fields below and the position fields of every fetcher.
	mu       sync.Mutex
	fetchers map[TopicPartition]*fetcher
	queue    []*chunk // fetched, not yet returned by Poll, in arrival order
	closed   bool
}

// chunk is the outcome of one fetch: records (or an error) for a partition.
type chunk struct {
	f       *fetcher
	gen     uint64 // the fetcher's generation when it fetched
	records []*record.Record
	next    int64 // the position after the last record of the fetch
	err     error // instead of records
}

// New returns a Consumer with nothing assigned. It does no I/O until a
// partition is assigned.
func New(opts ...Option) (*Consumer, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	tr, r, err := cfg.conn.Open()
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Consumer{
		cfg: cfg, tr: tr, router: r, log: cfg.conn.Log().With("component", "consumer"),
		ctx: ctx, cancel: cancel, notify: make(chan struct{}, 1),
		fetchers: map[TopicPartition]*fetcher{},
	}, nil
}

// Assign adds partitions to the assignment; partitions already assigned keep
// their position. A new partition starts where Seek puts it, or, without a
// Seek, where the AutoOffsetReset policy says.
func (c *Consumer) Assign(tps ...TopicPartition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	for _, tp := range tps {
		if _, ok := c.fetchers[tp]; ok {
			continue
		}
		f := newFetcher(c, tp)
		c.fetchers[tp] = f
		c.wg.Add(1)
		go f.run()
	}
	return nil
}

// assignAt assigns partitions starting at the given offsets (a negative
// offset: where the reset policy says); partitions already assigned are left
// as they are.
func (c *Consumer) assignAt(at map[TopicPartition]int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	for tp, off := range at {
		if _, ok := c.fetchers[tp]; ok {
			continue
		}
		f := newFetcher(c, tp)
		if off >= 0 {
			f.known, f.pos, f.fetchPos = true, off, off
		}
		c.fetchers[tp] = f
		c.wg.Add(1)
		go f.run()
	}
	return nil
}

// AssignTopic assigns every partition of a topic (as the cluster metadata
// lists them now) and returns them.
func (c *Consumer) AssignTopic(ctx context.Context, topic string) ([]TopicPartition, error) {
	t, err := c.router.Topic(ctx, topic)
	if err != nil {
		return nil, err
	}
	var tps []TopicPartition
	for _, p := range t.Partitions {
		tps = append(tps, TopicPartition{Topic: topic, Partition: p.Partition})
	}
	sort.Slice(tps, func(i, j int) bool { return tps[i].Partition < tps[j].Partition })
	return tps, c.Assign(tps...)
}

// Unassign removes partitions from the assignment; their queued records are
// dropped.
func (c *Consumer) Unassign(tps ...TopicPartition) {
	c.mu.Lock()
	var stopped []*fetcher
	for _, tp := range tps {
		f, ok := c.fetchers[tp]
		if !ok {
			continue
		}
		delete(c.fetchers, tp)
		f.gen++
		c.dropLocked(f)
		f.stopLocked()
		stopped = append(stopped, f)
	}
	c.mu.Unlock()
	for _, f := range stopped {
		<-f.done
	}
}

// Assignment returns the assigned partitions, sorted.
func (c *Consumer) Assignment() []TopicPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]TopicPartition, 0, len(c.fetchers))
	for tp := range c.fetchers {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// Seek sets the offset the next records of a partition come from: an
// offset, OffsetEarliest or OffsetLatest. Records already fetched for the
// partition are dropped, and a stopped partition (after a NoOffsetError or
// OffsetOutOfRangeError) resumes.
func (c *Consumer) Seek(tp TopicPartition, offset int64) error {
	if offset < OffsetEarliest {
		return fmt.Errorf("consumer: seek %s to %d: not an offset", tp, offset)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	f, ok := c.fetchers[tp]
	if !ok {
		return fmt.Errorf("consumer: seek %s: %w", tp, ErrNotAssigned)
	}
	f.gen++
	c.dropLocked(f)
	f.err = nil
	if offset >= 0 {
		f.known, f.pos, f.fetchPos = true, offset, offset
	} else {
		f.known, f.pos, f.fetchPos, f.resetTo = false, -1, -1, offset
	}
	if f.cancelFetch != nil {
		f.cancelFetch()
	}
	f.wakeUp()
	return nil
}

// Position returns the offset of the next record Poll will return for the
// partition, or -1 while it is not known yet.
func (c *Consumer) Position(tp TopicPartition) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.fetchers[tp]
	if !ok {
		return -1, fmt.Errorf("consumer: position of %s: %w", tp, ErrNotAssigned)
	}
	if !f.known {
		return -1, nil
	}
	return f.pos, nil
}

// HighWatermark returns the partition's high watermark as its leader last
// reported it, or -1 before the first fetch.
func (c *Consumer) HighWatermark(tp TopicPartition) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.fetchers[tp]; ok {
		return f.hw
	}
	return -1
}

// Poll returns the next records, at most MaxPollRecords, waiting until some
// arrive or ctx ends (then it returns ctx's error). Records of a partition
// come in offset order. A partition that cannot go on (ResetNone without a
// valid position, or an error the leader says is not worth retrying) makes
// Poll return that error once, after the records fetched before it; the
// partition then stays stopped until Seek or Unassign.
func (c *Consumer) Poll(ctx context.Context) ([]*record.Record, error) {
	return c.poll(ctx, nil)
}

// errWoken is what poll returns when wake fired before any record arrived.
var errWoken = errors.New("poll woken")

// poll is Poll that also returns errWoken, without records, when wake
// fires while it waits (the group consumer's way to run rebalance steps on
// the polling goroutine). A nil wake never fires.
func (c *Consumer) poll(ctx context.Context, wake <-chan struct{}) ([]*record.Record, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		recs, err := c.takeLocked(c.cfg.maxPollRecords)
		c.mu.Unlock()
		if len(recs) > 0 || err != nil {
			return recs, err
		}
		select {
		case <-c.notify:
		case <-wake:
			return nil, errWoken
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// takeLocked takes up to max records from the queue. c.mu must be held.
func (c *Consumer) takeLocked(max int) ([]*record.Record, error) {
	var out []*record.Record
	for len(c.queue) > 0 && len(out) < max {
		ch := c.queue[0]
		f := ch.f
		if c.fetchers[f.tp] != f || ch.gen != f.gen {
			c.popLocked()
			continue
		}
		if ch.err != nil {
			if len(out) > 0 {
				break
			}
			c.popLocked()
			return nil, ch.err
		}
		n := min(max-len(out), len(ch.records))
		out = append(out, ch.records[:n]...)
		c.stats.polled.Add(int64(n))
		ch.records = ch.records[n:]
		if n > 0 {
			f.pos = out[len(out)-1].Offset + 1
		}
		if len(ch.records) == 0 {
			f.pos = ch.next
			c.popLocked()
		}
	}
	if len(c.queue) > 0 {
		// More is ready: let the next Poll (or another poller) see it.
		c.signal()
	}
	return out, nil
}

// popLocked removes the queue's head and lets its fetcher fetch again.
func (c *Consumer) popLocked() {
	ch := c.queue[0]
	c.queue[0] = nil
	c.queue = c.queue[1:]
	ch.f.queued--
	ch.f.wakeUp()
}

// dropLocked removes every queued chunk of f.
func (c *Consumer) dropLocked(f *fetcher) {
	kept := c.queue[:0]
	for _, ch := range c.queue {
		if ch.f != f {
			kept = append(kept, ch)
		}
	}
	for i := len(kept); i < len(c.queue); i++ {
		c.queue[i] = nil
	}
	c.queue = kept
	f.queued = 0
}

// pushLocked queues a chunk and wakes a poller.
func (c *Consumer) pushLocked(ch *chunk) {
	c.queue = append(c.queue, ch)
	ch.f.queued++
	c.signal()
}

func (c *Consumer) signal() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// Close stops every fetcher and releases connections. Poll then returns
// ErrClosed.
func (c *Consumer) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	for _, f := range c.fetchers {
		f.stopLocked()
	}
	c.queue = nil
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	c.tr.Close()
	c.signal()
	return nil
}

// Stats are counters of a consumer since it was created.
type Stats struct {
	Fetches        int64 // fetch requests answered
	FetchErrors    int64 // fetch and offset requests that failed (and were retried or reported)
	RecordsFetched int64 // records decoded from fetches
	BytesFetched   int64 // bytes of fetch answers
	RecordsPolled  int64 // records returned by Poll
}

type counters struct {
	fetches, fetchErrors, recordsFetched, bytesFetched, polled atomic.Int64
}

// Stats returns the consumer's counters.
func (c *Consumer) Stats() Stats {
	return Stats{
		Fetches: c.stats.fetches.Load(), FetchErrors: c.stats.fetchErrors.Load(),
		RecordsFetched: c.stats.recordsFetched.Load(), BytesFetched: c.stats.bytesFetched.Load(),
		RecordsPolled: c.stats.polled.Load(),
	}
}
