package producer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http/httptrace"
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
	orders int64    // the order of the last batch sealed
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
		pt.open = newBatch()
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
	pt.orders++
	pt.open.order = pt.orders
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
	// behind: sent while earlier requests of the partition were in flight,
	// so it may have reached the leader before them (each request has a
	// connection of its own).
	behind bool
	// after is closed once the previous request of the partition was
	// written to its connection (or failed before), wrote once this one
	// was: requests are written in the order sent, so that they mostly
	// reach the leader in that order.
	after <-chan struct{}
	wrote chan struct{}
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
	held       []outcomeOf // settled batches whose callbacks wait, by order

	// Idempotence (see idempotence.go).
	id        identity // the identity of the partition's sequence numbers
	nextSeq   int32    // the base sequence of the next new batch
	newID     bool     // the next sequence restart needs a new producer id
	waitingID bool     // no request can go until a producer id comes
}

// requeue puts a batch back to be sent again, in its place by order.
func (s *sender) requeue(b *batch) {
	i := len(s.retryq)
	for i > 0 && s.retryq[i-1].order > b.order {
		i--
	}
	s.retryq = append(s.retryq, nil)
	copy(s.retryq[i+1:], s.retryq[i:])
	s.retryq[i] = b
}

// earlierPending reports whether a batch placed before b waits to be sent
// again.
func (s *sender) earlierPending(b *batch) bool {
	return len(s.retryq) > 0 && s.retryq[0].order < b.order
}

