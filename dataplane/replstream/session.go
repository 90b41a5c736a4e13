package replstream

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"strand.dev/client/wire"
	"strand.dev/dataplane/partlog"
)

// session is one replica stream on the leader.
//
// Goroutines: run (the sender) owns bw and every write to the connection;
// the reader goroutine it starts owns the frame reader. mu guards parts,
// the dirty queue and closing; neither goroutine holds it across I/O or
// across calls into the Source (LeaderPartition methods may take the
// partition's own locks, and a Subscribe callback takes mu).
type session struct {
	srv     *Server
	replica int32
	conn    net.Conn
	// rf is the raw connection's ReaderFrom (sendfile), nil when the
	// connection has none.
	rf io.ReaderFrom
	bw *bufio.Writer

	wake chan struct{} // capacity 1: something is dirty, or closing
	done chan struct{} // closed when the reader stops

	mu      sync.Mutex
	parts   map[uint32]*sessPart
	dirty   []*sessPart
	closing *wire.Error // set by shutdown: the sender sends Close and ends

	scratch []byte // frame header buffer, sender only
}

// sessPart is one partition of a stream. Fields below mu are guarded by
// session.mu.
type sessPart struct {
	sid       uint32
	topic     string
	partition int32
	p         LeaderPartition // nil when the lookup failed (lookupErr)
	lookupErr error
	cancel    func()

	gen        uint32
	epoch      int32
	sendOffset int64
	hwSent     int64
	failed     bool // an error frame was sent for gen; nothing more until a new Fetch
	queued     bool
	removed    bool
}

func newSession(s *Server, c net.Conn, replica int32) *session {
	ss := &session{
		srv:     s,
		replica: replica,
		conn:    c,
		bw:      bufio.NewWriterSize(c, s.cfg.WriteBufferBytes),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		parts:   make(map[uint32]*sessPart),
	}
	raw := c
	if u, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
		raw = u.UnsafeConn()
	}
	if rf, ok := raw.(io.ReaderFrom); ok && s.cfg.SendfileMinBytes >= 0 {
		if _, isTCP := raw.(*net.TCPConn); isTCP {
			ss.rf = rf
		}
	}
	return ss
}

// signal wakes the sender without blocking.
func (ss *session) signal() {
	select {
	case ss.wake <- struct{}{}:
	default:
	}
}

// markDirty queues sp for the sender. Callers hold mu.
func (ss *session) markDirtyLocked(sp *sessPart) {
	if sp.queued || sp.removed {
		return
	}
	sp.queued = true
	ss.dirty = append(ss.dirty, sp)
}

// markAllDirty queues every partition, so that high watermark moves reach
// the follower.
func (ss *session) markAllDirty() {
	ss.mu.Lock()
	for _, sp := range ss.parts {
		if !sp.failed {
			ss.markDirtyLocked(sp)
		}
	}
	ss.mu.Unlock()
}

// shutdown makes the sender send a Close frame and end; after grace the
// connection is closed whatever the sender is doing.
func (ss *session) shutdown(why *wire.Error, grace time.Duration) {
	ss.mu.Lock()
	if ss.closing == nil {
		ss.closing = why
	}
	ss.mu.Unlock()
	ss.signal()
	time.AfterFunc(grace, func() { _ = ss.conn.Close() })
}

// run answers the upgrade, starts the reader and sends until the stream
// ends. It returns why it ended.
func (ss *session) run() error {
	defer ss.conn.Close()
	defer ss.dropAll()
	_ = ss.conn.SetWriteDeadline(time.Now().Add(ss.srv.cfg.WriteTimeout))
	if _, err := ss.conn.Write(switching); err != nil {
		return fmt.Errorf("answer the upgrade: %w", err)
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(ss.done)
		readErr <- ss.readLoop()
	}()
	err := ss.sendLoop()
	_ = ss.conn.Close() // ends the reader
	<-ss.done
	if err == nil {
		err = <-readErr
	}
	return err
}

