package producer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"strand.dev/client/internal/transport"
	"strand.dev/client/partitioner"
	"strand.dev/client/wire"
)

// partition accumulates and sends the records of one topic partition.
//
// Send appends under mu; the partition's goroutine (run) owns everything
// else: it seals the open batch when its linger expires, starts requests,
// handles their answers in the order they were sent, retries, and runs the
// callbacks.
type partition struct {
	p    *Producer
	key  topicPartition
	tp   partitioner.TopicPartitioner
	wake chan struct{} // capacity 1: "look again"

	// mu guards open and sealed; it is never held across I/O or callbacks.
	mu     sync.Mutex
	open   *batch   // the batch being filled, nil if none
	sealed []*batch // full batches waiting to be sent, oldest first
}

func newPartition(p *Producer, key topicPartition, tp partitioner.TopicPartitioner) *partition {
	return &partition{p: p, key: key, tp: tp, wake: make(chan struct{}, 1)}
}

func (pt *partition) wakeUp() {
	select {
	case pt.wake <- struct{}{}:
	default:
	}
}

// append adds a record to the open batch, sealing the batch first if the
// record does not fit, and after if it is full.
func (pt *partition) append(pr *pending) {
	limit := pt.p.cfg.batchSize
	pt.mu.Lock()
	if pt.open != nil && len(pt.open.records) > 0 && pt.open.size+pr.size > limit {
		pt.sealLocked()
	}
	if pt.open == nil {
		pt.open = &batch{}
	}
	pt.open.add(pr)
	if pt.open.size >= limit {
		pt.sealLocked()
	}
	pt.mu.Unlock()
	pt.wakeUp()
}

// sealLocked moves the open batch to the sealed queue. pt.mu must be held.
func (pt *partition) sealLocked() {
	if pt.open == nil || len(pt.open.records) == 0 {
		return
	}
	pt.sealed = append(pt.sealed, pt.open)
	pt.open = nil
	pt.tp.OnNewBatch(int(pt.key.partition))
}

// request is one produce request in flight.
type request struct {
	batches []*batch
	resp    *wire.ProduceResponse
	err     error
	done    bool
}

// sender is the state run keeps between iterations.
type sender struct {
	retryq     []*batch   // batches to send again, oldest first, ahead of sealed ones
	inflight   []*request // in the order sent
	results    chan *request
	recovering bool      // after a failure: one request in flight until one succeeds
	failures   int       // consecutive failed requests, for the backoff
	retryAt    time.Time // no request before this
	timer      *time.Timer
}

// run is the partition's goroutine.
func (pt *partition) run() {
	defer pt.p.wg.Done()
	cfg := &pt.p.cfg
	s := &sender{results: make(chan *request, cfg.maxInFlight), timer: time.NewTimer(time.Hour)}
	defer s.timer.Stop()
	for {
		now := time.Now()
		aborted := pt.p.ctx.Err() != nil
		limit := cfg.maxInFlight
		if s.recovering {
			limit = 1
		}
		if aborted {
			pt.failWaiting(s, ErrClosed)
		} else {
			pt.expire(s, now)
			for len(s.inflight) < limit && !now.Before(s.retryAt) {
				req := pt.nextRequest(s, now)
				if req == nil {
					break
				}
				s.inflight = append(s.inflight, req)
				pt.p.stats.requests.Add(1)
				go pt.do(req, s.results)
			}
		}
		wait := pt.nextWake(s, now, !aborted && len(s.inflight) < limit)
		if wait >= 0 {
			s.timer.Reset(wait)
		}
		select {
		case <-pt.wake:
		case req := <-s.results:
			req.done = true
			for len(s.inflight) > 0 && s.inflight[0].done {
				pt.handle(s, s.inflight[0])
				s.inflight = s.inflight[1:]
			}
		case <-s.timer.C:
		case <-pt.p.stop:
			return
		}
		if wait >= 0 && !s.timer.Stop() {
			select {
			case <-s.timer.C:
			default:
			}
		}
	}
}

// nextWake returns how long run may sleep before something is due (a
// lingering batch, a retry, an expiry), or -1 to sleep until woken. Unless
// canSend, only expiries count: an answer wakes run anyway.
func (pt *partition) nextWake(s *sender, now time.Time, canSend bool) time.Duration {
	cfg := &pt.p.cfg
	var due time.Time
	consider := func(t time.Time) {
		if due.IsZero() || t.Before(due) {
			due = t
		}
	}
	if len(s.retryq) > 0 {
		if canSend {
			consider(s.retryAt)
		}
		consider(s.retryq[0].created.Add(cfg.deliveryTimeout))
	}
	pt.mu.Lock()
	if len(pt.sealed) > 0 {
		if canSend {
			consider(s.retryAt)
		}
		consider(pt.sealed[0].created.Add(cfg.deliveryTimeout))
	}
	if pt.open != nil && len(pt.open.records) > 0 {
		if canSend {
			consider(maxTime(s.retryAt, pt.open.created.Add(cfg.linger)))
		}
		consider(pt.open.created.Add(cfg.deliveryTimeout))
	}
	pt.mu.Unlock()
	if due.IsZero() {
		return -1
	}
	if d := due.Sub(now); d > 0 {
		return d
	}
	return time.Millisecond
}

