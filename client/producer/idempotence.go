package producer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"strand.dev/client/internal/backoff"
	"strand.dev/client/internal/transport"
	"strand.dev/client/wire"
)

// Idempotent produce, as Kafka's idempotent producer does it.
//
// The producer takes a producer id (at epoch 0) from any data node
// (wire.PathInitProducerID). Each partition numbers its batches from 0 under
// the identity it started with: a batch's base sequence is the count of
// records sent before it, and a retry carries the same numbers (its encoded
// bytes are kept). The leader answers a batch it already has (one of the
// producer's last five) with its first offsets and writes it nowhere; a
// batch that does not continue the sequence is OUT_OF_ORDER_SEQUENCE_NUMBER.
//
// An idempotent request carries one batch (as a Kafka produce request
// carries one per partition), so the at most MaxInFlightIdempotent requests
// in flight are at most five batches: a retry is always one of the five the
// leader remembers.
//
// Answers are handled in the order sent, and a failed batch is sent again
// before any later one, one request at a time. OUT_OF_ORDER_SEQUENCE_NUMBER
// (or UNKNOWN_PRODUCER_ID) for a batch with no earlier batch still to send
// proves that the leader has neither it nor anything after it: its producer
// state has a gap (it was lost, or a batch before was given up). Then the
// partition waits for its requests in flight, restarts its sequence at 0
// under a newer epoch of the producer id (the leader accepts a newer epoch
// starting at 0) and numbers that batch and every later one again; the same
// happens when a batch is split after MESSAGE_TOO_LARGE. INVALID_PRODUCER_EPOCH
// (another writer moved the id to a newer epoch) does the same with a new
// producer id, as does running out of epochs. DUPLICATE_SEQUENCE_NUMBER is
// success with an unknown offset.

// identity is a producer id and epoch.
type identity struct {
	id    int64
	epoch int16
}

// noIdentity is the identity of a partition that has not started, and of
// the producer while it waits for a producer id.
var noIdentity = identity{id: -1, epoch: -1}

func (i identity) valid() bool { return i.id >= 0 }

// identities is the producer's current identity and its fetching. Partitions
// copy it when they start and when they restart their sequences, so
// partitions may be at different epochs (the leaders keep producer state per
// partition). Safe for concurrent use; mu guards every field below it.
type identities struct {
	p *Producer

	mu       sync.Mutex
	cur      identity     // noIdentity until a producer id is known
	fetching bool         // a fetch goroutine runs
	waiting  []*partition // woken when the fetch ends
	err      error        // the last fetch error, nil after a success
	fatal    bool         // err is not retriable: waiting batches fail with it
	failedAt time.Time    // when the fatal error came
}

// get returns the identity for a partition starting its sequences. Without
// one it starts fetching a producer id and returns ok false: pt is woken when
// the fetch ends. A fetch that failed with an error not worth retrying is
// returned as err (for a while, then fetching starts again).
func (m *identities) get(pt *partition) (id identity, ok bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur.valid() {
		return m.cur, true, nil
	}
	if m.fatal && time.Since(m.failedAt) < m.p.cfg.conn.RetryBackoff.Max {
		return noIdentity, false, m.err
	}
	m.fetchLocked(pt)
	return noIdentity, false, nil
}

// newer returns an identity newer than old, for a partition restarting its
// sequences at 0: the producer's current one if another partition already
// moved past old, else old's producer id at the next epoch, or a new
// producer id when newID asks for one or the epochs are used up (ok false
// while it is fetched, as for get).
func (m *identities) newer(pt *partition, old identity, newID bool) (id identity, ok bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur.valid() && (m.cur.id != old.id || m.cur.epoch > old.epoch) {
		return m.cur, true, nil
	}
	if m.cur.valid() && !newID && m.cur.epoch < math.MaxInt16 {
		m.cur.epoch++
		return m.cur, true, nil
	}
	if m.cur.valid() {
		// This id is done with: fetch another.
		m.cur = noIdentity
		m.fatal = false
	}
	if m.fatal && time.Since(m.failedAt) < m.p.cfg.conn.RetryBackoff.Max {
		return noIdentity, false, m.err
	}
	m.fetchLocked(pt)
	return noIdentity, false, nil
}