// dropAll cancels every subscription.
func (ss *session) dropAll() {
	ss.mu.Lock()
	parts := ss.parts
	ss.parts = map[uint32]*sessPart{}
	ss.dirty = nil
	ss.mu.Unlock()
	for _, sp := range parts {
		if sp.cancel != nil {
			sp.cancel()
		}
	}
}

// readLoop handles the follower's frames until the connection fails.
func (ss *session) readLoop() error {
	fr := frameReader{r: bufio.NewReaderSize(ss.conn, 64<<10), max: ss.srv.cfg.MaxFrameBytes}
	var acks []Ack
	for {
		t, body, err := fr.next()
		if err != nil {
			return fmt.Errorf("read from follower: %w", err)
		}
		switch t {
		case wire.ReplicaFrameFetch:
			f, err := decodeFetch(body)
			if err != nil {
				return err
			}
			if err := ss.fetch(f); err != nil {
				return err
			}
		case wire.ReplicaFrameAck:
			if acks, err = decodeAcks(acks[:0], body, ss.srv.cfg.MaxPartitions); err != nil {
				return err
			}
			ss.ack(acks)
		case wire.ReplicaFrameStop:
			sid, err := decodeStop(body)
			if err != nil {
				return err
			}
			ss.stop(sid)
		default:
			return fmt.Errorf("%w: frame type %d from a follower", ErrMalformed, t)
		}
	}
}

// fetch (re)starts a partition.
func (ss *session) fetch(f Fetch) error {
	ss.mu.Lock()
	sp, ok := ss.parts[f.SID]
	if ok && (sp.topic != f.Topic || sp.partition != f.Partition) {
		// The follower reuses the sid for another partition.
		delete(ss.parts, f.SID)
		sp.removed = true
		if sp.cancel != nil {
			defer sp.cancel()
		}
		ok = false
	}
	if !ok && len(ss.parts) >= ss.srv.cfg.MaxPartitions {
		ss.mu.Unlock()
		return fmt.Errorf("%w: more than %d partitions in one stream", ErrMalformed, ss.srv.cfg.MaxPartitions)
	}
	ss.mu.Unlock()
	if !ok {
		sp = &sessPart{sid: f.SID, topic: f.Topic, partition: f.Partition}
	}
	if sp.p == nil {
		// A new partition, or one whose lookup failed before: look it up.
		// Only this goroutine sets p, so reading it without mu is safe.
		p, err := ss.srv.src.LeaderPartition(f.Topic, f.Partition)
		ss.mu.Lock()
		sp.p, sp.lookupErr = p, err
		ss.mu.Unlock()
		if err == nil {
			sp.cancel = p.Subscribe(func() {
				ss.mu.Lock()
				ss.markDirtyLocked(sp)
				ss.mu.Unlock()
				ss.signal()
			})
		}
	}
	ss.mu.Lock()
	sp.gen, sp.epoch, sp.sendOffset = f.Gen, f.LeaderEpoch, f.Offset
	sp.hwSent, sp.failed = -1, false
	ss.parts[f.SID] = sp
	ss.markDirtyLocked(sp)
	ss.mu.Unlock()
	ss.signal()
	if sp.p != nil {
		// The fetch offset is the follower's log end offset.
		sp.p.FollowerAck(ss.replica, f.LeaderEpoch, f.Offset)
	}
	return nil
}

// ack records the follower's log end offsets.
func (ss *session) ack(acks []Ack) {
	type rec struct {
		p     LeaderPartition
		epoch int32
		leo   int64
	}
	recs := make([]rec, 0, len(acks))
	ss.mu.Lock()
	for _, a := range acks {
		sp := ss.parts[a.SID]
		if sp == nil || sp.p == nil || sp.gen != a.Gen || sp.failed {
			continue
		}
		recs = append(recs, rec{sp.p, sp.epoch, a.LogEndOffset})
	}
	ss.mu.Unlock()
	for _, r := range recs {
		r.p.FollowerAck(ss.replica, r.epoch, r.leo)
	}
}

