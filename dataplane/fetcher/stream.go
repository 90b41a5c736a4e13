package fetcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"strand.dev/client/wire"
	"strand.dev/dataplane/partlog"
	"strand.dev/dataplane/replstream"
)

// phase is where a followed partition is in its cycle.
type phase int

const (
	// phaseTruncate: ask the leader where the follower's newest epoch
	// ends and cut the log there.
	phaseTruncate phase = iota
	// phaseReset: empty the log and restart it at resetTo (the follower is
	// wholly below the leader's log start offset).
	phaseReset
	// phaseFetch: send a Fetch frame (a new generation) to start streaming.
	phaseFetch
	// phaseStreaming: the leader streams the partition.
	phaseStreaming
	// phaseWait: after an error, until notBefore; then phase after.
	phaseWait
)

var phaseNames = [...]string{"truncating", "resetting", "fetching", "streaming", "waiting"}

// askLatest marks a truncation that starts from the log's newest epoch.
const askLatest int32 = -2

// fpart is one followed partition. The fields under "stream.mu" are guarded
// by its stream's mu; dead by amu.
type fpart struct {
	key    partKey
	stream *stream

	// amu is held across every write to the log (truncations by the
	// stream goroutine, appends by the reader) and by kill.
	amu  sync.Mutex
	dead bool

	leaderLEO atomic.Int64 // from the last frame; -1 before one

	// stream.mu
	r         Replica
	epoch     int32
	sid       uint32
	gen       uint32
	phase     phase
	after     phase
	notBefore time.Time
	ask       int32
	resetTo   int64
	failures  int
	lastErr   string
}

// kill stops the partition's writes: it waits for one in progress.
func (fp *fpart) kill() {
	fp.amu.Lock()
	fp.dead = true
	fp.amu.Unlock()
}

func (fp *fpart) status() PartitionStatus {
	s := fp.stream
	s.mu.Lock()
	st := PartitionStatus{
		Topic: fp.key.topic, Partition: fp.key.partition, Leader: s.key.id, LeaderEpoch: fp.epoch,
		Phase: phaseNames[fp.phase], LastError: fp.lastErr, LeaderLogEndOffset: fp.leaderLEO.Load(),
	}
	r := fp.r
	s.mu.Unlock()
	st.LogEndOffset = r.Log().EndOffset()
	return st
}

// stream replicates every partition this node follows from one leader.
type stream struct {
	f   *Fetcher
	key streamKey
	log *slog.Logger

	wake     chan struct{} // capacity 1
	quit     chan struct{}
	quitOnce sync.Once
	done     chan struct{}

	mu        sync.Mutex
	parts     map[uint32]*fpart
	nextSID   uint32
	nextGen   uint32
	stops     []uint32
	connected bool
}

func newStream(f *Fetcher, key streamKey) *stream {
	return &stream{
		f:     f,
		key:   key,
		log:   f.log.With("leader", key.id, "leader_addr", key.addr),
		wake:  make(chan struct{}, 1),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
		parts: make(map[uint32]*fpart),
	}
}

func (s *stream) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// genLocked returns a new generation. Callers hold mu.
func (s *stream) genLocked() uint32 {
	s.nextGen++
	return s.nextGen
}

// add starts a partition on the stream, with a truncation first.
func (s *stream) add(fp *fpart) {
	fp.leaderLEO.Store(-1)
	s.mu.Lock()
	s.nextSID++
	fp.sid = s.nextSID
	fp.gen = s.genLocked()
	fp.phase, fp.ask = phaseTruncate, askLatest
	s.parts[fp.sid] = fp
	s.mu.Unlock()
	s.signal()
}

// retarget follows the partition at a new epoch (same leader), or only
// replaces its replica.
func (s *stream) retarget(fp *fpart, r Replica, epoch int32) {
	s.mu.Lock()
	fp.r = r
	if fp.epoch == epoch {
		s.mu.Unlock()
		return
	}
	fp.epoch = epoch
	fp.gen = s.genLocked()
	fp.phase, fp.ask, fp.failures = phaseTruncate, askLatest, 0
	s.mu.Unlock()
	s.signal()
}

// remove takes the partition off the stream; it reports whether the stream
// has none left.
func (s *stream) remove(fp *fpart) bool {
	s.mu.Lock()
	delete(s.parts, fp.sid)
	fp.gen = s.genLocked() // frames still in flight are dropped
	if s.connected {
		s.stops = append(s.stops, fp.sid)
	}
	empty := len(s.parts) == 0
	s.mu.Unlock()
	s.signal()
	return empty
}