// nextRequest takes the batches of the next request: retries first, then
// sealed batches, then the open batch if its linger expired (or a flush or
// close is under way), up to MaxRequestSize. It returns nil if nothing is
// ready.
func (pt *partition) nextRequest(s *sender, now time.Time) *request {
	cfg := &pt.p.cfg
	var (
		bs   []*batch
		size int
	)
	take := func(b *batch) bool {
		if len(bs) > 0 && (b.alone || bs[0].alone || size+b.bytes() > cfg.maxRequestSize) {
			return false
		}
		bs = append(bs, b)
		size += b.bytes()
		return true
	}
	for len(s.retryq) > 0 && take(s.retryq[0]) {
		s.retryq = s.retryq[1:]
	}
	if len(s.retryq) == 0 {
		pt.mu.Lock()
		if pt.open != nil && len(pt.open.records) > 0 &&
			(pt.p.flushing.Load() > 0 || !now.Before(pt.open.created.Add(cfg.linger)) || len(pt.sealed) > 0 && len(bs) == 0) {
			// A linger-expired batch goes; so does the open batch when
			// it can join sealed ones in this request.
			pt.sealLocked()
		}
		for len(pt.sealed) > 0 && take(pt.sealed[0]) {
			pt.sealed = pt.sealed[1:]
		}
		pt.mu.Unlock()
	}
	if len(bs) == 0 {
		return nil
	}
	return &request{batches: bs}
}