// stop removes a partition from the stream.
func (ss *session) stop(sid uint32) {
	ss.mu.Lock()
	sp := ss.parts[sid]
	delete(ss.parts, sid)
	if sp != nil {
		sp.removed = true
	}
	ss.mu.Unlock()
	if sp != nil && sp.cancel != nil {
		sp.cancel()
	}
}

// work is what the sender does next for one partition, decided under mu.
type work struct {
	sp         *sessPart
	p          LeaderPartition
	lookupErr  error
	gen        uint32
	epoch      int32
	sendOffset int64
	hwSent     int64
}

// next pops the next dirty partition, or reports the Close to send.
func (ss *session) next() (w work, ok bool, closing *wire.Error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closing != nil {
		return work{}, false, ss.closing
	}
	for len(ss.dirty) > 0 {
		sp := ss.dirty[0]
		ss.dirty[0] = nil
		ss.dirty = ss.dirty[1:]
		sp.queued = false
		if sp.removed || sp.failed {
			continue
		}
		return work{sp: sp, p: sp.p, lookupErr: sp.lookupErr, gen: sp.gen, epoch: sp.epoch,
			sendOffset: sp.sendOffset, hwSent: sp.hwSent}, true, nil
	}
	return work{}, false, nil
}

// sendLoop is the sender: it serves dirty partitions, flushes when it runs
// out of work, pings an idle stream, and ends on a write error, when the
// reader stops, or after sending a Close.
func (ss *session) sendLoop() error {
	cfg := &ss.srv.cfg
	ping := time.NewTimer(cfg.PingInterval)
	defer ping.Stop()
	hw := time.NewTicker(cfg.HighWatermarkInterval)
	defer hw.Stop()
	for {
		w, ok, closing := ss.next()
		if closing != nil {
			ss.scratch = appendClose(ss.scratch[:0], closing)
			_ = ss.conn.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
			_, _ = ss.bw.Write(ss.scratch)
			_ = ss.bw.Flush()
			return closing
		}
		if ok {
			_ = ss.conn.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
			if err := ss.serveOne(w); err != nil {
				return err
			}
			continue
		}
		if ss.bw.Buffered() > 0 {
			_ = ss.conn.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
			if err := ss.bw.Flush(); err != nil {
				return fmt.Errorf("write to follower: %w", err)
			}
			if !ping.Stop() {
				select {
				case <-ping.C:
				default:
				}
			}
			ping.Reset(cfg.PingInterval)
		}
		select {
		case <-ss.wake:
		case <-hw.C:
			ss.markAllDirty()
		case <-ss.done:
			return errors.New("the follower's side of the stream ended")
		case <-ping.C:
			ss.srv.m.pingF.Inc()
			ss.scratch = appendPing(ss.scratch[:0])
			_ = ss.conn.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
			if _, err := ss.bw.Write(ss.scratch); err != nil {
				return fmt.Errorf("write to follower: %w", err)
			}
			if err := ss.bw.Flush(); err != nil {
				return fmt.Errorf("write to follower: %w", err)
			}
			ping.Reset(cfg.PingInterval)
		}
	}
}

// serveOne sends what one partition needs: an error, records, or a high
// watermark update.
func (ss *session) serveOne(w work) error {
	if w.p == nil {
		return ss.sendError(w, w.lookupErr, LeaderState{LeaderEpoch: -1, LogStartOffset: -1, LogEndOffset: -1})
	}
	st, err := w.p.CheckFollower(ss.replica, w.epoch)
	if err != nil {
		return ss.sendError(w, err, st)
	}
	if w.sendOffset > st.LogEndOffset || w.sendOffset < st.LogStartOffset {
		return ss.sendError(w, wire.Errorf(wire.CodeOffsetOutOfRange,
			"offset %d is outside [%d, %d]", w.sendOffset, st.LogStartOffset, st.LogEndOffset), st)
	}
	if w.sendOffset < st.LogEndOffset {
		region, err := w.p.ReadReplica(w.sendOffset, ss.srv.cfg.MaxPartitionBytes)
		if err != nil {
			return ss.sendError(w, err, st)
		}
		err = ss.sendData(w, st, region)
		if region.File != nil {
			_ = region.File.Close()
		}
		if err != nil {
			return err
		}
		ss.mu.Lock()
		if w.sp.gen == w.gen && !w.sp.failed {
			w.sp.sendOffset = region.NextOffset
			w.sp.hwSent = st.HighWatermark
			if region.NextOffset > w.sendOffset && region.NextOffset < st.LogEndOffset {
				ss.markDirtyLocked(w.sp) // more to send: back of the queue
			}
		}
		ss.mu.Unlock()
		return nil
	}
	if st.HighWatermark != w.hwSent {
		if err := ss.sendData(w, st, partlog.Region{NextOffset: w.sendOffset}); err != nil {
			return err
		}
		ss.srv.m.hwF.Inc()
		ss.mu.Lock()
		if w.sp.gen == w.gen {
			w.sp.hwSent = st.HighWatermark
		}
		ss.mu.Unlock()
	}
	return nil
}