// run is the partition's goroutine.
func (pt *partition) run() {
	defer pt.p.wg.Done()
	cfg := &pt.p.cfg
	s := &sender{results: make(chan *request, cfg.maxInFlight), timer: time.NewTimer(time.Hour), id: noIdentity}
	defer s.timer.Stop()
	for {
		now := time.Now()
		aborted := pt.p.ctx.Err() != nil
		limit := cfg.maxInFlight
		if s.recovering {
			limit = 1
		}
		s.waitingID = false
		if aborted {
			pt.failWaiting(s, ErrClosed)
		} else {
			pt.expire(s, now)
			for len(s.inflight) < limit && !now.Before(s.retryAt) {
				req := pt.nextRequest(s, now)
				if req == nil {
					break
				}
				req.wrote = make(chan struct{})
				if n := len(s.inflight); n > 0 {
					req.behind, req.after = true, s.inflight[n-1].wrote
				}
				s.inflight = append(s.inflight, req)
				pt.p.stats.requests.Add(1)
				go pt.do(req, s.results)
			}
		}
		pt.release(s)
		wait := pt.nextWake(s, now, !aborted && len(s.inflight) < limit && !s.waitingID)
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
			pt.release(s)
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
	if pt.p.ids != nil {
		return pt.nextIdempotent(s, now)
	}
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

// nextIdempotent is nextRequest for an idempotent producer: one batch per
// request, the retries first (restarting the sequence first when the next
// one needs it), else the oldest sealed batch (or the open one once its
// linger is over, or on a flush), numbered next.
func (pt *partition) nextIdempotent(s *sender, now time.Time) *request {
	cfg := &pt.p.cfg
	if len(s.retryq) > 0 {
		b := s.retryq[0]
		if b.resequence {
			if len(s.inflight) > 0 {
				return nil // the restart waits for every answer
			}
			id, ok := pt.identity(s, func() (identity, bool, error) { return pt.p.ids.newer(pt, s.id, s.newID) })
			if !ok {
				return nil
			}
			pt.p.log.Info("restarting a partition's sequence numbers", "topic", pt.key.topic, "partition", pt.key.partition,
				"producer_id", id.id, "epoch", id.epoch, "previous_producer_id", s.id.id, "previous_epoch", s.id.epoch,
				"batches", len(s.retryq), "reason", b.lastErr)
			pt.p.stats.resets.Add(1)
			s.id, s.nextSeq, s.newID = id, 0, false
			for _, rb := range s.retryq {
				pt.number(s, rb)
			}
		}
		s.retryq = s.retryq[1:]
		return &request{batches: []*batch{b}}
	}
	pt.mu.Lock()
	ready := len(pt.sealed) > 0 || pt.open != nil && len(pt.open.records) > 0 &&
		(pt.p.flushing.Load() > 0 || !now.Before(pt.open.created.Add(cfg.linger)))
	pt.mu.Unlock()
	if !ready {
		return nil
	}
	if !s.id.valid() {
		id, ok := pt.identity(s, func() (identity, bool, error) { return pt.p.ids.get(pt) })
		if !ok {
			return nil
		}
		s.id, s.nextSeq = id, 0
	}
	pt.mu.Lock()
	if len(pt.sealed) == 0 {
		pt.sealLocked() // ready above: its linger is over
	}
	if len(pt.sealed) == 0 {
		pt.mu.Unlock()
		return nil
	}
	b := pt.sealed[0]
	pt.sealed = pt.sealed[1:]
	pt.mu.Unlock()
	pt.number(s, b)
	return &request{batches: []*batch{b}}
}

// identity runs get for an identity. While there is none it returns false
// and run sleeps until woken; an error not worth retrying fails every batch
// waiting.
func (pt *partition) identity(s *sender, get func() (identity, bool, error)) (identity, bool) {
	id, ok, err := get()
	if ok {
		return id, true
	}
	s.waitingID = true
	if err != nil {
		pt.failWaiting(s, err)
	}
	return noIdentity, false
}

// number gives a batch the partition's next sequence numbers; it is encoded
// again on its next send.
func (pt *partition) number(s *sender, b *batch) {
	b.id, b.seq, b.resequence, b.encoded = s.id, s.nextSeq, false, nil
	s.nextSeq = addSeq(s.nextSeq, len(b.records))
}

// do sends one request; it runs on its own goroutine and owns req until it
// hands it back on results.
func (pt *partition) do(req *request, results chan<- *request) {
	var wrote sync.Once
	written := func() { wrote.Do(func() { close(req.wrote) }) }
	defer func() {
		written()
		results <- req
	}()
	p := pt.p
	cfg := &p.cfg
	oldest := req.batches[0].created
	size := 0
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
		size += len(b.encoded)
		if b.created.Before(oldest) {
			oldest = b.created
		}
	}
	body := req.batches[0].encoded
	if len(req.batches) > 1 {
		body = make([]byte, 0, size)
		for _, b := range req.batches {
			body = append(body, b.encoded...)
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
	if req.after != nil {
		select {
		case <-req.after:
		case <-ctx.Done():
			req.err = fmt.Errorf("waiting for the partition's previous request to be written: %w", ctx.Err())
			return
		}
	}
	tctx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { written() }})
	req.resp, req.err = p.tr.Produce(tctx, leader.Addr, transport.ProduceRequest{
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
			pt.complete(s, b, base, req.resp.LogAppendTime, nil)
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
		b.lastErr = cause(b.lastErr, err)
	}
	if p.ctx.Err() != nil {
		pt.failAll(s, req.batches, fmt.Errorf("%w: %w", ErrClosed, err))
		return
	}
	retriable := transport.Retriable(err)
	if p.ids != nil {
		if errors.Is(err, &wire.Error{Code: wire.CodeDuplicateSequenceNumber}) {
			// The leader has the batch, but no longer its offsets.
			for _, b := range req.batches {
				pt.complete(s, b, -1, -1, nil)
			}
			s.failures = 0
			if len(s.retryq) == 0 {
				s.recovering = false
			}
			return
		}
		if sequenceError(err) {
			epoch := errors.Is(err, &wire.Error{Code: wire.CodeInvalidProducerEpoch})
			b := req.batches[0]
			switch {
			case s.earlierPending(b):
				// The gap is an earlier batch, which goes first; its
				// failure set the backoff.
				pt.retryNow(s, b, err)
				return
			case req.behind && !epoch:
				// It overtook an earlier request on the way and came
				// too soon: the earlier ones are acknowledged now, so
				// it goes again at once.
				p.log.Debug("a request overtook an earlier one, sending it again", "topic", pt.key.topic, "partition", pt.key.partition,
					"sequence", b.seq, "err", err)
				pt.retryNow(s, b, err)
				return
			default:
				// The leader has neither this batch nor a later one:
				// number them again.
				b.resequence = true
				s.newID = s.newID || epoch
			}
			retriable = true
		}
	}
	if errors.Is(err, wire.ErrMessageTooLarge) || errors.Is(err, &wire.Error{Code: wire.CodeRecordListTooLarge}) {
		pt.tooLarge(s, req, err)
		return
	}
	if !retriable {
		pt.failAll(s, req.batches, pt.wrap(err))
		return
	}
	now := time.Now()
	for _, b := range req.batches {
		switch {
		case b.attempts > p.cfg.retries:
			pt.fail(s, b, pt.wrap(fmt.Errorf("gave up after %d attempts: %w", b.attempts, err)))
		case !now.Before(b.created.Add(p.cfg.deliveryTimeout)):
			pt.fail(s, b, pt.wrap(fmt.Errorf("%w (%v) after %d attempts: %w", ErrDeliveryTimeout, p.cfg.deliveryTimeout, b.attempts, b.lastErr)))
		default:
			s.requeue(b)
			p.stats.retries.Add(1)
		}
	}
	s.recovering = true
	s.failures++
	s.retryAt = now.Add(p.cfg.conn.RetryBackoff.Delay(s.failures))
	p.router.Invalidate()
	p.log.Debug("produce failed, will retry", "topic", pt.key.topic, "partition", pt.key.partition, "failures", s.failures, "err", err)
}

// retryNow queues a batch refused for a sequence gap that an earlier batch
// explains: it goes again after the earlier ones, without a backoff of its
// own or a metadata refresh.
func (pt *partition) retryNow(s *sender, b *batch, err error) {
	if b.attempts > pt.p.cfg.retries {
		pt.fail(s, b, pt.wrap(fmt.Errorf("gave up after %d attempts: %w", b.attempts, err)))
		return
	}
	s.requeue(b)
	pt.p.stats.retries.Add(1)
	s.recovering = true
}

// tooLarge splits what the leader found too large and queues the parts again
// in its place; a single record too large fails.
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
		pt.fail(s, req.batches[0], pt.wrap(fmt.Errorf("%w: %w", ErrRecordTooLarge, err)))
	}
	for _, b := range again {
		s.requeue(b)
	}
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
		if pt.p.ids != nil && !s.id.valid() {
			if err := pt.p.ids.lastErr(); err != nil {
				return pt.wrap(fmt.Errorf("%w (%v): the record was never sent, the producer has no producer id: %w", ErrDeliveryTimeout, cfg.deliveryTimeout, err))
			}
		}
		return pt.wrap(fmt.Errorf("%w (%v): the record was never sent", ErrDeliveryTimeout, cfg.deliveryTimeout))
	}
	for len(s.retryq) > 0 && expired(s.retryq[0]) {
		pt.fail(s, s.retryq[0], errFor(s.retryq[0]))
		s.retryq = s.retryq[1:]
	}
	var dead []*batch
	pt.mu.Lock()
	for len(pt.sealed) > 0 && expired(pt.sealed[0]) {
		dead = append(dead, pt.sealed[0])
		pt.sealed = pt.sealed[1:]
	}
	if len(pt.sealed) == 0 && pt.open != nil && len(pt.open.records) > 0 && expired(pt.open) {
		pt.sealLocked() // it gets its order
		dead = append(dead, pt.sealed...)
		pt.sealed = nil
	}
	pt.mu.Unlock()
	for _, b := range dead {
		pt.fail(s, b, errFor(b))
	}
}

