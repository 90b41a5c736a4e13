package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"strand.dev/client/internal/backoff"
	"strand.dev/client/internal/routing"
	"strand.dev/client/internal/transport"
	"strand.dev/client/partitioner"
	"strand.dev/client/record"
	"strand.dev/client/wire"
)

// Callback is called once per record with the record (Partition and Offset
// set on success) and nil, or the error that kept it from being delivered.
// Callbacks of one partition run one at a time in the order the records were
// sent, on a goroutine of the producer: they must be quick and must not wait
// for other records of the producer (for example with Flush or SendSync).
type Callback func(*record.Record, error)

// Producer batches records per partition and sends them to the partition
// leaders. It is safe for concurrent use. Close it to send what is buffered
// and release its goroutines.
//
// Goroutines: Send runs on the caller's goroutine. Each partition written to
// has one goroutine of its own (started on its first record, stopped by
// Close) that seals batches, starts the partition's produce requests (each
// on a short-lived goroutine, at most MaxInFlight at a time), handles their
// answers in order, retries, and runs the callbacks.
//
// Locks: Producer.mu, then partition.mu, then the memory limiter's and the
// partitioners' own locks; none is held while calling out (I/O, callbacks).
type Producer struct {
	cfg    config
	tr     *transport.Client
	router *routing.Router
	log    *slog.Logger
	mem    *memory
	manual bool
	ids    *identities // the producer id and epoch; nil without idempotence

	// ctx is cancelled when Close gives up waiting: in-flight requests end
	// and every record left fails with ErrClosed.
	ctx    context.Context
	cancel context.CancelFunc
	stop   chan struct{} // closed once every record is done: partition goroutines exit
	wg     sync.WaitGroup

	flushing atomic.Int32 // Flush and Close calls in progress: batches do not linger
	stats    counters

	// mu guards the fields below.
	mu          sync.Mutex
	topics      map[string]partitioner.TopicPartitioner
	parts       map[topicPartition]*partition
	closed      bool
	outstanding int64         // records buffered or in flight
	idle        chan struct{} // closed when outstanding drops to 0, then replaced
}

type topicPartition struct {
	topic     string
	partition int32
}

// New returns a Producer. It does no I/O until the first Send.
func New(opts ...Option) (*Producer, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	cfg.resolve()
	tr, r, err := cfg.conn.Open()
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	_, manual := cfg.partitioner.(partitioner.ManualPartitioner)
	ctx, cancel := context.WithCancel(context.Background())
	p := &Producer{
		cfg: cfg, tr: tr, router: r, log: cfg.conn.Log().With("component", "producer"),
		mem: newMemory(cfg.bufferMemory), manual: manual,
		ctx: ctx, cancel: cancel, stop: make(chan struct{}),
		topics: map[string]partitioner.TopicPartitioner{},
		parts:  map[topicPartition]*partition{},
		idle:   make(chan struct{}),
	}
	if cfg.idempotent {
		p.ids = &identities{p: p, cur: noIdentity}
	}
	return p, nil
}

// Idempotent reports whether the producer is idempotent (see Idempotence).
func (p *Producer) Idempotent() bool { return p.cfg.idempotent }

// Send buffers a record for its topic and calls cb (which may be nil) once
// the record is acknowledged with the configured acks, or has failed. It
// waits only for the topic's metadata and for buffer memory, at most
// MaxBlock and no longer than ctx; once the record is buffered, ctx no
// longer matters and DeliveryTimeout bounds the rest. When the record cannot
// be buffered, cb runs before Send returns. The producer owns r until cb
// runs: do not modify it in between.
func (p *Producer) Send(ctx context.Context, r *record.Record, cb Callback) {
	if cb == nil {
		cb = func(*record.Record, error) {}
	}
	if err := p.send(ctx, r, cb); err != nil {
		p.stats.failed.Add(1)
		cb(r, err)
	}
}