// lastErr is the last fetch error (nil if none), for batches that expire
// waiting.
func (m *identities) lastErr() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// fetchLocked registers pt to be woken and starts a fetch unless one runs.
func (m *identities) fetchLocked(pt *partition) {
	m.waiting = append(m.waiting, pt)
	if m.fetching {
		return
	}
	m.fetching, m.fatal = true, false
	// Partition goroutines call this, so the group is not empty: Close
	// waits for the fetch too.
	m.p.wg.Add(1)
	go func() {
		defer m.p.wg.Done()
		m.fetch(pt.key)
	}()
}

// fetch asks data nodes for a producer id until one answers, the error is
// not worth retrying, or the producer closes.
func (m *identities) fetch(key topicPartition) {
	p := m.p
	var (
		id  identity
		err error
	)
	for attempt := 1; ; attempt++ {
		id, err = m.initProducerID(key, attempt)
		if err == nil || p.ctx.Err() != nil || !transport.Retriable(err) {
			break
		}
		m.mu.Lock()
		m.err = err
		m.mu.Unlock()
		p.log.Debug("no producer id yet, will retry", "attempt", attempt, "err", err)
		p.router.Invalidate()
		if backoff.Sleep(p.ctx, p.cfg.conn.RetryBackoff.Delay(attempt)) != nil {
			break
		}
	}
	m.mu.Lock()
	m.fetching = false
	switch {
	case err == nil:
		m.cur, m.err = id, nil
		p.stats.pids.Add(1)
		p.log.Debug("producer id", "producer_id", id.id, "epoch", id.epoch)
	case p.ctx.Err() != nil:
		m.err = fmt.Errorf("%w while waiting for a producer id: %w", ErrClosed, err)
	default:
		m.err, m.fatal, m.failedAt = fmt.Errorf("getting a producer id: %w", err), true, time.Now()
	}
	waiting := m.waiting
	m.waiting = nil
	m.mu.Unlock()
	for _, pt := range waiting {
		pt.wakeUp()
	}
}

// initProducerID asks one data node for a producer id: the leader of the
// partition that needs it, or when it has none another node, in turn.
func (m *identities) initProducerID(key topicPartition, attempt int) (identity, error) {
	p := m.p
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.requestTimeout)
	defer cancel()
	addr := ""
	if l, err := p.router.LeaderOf(ctx, key.topic, key.partition); err == nil && attempt%2 == 1 {
		addr = l.Addr
	} else {
		md, err := p.router.Metadata(ctx)
		if err != nil {
			return noIdentity, err
		}
		var nodes []string
		for _, n := range md.Nodes {
			if !n.Fenced && n.Addr != "" {
				nodes = append(nodes, n.Addr)
			}
		}
		if len(nodes) == 0 {
			return noIdentity, wire.Errorf(wire.CodeBrokerNotAvailable, "the cluster metadata lists no data node to ask for a producer id")
		}
		addr = nodes[attempt%len(nodes)]
	}
	var out wire.InitProducerIDResponse
	if err := p.tr.JSON(ctx, http.MethodPost, addr, wire.PathInitProducerID, nil, nil, &out); err != nil {
		return noIdentity, err
	}
	if out.ProducerID < 0 || out.ProducerEpoch < 0 {
		return noIdentity, &transport.NodeError{Addr: addr, Path: wire.PathInitProducerID, Garbage: true,
			Err: fmt.Errorf("producer id %d epoch %d", out.ProducerID, out.ProducerEpoch)}
	}
	return identity{id: out.ProducerID, epoch: out.ProducerEpoch}, nil
}

// addSeq adds n to a sequence number, wrapping after MaxInt32 to 0 as Kafka
// does.
func addSeq(seq int32, n int) int32 {
	v := int64(seq) + int64(n)
	if v > math.MaxInt32 {
		v -= math.MaxInt32 + 1
	}
	return int32(v)
}

// sequenceError reports whether err is the leader finding a gap in the
// producer's sequence (or not knowing the producer at all).
func sequenceError(err error) bool {
	return errors.Is(err, &wire.Error{Code: wire.CodeOutOfOrderSequenceNumber}) ||
		errors.Is(err, &wire.Error{Code: wire.CodeUnknownProducerID}) ||
		errors.Is(err, &wire.Error{Code: wire.CodeInvalidProducerEpoch})
}