// stop ends the stream's goroutines and waits for them.
func (s *stream) stop() {
	s.quitOnce.Do(func() { close(s.quit) })
	<-s.done
}

// backoff is the wait after n consecutive failures.
func (s *stream) backoff(n int) time.Duration {
	d := s.f.cfg.RetryMin
	for i := 1; i < n && d < s.f.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.f.cfg.RetryMax)
}

// sleep waits d or until the stream stops; it reports whether to go on.
func (s *stream) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.quit:
		return false
	}
}

// run connects, serves the connection until it fails, and reconnects,
// until stop.
func (s *stream) run() {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.quit:
			cancel()
		case <-s.done:
		}
	}()
	failures := 0
	for {
		select {
		case <-s.quit:
			return
		default:
		}
		conn, err := replstream.Dial(ctx, s.key.addr, s.f.cfg.Dial)
		if err != nil {
			failures++
			s.f.m.reconnects.Inc()
			lvl := slog.LevelDebug
			if failures == 5 {
				lvl = slog.LevelWarn
			}
			s.log.Log(ctx, lvl, "cannot open the replica stream", "failures", failures, "err", err)
			if !s.sleep(s.backoff(failures)) {
				return
			}
			continue
		}
		failures = 0
		s.mu.Lock()
		s.connected = true
		s.stops = nil
		for _, fp := range s.parts {
			if fp.phase == phaseStreaming {
				fp.phase = phaseFetch
			}
		}
		s.mu.Unlock()
		s.log.Debug("replica stream connected")
		readErr := make(chan error, 1)
		go func() { readErr <- s.read(conn) }()
		err, readerDone := s.control(conn, readErr)
		conn.Close()
		if !readerDone {
			rerr := <-readErr
			if err == nil {
				err = rerr
			}
		}
		s.mu.Lock()
		s.connected = false
		s.mu.Unlock()
		select {
		case <-s.quit:
			return
		default:
		}
		s.f.m.reconnects.Inc()
		s.log.Info("replica stream lost; reconnecting", "err", err)
		if !s.sleep(s.f.cfg.RetryMin) {
			return
		}
	}
}

// truncReq is a truncation the control loop makes.
type truncReq struct {
	fp    *fpart
	r     Replica
	gen   uint32
	epoch int32
	ask   int32
}

// control sends stops and fetches and runs truncations until the
// connection fails or the stream stops (nil). readerDone reports that it
// took the reader's error from readErr.
func (s *stream) control(conn *replstream.Conn, readErr <-chan error) (err error, readerDone bool) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		var (
			truncs  []truncReq
			resets  []truncReq
			fetches []replstream.Fetch
			reps    []Replica
			next    time.Time
		)
		s.mu.Lock()
		stops := s.stops
		s.stops = nil
		for _, fp := range s.parts {
			if fp.phase == phaseWait {
				if now.Before(fp.notBefore) {
					if next.IsZero() || fp.notBefore.Before(next) {
						next = fp.notBefore
					}
					continue
				}
				fp.phase = fp.after
			}
			switch fp.phase {
			case phaseTruncate:
				truncs = append(truncs, truncReq{fp: fp, r: fp.r, gen: fp.gen, epoch: fp.epoch, ask: fp.ask})
			case phaseReset:
				resets = append(resets, truncReq{fp: fp, r: fp.r, gen: fp.gen, ask: -1})
			case phaseFetch:
				fp.gen = s.genLocked()
				fp.phase = phaseStreaming
				fetches = append(fetches, replstream.Fetch{SID: fp.sid, Gen: fp.gen, LeaderEpoch: fp.epoch,
					Topic: fp.key.topic, Partition: fp.key.partition})
				reps = append(reps, fp.r)
			}
		}
		s.mu.Unlock()
		for _, sid := range stops {
			if err := conn.SendStop(sid); err != nil {
				return err, false
			}
		}
		for _, t := range resets {
			s.reset(t)
		}
		for i := range fetches {
			// Nothing appends to the partition until the leader answers
			// this fetch, so its log end offset is stable here.
			fetches[i].Offset = reps[i].Log().EndOffset()
			if err := conn.SendFetch(fetches[i]); err != nil {
				return err, false
			}
		}
		if len(truncs) > 0 {
			s.truncate(truncs)
		}
		if len(truncs) > 0 || len(resets) > 0 {
			continue // their partitions may be ready to fetch now
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), time.Millisecond)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
		select {
		case <-s.wake:
		case <-timer.C:
		case err := <-readErr:
			return err, true
		case <-s.quit:
			return nil, false
		}
	}
}