// SendSync sends records and waits for all of them. It returns nil once
// every one is acknowledged, else the errors of those that failed, joined.
func (p *Producer) SendSync(ctx context.Context, recs ...*record.Record) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	wg.Add(len(recs))
	for _, r := range recs {
		p.Send(ctx, r, func(r *record.Record, err error) {
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (p *Producer) send(ctx context.Context, r *record.Record, cb Callback) error {
	if r == nil {
		return errors.New("producer: nil record")
	}
	if p.isClosed() {
		return ErrClosed
	}
	if r.Topic == "" {
		return errors.New("producer: record without a topic")
	}
	size := recordSize(r)
	if size+batchOverhead > p.cfg.maxRequestSize {
		return fmt.Errorf("%w: the record takes about %d bytes; the max request size is %d", ErrRecordTooLarge, size+batchOverhead, p.cfg.maxRequestSize)
	}
	if r.Timestamp.IsZero() {
		r.Timestamp = time.Now()
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.maxBlock)
	defer cancel()
	t, err := p.waitTopic(ctx, r.Topic)
	if err != nil {
		return err
	}
	n := len(t.Partitions)
	tp := p.topicPartitioner(r.Topic)
	if p.manual {
		if r.Partition < 0 || int(r.Partition) >= n {
			return fmt.Errorf("%w: topic %q has partitions 0..%d, not %d", ErrInvalidPartition, r.Topic, n-1, r.Partition)
		}
	} else {
		r.Partition = int32(tp.Partition(r.Key, n))
	}
	if err := p.mem.acquire(ctx, int64(size)); err != nil {
		return err
	}
	part, err := p.enqueue(topicPartition{r.Topic, r.Partition}, tp)
	if err != nil {
		p.mem.release(int64(size))
		return err
	}
	part.append(&pending{rec: r, cb: cb, size: size})
	return nil
}

// waitTopic returns the topic's metadata, refreshing until the topic appears
// or ctx ends.
func (p *Producer) waitTopic(ctx context.Context, topic string) (*wire.TopicMetadata, error) {
	start := time.Now()
	var last error // the last error that was not the context ending
	for attempt := 1; ; attempt++ {
		t, err := p.router.Topic(ctx, topic)
		if err == nil && len(t.Partitions) > 0 {
			return t, nil
		}
		if err == nil {
			err = wire.Errorf(wire.CodeLeaderNotAvailable, "topic %q has no partitions yet", topic)
		}
		if ctx.Err() != nil && last != nil {
			err = last
		}
		var nn *routing.NoNodeError
		if !transport.Retriable(err) && !errors.As(err, &nn) {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("waiting %v for the metadata of topic %q: %w", time.Since(start).Round(time.Millisecond), topic, err)
			}
			return nil, err
		}
		last = err
		if ctx.Err() != nil || backoff.Sleep(ctx, p.cfg.conn.RetryBackoff.Delay(attempt)) != nil {
			if errors.Is(err, wire.ErrUnknownTopicOrPartition) {
				return nil, fmt.Errorf("%w: %q is not in the cluster metadata after %v", ErrUnknownTopic, topic, time.Since(start).Round(time.Millisecond))
			}
			return nil, fmt.Errorf("waiting %v for the metadata of topic %q: %w", time.Since(start).Round(time.Millisecond), topic, err)
		}
		p.router.Invalidate()
	}
}

func (p *Producer) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *Producer) topicPartitioner(topic string) partitioner.TopicPartitioner {
	p.mu.Lock()
	defer p.mu.Unlock()
	tp, ok := p.topics[topic]
	if !ok {
		tp = p.cfg.partitioner.ForTopic(topic)
		p.topics[topic] = tp
	}
	return tp
}

// enqueue counts a record as outstanding and returns its partition, starting
// the partition's goroutine on first use.
func (p *Producer) enqueue(key topicPartition, tp partitioner.TopicPartitioner) (*partition, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	part, ok := p.parts[key]
	if !ok {
		part = newPartition(p, key, tp)
		p.parts[key] = part
		p.wg.Add(1)
		go part.run()
	}
	p.outstanding++
	return part, nil
}

// done marks n records as finished (their callbacks ran) and frees size bytes.
func (p *Producer) done(n int, size int64) {
	p.mem.release(size)
	p.mu.Lock()
	p.outstanding -= int64(n)
	if p.outstanding < 0 {
		panic("producer: more records finished than were sent")
	}
	if p.outstanding == 0 {
		close(p.idle)
		p.idle = make(chan struct{})
	}
	p.mu.Unlock()
}

// waitIdle waits until no record is outstanding, or ctx ends.
func (p *Producer) waitIdle(ctx context.Context) error {
	for {
		p.mu.Lock()
		if p.outstanding == 0 {
			p.mu.Unlock()
			return nil
		}
		idle, n := p.idle, p.outstanding
		p.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("%d records still outstanding: %w", n, ctx.Err())
		}
	}
}

func (p *Producer) wakeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, part := range p.parts {
		part.wakeUp()
	}
}

// Flush sends every buffered record without waiting for linger and waits
// until each has been acknowledged or has failed (their callbacks ran), or
// ctx ends.
func (p *Producer) Flush(ctx context.Context) error {
	p.flushing.Add(1)
	defer p.flushing.Add(-1)
	p.wakeAll()
	return p.waitIdle(ctx)
}

// Close stops taking records, sends what is buffered and waits for it (as
// Flush) until ctx ends. If ctx ends first, requests in flight are abandoned
// and every record not yet acknowledged fails with ErrClosed; Close then
// returns an error saying so. Close releases the producer's goroutines and
// connections; calling it again returns nil at once.
func (p *Producer) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.flushing.Add(1)
	p.wakeAll()
	err := p.waitIdle(ctx)
	if err != nil {
		p.cancel()
		p.wakeAll()
		// Every request in flight ends now that ctx is cancelled, and
		// every batch left fails: this wait is short.
		_ = p.waitIdle(context.Background())
		err = fmt.Errorf("producer: closed before every record was acknowledged: %w", err)
	}
	p.cancel()
	close(p.stop)
	p.wg.Wait()
	p.tr.Close()
	return err
}

// Stats are counters of a producer since it was created.
type Stats struct {
	RecordsDelivered int64 // acknowledged records
	RecordsFailed    int64 // records whose callback got an error
	BytesDelivered   int64 // key+value+header bytes of acknowledged records
	Requests         int64 // produce requests sent
	Retries          int64 // batches sent again after a retriable error
	BufferedBytes    int64 // bytes of buffer memory in use now
	// SequenceResets counts the times an idempotent producer restarted a
	// partition's sequence numbers under a new epoch or producer id: after
	// a leader reported a gap that retrying cannot close (its producer
	// state was lost, or a batch before was given up), or after a batch
	// was split.
	SequenceResets int64
	// ProducerIDs counts the producer ids the producer was given.
	ProducerIDs int64
}

type counters struct {
	delivered, failed, bytes, requests, retries, resets, pids atomic.Int64
}

// Stats returns the producer's counters.
func (p *Producer) Stats() Stats {
	return Stats{
		RecordsDelivered: p.stats.delivered.Load(),
		RecordsFailed:    p.stats.failed.Load(),
		BytesDelivered:   p.stats.bytes.Load(),
		Requests:         p.stats.requests.Load(),
		Retries:          p.stats.retries.Load(),
		BufferedBytes:    p.mem.inUse(),
		SequenceResets:   p.stats.resets.Load(),
		ProducerIDs:      p.stats.pids.Load(),
	}
}