// sendData writes a Data frame: the header, then the region by sendfile
// (long regions, after flushing the buffer) or copied into the buffer.
func (ss *session) sendData(w work, st LeaderState, region partlog.Region) error {
	d := Data{SID: w.sp.sid, Gen: w.gen, LeaderEpoch: st.LeaderEpoch, HighWatermark: st.HighWatermark,
		LogStartOffset: st.LogStartOffset, LogEndOffset: st.LogEndOffset, NextOffset: region.NextOffset}
	ss.scratch = appendDataHeader(ss.scratch[:0], d, int(region.Len))
	if _, err := ss.bw.Write(ss.scratch); err != nil {
		return fmt.Errorf("write to follower: %w", err)
	}
	if region.Len > 0 {
		ss.srv.m.dataF.Inc()
	}
	if region.Len == 0 {
		return nil
	}
	if ss.rf != nil && region.Len >= ss.srv.cfg.SendfileMinBytes {
		if err := ss.bw.Flush(); err != nil {
			return fmt.Errorf("write to follower: %w", err)
		}
		n, err := ss.rf.ReadFrom(&io.LimitedReader{R: region.File, N: region.Len})
		ss.srv.m.sendfile.Add(float64(n))
		if err == nil && n != region.Len {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return fmt.Errorf("send records to follower: %w", err)
		}
		return nil
	}
	left := region.Len
	for left > 0 {
		if ss.bw.Available() == 0 {
			if err := ss.bw.Flush(); err != nil {
				return fmt.Errorf("write to follower: %w", err)
			}
		}
		buf := ss.bw.AvailableBuffer()
		buf = buf[:min(int64(cap(buf)), left)]
		n, err := io.ReadFull(region.File, buf)
		if err != nil {
			return fmt.Errorf("read records of %s-%d: %w", w.sp.topic, w.sp.partition, err)
		}
		_, _ = ss.bw.Write(buf[:n]) // fits: it is the available buffer
		left -= int64(n)
	}
	ss.srv.m.copied.Add(float64(region.Len))
	return nil
}

// sendError writes an Error frame for the partition and stops serving it
// until the follower sends a new Fetch.
func (ss *session) sendError(w work, err error, st LeaderState) error {
	var we *wire.Error
	if !errors.As(err, &we) {
		we = &wire.Error{Code: wire.CodeUnknown, Message: err.Error()}
	} else if we.Message == "" {
		we = &wire.Error{Code: we.Code, Message: err.Error()}
	}
	ss.mu.Lock()
	stale := w.sp.gen != w.gen
	if !stale {
		w.sp.failed = true
	}
	ss.mu.Unlock()
	if stale {
		return nil
	}
	ss.srv.m.errF.Inc()
	ss.scratch = appendPartitionError(ss.scratch[:0], PartitionError{SID: w.sp.sid, Gen: w.gen, Err: we,
		LeaderEpoch: st.LeaderEpoch, LogStartOffset: st.LogStartOffset, LogEndOffset: st.LogEndOffset})
	if _, err := ss.bw.Write(ss.scratch); err != nil {
		return fmt.Errorf("write to follower: %w", err)
	}
	return nil
}