// fail puts a partition to wait after an error, then into phase after.
// Callers hold mu.
func (s *stream) failLocked(fp *fpart, err error, after phase) {
	fp.failures++
	fp.lastErr = err.Error()
	fp.phase, fp.after = phaseWait, after
	fp.notBefore = time.Now().Add(s.backoff(fp.failures))
	code := wire.CodeUnknown
	var we *wire.Error
	if errors.As(err, &we) {
		code = we.Code
	}
	s.f.m.errors.WithLabelValues(string(code)).Inc()
}

// fail is failLocked for a partition still at generation gen.
func (s *stream) fail(fp *fpart, gen uint32, err error, after phase) {
	s.mu.Lock()
	if fp.gen == gen && s.parts[fp.sid] == fp {
		s.failLocked(fp, err, after)
	}
	s.mu.Unlock()
	s.signal()
}

// truncate runs one round of epoch lookups for the partitions, batched into
// one request, and cuts their logs.
func (s *stream) truncate(truncs []truncReq) {
	req := &wire.EpochEndRequest{ReplicaID: s.f.cfg.NodeID, Partitions: make([]wire.EpochEndPartitionQ, len(truncs))}
	for i := range truncs {
		t := &truncs[i]
		if t.ask == askLatest {
			t.ask = askEpoch(t.r.Log())
		}
		req.Partitions[i] = wire.EpochEndPartitionQ{Topic: t.fp.key.topic, Partition: t.fp.key.partition,
			CurrentLeaderEpoch: t.epoch, Epoch: t.ask}
	}
	answers, err := s.f.epochs.ask(s.key.addr, req)
	if err != nil {
		for _, t := range truncs {
			s.fail(t.fp, t.gen, err, phaseTruncate)
		}
		return
	}
	for i, t := range truncs {
		ans := answers[i]
		if ans.Error != nil {
			s.fail(t.fp, t.gen, ans.Error, phaseTruncate)
			continue
		}
		again, err := s.cut(t, ans)
		s.mu.Lock()
		if t.fp.gen == t.gen && s.parts[t.fp.sid] == t.fp {
			switch {
			case err != nil:
				s.failLocked(t.fp, err, phaseTruncate)
			case again >= 0:
				t.fp.ask = again
			default:
				t.fp.phase, t.fp.failures, t.fp.lastErr = phaseFetch, 0, ""
			}
		}
		s.mu.Unlock()
	}
}

// cut applies the leader's answer to the log under the partition's append
// lock. It returns the epoch to ask about next, or -1 when done.
func (s *stream) cut(t truncReq, ans wire.EpochEndPartition) (int32, error) {
	t.fp.amu.Lock()
	defer t.fp.amu.Unlock()
	s.mu.Lock()
	live := !t.fp.dead && t.fp.gen == t.gen
	s.mu.Unlock()
	if !live {
		return -1, nil
	}
	l := t.r.Log()
	before := l.EndOffset()
	d := decideTruncation(l, t.ask, ans)
	var err error
	switch {
	case d.Full:
		err = t.r.TruncateFullyAndStartAt(d.To)
	case d.To < before:
		err = t.r.TruncateTo(d.To)
	}
	if err == nil && !d.Again && l.EndOffset() < ans.LogStartOffset {
		// Everything the follower has is below the leader's log start:
		// start over where the leader's log starts.
		d.Full, d.To = true, ans.LogStartOffset
		err = t.r.TruncateFullyAndStartAt(ans.LogStartOffset)
	}
	if err != nil {
		return -1, fmt.Errorf("truncate %s-%d: %w", t.fp.key.topic, t.fp.key.partition, err)
	}
	if after := l.EndOffset(); after != before || d.Full {
		s.f.m.truncations.Inc()
		s.log.Info("truncated follower log", "topic", t.fp.key.topic, "partition", t.fp.key.partition,
			"from", before, "to", after, "full", d.Full, "asked_epoch", t.ask,
			"leader_epoch_end", ans.Epoch, "leader_end_offset", ans.EndOffset)
	}
	if d.Again {
		return d.AskEpoch, nil
	}
	return -1, nil
}