// do sends one request; it runs on its own goroutine and owns req until it
// hands it back on results.
func (pt *partition) do(req *request, results chan<- *request) {
	defer func() { results <- req }()
	p := pt.p
	cfg := &p.cfg
	var body []byte
	oldest := req.batches[0].created
	for _, b := range req.batches {
		if b.encoded == nil {
			enc, err := encodeBatch(b, cfg.compression)
			if err != nil {
				req.err = fmt.Errorf("encoding a batch: %w", err)
				return
			}
			b.encoded = enc
		}
		b.attempts++
		if len(req.batches) == 1 {
			body = b.encoded
		} else {
			body = append(body, b.encoded...)
		}
		if b.created.Before(oldest) {
			oldest = b.created
		}
	}
	timeout := cfg.requestTimeout
	if left := time.Until(oldest.Add(cfg.deliveryTimeout)); left < timeout {
		timeout = max(left, time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	leader, err := p.router.LeaderOf(ctx, pt.key.topic, pt.key.partition)
	if err != nil {
		req.err = err
		return
	}
	req.resp, req.err = p.tr.Produce(ctx, leader.Addr, transport.ProduceRequest{
		Topic: pt.key.topic, Partition: pt.key.partition, Acks: int(cfg.acks),
		Timeout: timeout, Body: body,
	})
	if req.err == nil && req.resp.BaseOffset >= 0 && req.resp.LastOffset < req.resp.BaseOffset {
		req.err = &transport.NodeError{Addr: leader.Addr, Path: wire.PathProduce, Garbage: true,
			Err: fmt.Errorf("answered offsets %d..%d", req.resp.BaseOffset, req.resp.LastOffset)}
	}
}

// handle processes an answered request, in send order.
func (pt *partition) handle(s *sender, req *request) {
	p := pt.p
	if req.err == nil {
		base := req.resp.BaseOffset
		for _, b := range req.batches {
			pt.complete(b, base, req.resp.LogAppendTime, nil)
			if base >= 0 {
				base += int64(len(b.records))
			}
		}
		s.failures = 0
		if len(s.retryq) == 0 {
			s.recovering = false
		}
		return
	}
	err := req.err
	for _, b := range req.batches {
		b.lastErr = err
	}
	if p.ctx.Err() != nil {
		pt.failAll(req.batches, fmt.Errorf("%w: %w", ErrClosed, err))
		return
	}
	if errors.Is(err, wire.ErrMessageTooLarge) || errors.Is(err, &wire.Error{Code: wire.CodeRecordListTooLarge}) {
		pt.tooLarge(s, req, err)
		return
	}
	if !transport.Retriable(err) {
		pt.failAll(req.batches, pt.wrap(err))
		return
	}
	now := time.Now()
	for _, b := range req.batches {
		switch {
		case b.attempts > p.cfg.retries:
			pt.fail(b, pt.wrap(fmt.Errorf("gave up after %d attempts: %w", b.attempts, err)))
		case !now.Before(b.created.Add(p.cfg.deliveryTimeout)):
			pt.fail(b, pt.wrap(fmt.Errorf("%w (%v) after %d attempts: %w", ErrDeliveryTimeout, p.cfg.deliveryTimeout, b.attempts, err)))
		default:
			s.retryq = append(s.retryq, b)
			p.stats.retries.Add(1)
		}
	}
	s.recovering = true
	s.failures++
	s.retryAt = now.Add(p.cfg.conn.RetryBackoff.Delay(s.failures))
	p.router.Invalidate()
	p.log.Debug("produce failed, will retry", "topic", pt.key.topic, "partition", pt.key.partition, "failures", s.failures, "err", err)
}

// tooLarge splits what the leader found too large and queues the parts again
// ahead of everything else; a single record too large fails.
func (pt *partition) tooLarge(s *sender, req *request, err error) {
	var again []*batch
	switch {
	case len(req.batches) > 1:
		for _, b := range req.batches {
			b.alone = true
			again = append(again, b)
		}
	case len(req.batches[0].records) > 1:
		a, b := req.batches[0].split()
		again = append(again, a, b)
	default:
		pt.fail(req.batches[0], pt.wrap(fmt.Errorf("%w: %w", ErrRecordTooLarge, err)))
	}
	s.retryq = append(again, s.retryq...)
	s.recovering = true
}

// expire fails waiting batches older than the delivery timeout.
func (pt *partition) expire(s *sender, now time.Time) {
	cfg := &pt.p.cfg
	expired := func(b *batch) bool { return !now.Before(b.created.Add(cfg.deliveryTimeout)) }
	errFor := func(b *batch) error {
		if b.lastErr != nil {
			return pt.wrap(fmt.Errorf("%w (%v) after %d attempts: %w", ErrDeliveryTimeout, cfg.deliveryTimeout, b.attempts, b.lastErr))
		}
		return pt.wrap(fmt.Errorf("%w (%v): the record was never sent", ErrDeliveryTimeout, cfg.deliveryTimeout))
	}
	for len(s.retryq) > 0 && expired(s.retryq[0]) {
		pt.fail(s.retryq[0], errFor(s.retryq[0]))
		s.retryq = s.retryq[1:]
	}
	var dead []*batch
	pt.mu.Lock()
	for len(pt.sealed) > 0 && expired(pt.sealed[0]) {
		dead = append(dead, pt.sealed[0])
		pt.sealed = pt.sealed[1:]
	}
	if len(pt.sealed) == 0 && pt.open != nil && len(pt.open.records) > 0 && expired(pt.open) {
		dead = append(dead, pt.open)
		pt.open = nil
	}
	pt.mu.Unlock()
	for _, b := range dead {
		pt.fail(b, errFor(b))
	}
}

// failWaiting fails every batch not in flight.
func (pt *partition) failWaiting(s *sender, err error) {
	dead := s.retryq
	s.retryq = nil
	pt.mu.Lock()
	dead = append(dead, pt.sealed...)
	pt.sealed = nil
	if pt.open != nil && len(pt.open.records) > 0 {
		dead = append(dead, pt.open)
	}
	pt.open = nil
	pt.mu.Unlock()
	for _, b := range dead {
		if b.lastErr != nil {
			pt.fail(b, pt.wrap(fmt.Errorf("%w: %w", err, b.lastErr)))
		} else {
			pt.fail(b, pt.wrap(err))
		}
	}
}

func (pt *partition) wrap(err error) error {
	return fmt.Errorf("producing to %s-%d: %w", pt.key.topic, pt.key.partition, err)
}

func (pt *partition) failAll(bs []*batch, err error) {
	for _, b := range bs {
		pt.fail(b, err)
	}
}

func (pt *partition) fail(b *batch, err error) { pt.complete(b, -1, -1, err) }

// complete runs a batch's callbacks and releases its records.
func (pt *partition) complete(b *batch, base, appendTime int64, err error) {
	p := pt.p
	var size int64
	for i, pr := range b.records {
		size += int64(pr.size)
		if err == nil {
			pr.rec.Offset = -1
			if base >= 0 {
				pr.rec.Offset = base + int64(i)
			}
			if appendTime >= 0 {
				pr.rec.Timestamp = time.UnixMilli(appendTime)
			}
			p.stats.delivered.Add(1)
			p.stats.bytes.Add(int64(pr.rec.Size()))
		} else {
			p.stats.failed.Add(1)
		}
		pr.cb(pr.rec, err)
	}
	p.done(len(b.records), size)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