// failWaiting fails every batch not in flight.
func (pt *partition) failWaiting(s *sender, err error) {
	dead := s.retryq
	s.retryq = nil
	pt.mu.Lock()
	pt.sealLocked()
	dead = append(dead, pt.sealed...)
	pt.sealed = nil
	pt.open = nil
	pt.mu.Unlock()
	for _, b := range dead {
		if b.lastErr != nil {
			pt.fail(s, b, pt.wrap(fmt.Errorf("%w: %w", err, b.lastErr)))
		} else {
			pt.fail(s, b, pt.wrap(err))
		}
	}
}

func (pt *partition) wrap(err error) error {
	return fmt.Errorf("producing to %s-%d: %w", pt.key.topic, pt.key.partition, err)
}

func (pt *partition) failAll(s *sender, bs []*batch, err error) {
	for _, b := range bs {
		pt.fail(s, b, err)
	}
}

func (pt *partition) fail(s *sender, b *batch, err error) { pt.complete(s, b, -1, -1, err) }

// complete settles a batch: delivered at base (-1: offset unknown) or
// failed with err. Its callbacks run once no batch placed before it is still
// to be sent or answered (release), so a partition's callbacks run in the
// order its records were sent even when a later request is answered before
// an earlier one is retried.
func (pt *partition) complete(s *sender, b *batch, base, appendTime int64, err error) {
	o := outcomeOf{b: b, base: base, appendTime: appendTime, err: err}
	i := len(s.held)
	for i > 0 && s.held[i-1].b.order > b.order {
		i--
	}
	s.held = append(s.held, outcomeOf{})
	copy(s.held[i+1:], s.held[i:])
	s.held[i] = o
}

// outcomeOf is a settled batch waiting for its callbacks to run.
type outcomeOf struct {
	b                *batch
	base, appendTime int64
	err              error
}

// release runs the callbacks of the settled batches placed before every
// batch still to be sent again or in flight.
func (pt *partition) release(s *sender) {
	if len(s.held) == 0 {
		return
	}
	first := int64(math.MaxInt64)
	if len(s.retryq) > 0 {
		first = s.retryq[0].order
	}
	for _, r := range s.inflight {
		for _, b := range r.batches {
			first = min(first, b.order)
		}
	}
	n := 0
	for n < len(s.held) && s.held[n].b.order < first {
		o := s.held[n]
		pt.callbacks(o.b, o.base, o.appendTime, o.err)
		s.held[n] = outcomeOf{}
		n++
	}
	s.held = s.held[n:]
}

// callbacks runs a batch's callbacks and releases its records.
func (pt *partition) callbacks(b *batch, base, appendTime int64, err error) {
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

// cause is what a batch's failed attempts come to: a request cut short by
// its deadline (the last attempt before the delivery timeout has little
// time) says less than the error of the attempt before, so both are kept.
func cause(prev, err error) error {
	switch {
	case prev == nil || !transport.IsContextErr(err):
		return err
	case transport.IsContextErr(prev):
		return prev
	}
	return fmt.Errorf("%w (the attempt before: %w)", err, prev)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