// reset empties a log that is wholly below the leader's log start offset.
func (s *stream) reset(t truncReq) {
	t.fp.amu.Lock()
	s.mu.Lock()
	live := !t.fp.dead && t.fp.gen == t.gen
	to := t.fp.resetTo
	s.mu.Unlock()
	var err error
	if live {
		err = t.r.TruncateFullyAndStartAt(to)
	}
	t.fp.amu.Unlock()
	if !live {
		return
	}
	if err != nil {
		s.fail(t.fp, t.gen, err, phaseTruncate)
		return
	}
	s.f.m.truncations.Inc()
	s.log.Info("follower log restarted at the leader's log start offset", "topic", t.fp.key.topic,
		"partition", t.fp.key.partition, "offset", to)
	s.mu.Lock()
	if t.fp.gen == t.gen {
		t.fp.phase = phaseFetch
	}
	s.mu.Unlock()
}

// read applies the leader's frames until the connection fails, acking
// appends by the replstream.AckBatcher rule: whenever it has read
// everything received so far, and every few hundred KiB or millisecond
// while it works off a backlog.
func (s *stream) read(conn *replstream.Conn) error {
	var acks replstream.AckBatcher
	for {
		fr, err := conn.Next()
		if err != nil {
			return err
		}
		switch fr.Type {
		case wire.ReplicaFrameData:
			if a, ok := s.apply(&fr.Data); ok {
				acks.Add(a, len(fr.Data.Records))
			}
		case wire.ReplicaFrameError:
			s.partitionError(&fr.Error)
		case wire.ReplicaFrameClose:
			return fmt.Errorf("the leader closed the stream: %w", fr.Close.Err)
		case wire.ReplicaFramePing:
		}
		if acks.Due(conn.Buffered()) {
			if err := conn.SendAcks(acks.Take()); err != nil {
				return err
			}
		}
	}
}

// apply appends a Data frame's records. It returns the ack to send when
// records were appended.
func (s *stream) apply(d *replstream.Data) (replstream.Ack, bool) {
	s.mu.Lock()
	fp := s.parts[d.SID]
	s.mu.Unlock()
	if fp == nil {
		return replstream.Ack{}, false
	}
	fp.amu.Lock()
	s.mu.Lock()
	ok := !fp.dead && fp.gen == d.Gen && fp.phase == phaseStreaming
	r, failed := fp.r, fp.failures != 0
	s.mu.Unlock()
	if !ok {
		fp.amu.Unlock()
		s.f.m.staleFrames.Inc()
		return replstream.Ack{}, false
	}
	l := r.Log()
	if len(d.Records) > 0 {
		if err := r.AppendReplicated(d.Records); err != nil {
			fp.amu.Unlock()
			after := phaseTruncate
			if !errors.Is(err, partlog.ErrUnexpectedOffset) {
				s.log.Warn("follower append failed", "topic", fp.key.topic, "partition", fp.key.partition, "err", err)
			}
			s.fail(fp, d.Gen, err, after)
			return replstream.Ack{}, false
		}
	}
	leo := l.EndOffset()
	r.LeaderOffsets(d.HighWatermark, d.LogStartOffset, d.LogEndOffset)
	fp.amu.Unlock()
	fp.leaderLEO.Store(d.LogEndOffset)
	if len(d.Records) == 0 {
		return replstream.Ack{}, false
	}
	s.f.m.bytes.Add(float64(len(d.Records)))
	s.f.m.frames.Inc()
	if failed {
		s.mu.Lock()
		if fp.gen == d.Gen {
			fp.failures, fp.lastErr = 0, ""
		}
		s.mu.Unlock()
	}
	return replstream.Ack{SID: d.SID, Gen: d.Gen, LogEndOffset: leo}, true
}

// partitionError handles the leader's refusal of a partition.
func (s *stream) partitionError(pe *replstream.PartitionError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fp := s.parts[pe.SID]
	if fp == nil || fp.gen != pe.Gen {
		return
	}
	after := phaseFetch
	switch pe.Err.Code {
	case wire.CodeOffsetOutOfRange:
		leo := fp.r.Log().EndOffset()
		if pe.LogStartOffset >= 0 && leo < pe.LogStartOffset {
			fp.resetTo, after = pe.LogStartOffset, phaseReset
		} else {
			fp.ask, after = askLatest, phaseTruncate
		}
	case wire.CodeFencedLeaderEpoch, wire.CodeUnknownLeaderEpoch, wire.CodeNotLeaderOrFollower,
		wire.CodeUnknownTopicOrPartition, wire.CodeLeaderNotAvailable:
		// Metadata is moving: this node or the leader has not caught up
		// with the newest image yet. Retry as we are; a new assignment
		// (Follow) restarts the partition anyway.
	default:
		fp.ask, after = askLatest, phaseTruncate
	}
	s.failLocked(fp, pe.Err, after)
	s.signal()
}
