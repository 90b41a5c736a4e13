package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Reconnect backoff after a failed dial or write.
const (
	minBackoff = 20 * time.Millisecond
	maxBackoff = 500 * time.Millisecond
)

// peer is the sending side towards one member: a bounded queue drained by one
// goroutine (run) that owns the connection.
type peer struct {
	t     *Transport
	id    uint64
	label string // id as a metric label
	queue chan *raftpb.Message
	done  chan struct{}
	once  sync.Once

	mu   sync.Mutex // guards addr and conn (conn only to close it from stop)
	addr string
	conn net.Conn

	snapshotting atomic.Bool // a snapshot send is in flight
}

func newPeer(t *Transport, id uint64, addr string) *peer {
	return &peer{
		t:     t,
		id:    id,
		label: strconv.FormatUint(id, 10),
		queue: make(chan *raftpb.Message, t.cfg.QueueSize),
		done:  make(chan struct{}),
		addr:  addr,
	}
}

func (p *peer) getAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// setAddr changes the address; the current connection is closed so the next
// message dials the new one.
func (p *peer) setAddr(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.addr == addr {
		return
	}
	p.addr = addr
	if p.conn != nil {
		p.conn.Close()
	}
}

func (p *peer) stop() {
	p.once.Do(func() {
		close(p.done)
		p.mu.Lock()
		if p.conn != nil {
			p.conn.Close()
		}
		p.mu.Unlock()
	})
}

// run drains the queue onto the peer's stream until stop. Every message
// queued while a write was in flight goes out in the next write.
func (p *peer) run() {
	var (
		conn    net.Conn
		bw      *bufio.Writer
		buf     []byte
		backoff = minBackoff
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		var m *raftpb.Message
		select {
		case <-p.done:
			return
		case m = <-p.queue:
		}
		if conn == nil {
			c, err := p.dial()
			if errors.Is(err, errRemoved) && p.t.cfg.OnRemoved != nil {
				p.t.cfg.OnRemoved()
			}
			if err != nil {
				n := 1 + p.drain()
				p.t.metrics.incDropped(p.label, "unreachable", n)
				p.t.cfg.Raft.ReportUnreachable(p.id)
				p.t.log.Debug("peer unreachable", "peer", p.id, "err", err)
				select {
				case <-p.done:
					return
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, maxBackoff)
				continue
			}
			conn, backoff = c, minBackoff
			bw = bufio.NewWriterSize(conn, 64<<10)
		}
		// Batch: this message and whatever else is queued, up to a bound.
		buf = buf[:0]
		n := 0
		var err error
		for m != nil {
			if buf, err = appendFrame(buf, m); err != nil {
				break
			}
			n++
			m = nil
			if len(buf) < maxBatchBytes {
				select {
				case m = <-p.queue:
				default:
				}
			}
		}
		if err == nil {
			err = p.write(conn, bw, buf)
		}
		if err != nil {
			p.t.metrics.incDropped(p.label, "write_failed", n)
			p.t.cfg.Raft.ReportUnreachable(p.id)
			p.t.log.Debug("write to peer failed", "peer", p.id, "err", err)
			conn.Close()
			conn = nil
			p.setConn(nil)
			continue
		}
		p.t.metrics.incSent(p.label, n)
		p.t.metrics.addBytesOut(len(buf))
	}
}

func (p *peer) write(conn net.Conn, bw *bufio.Writer, buf []byte) error {
	if err := conn.SetWriteDeadline(time.Now().Add(p.t.cfg.WriteTimeout)); err != nil {
		return err
	}
	if _, err := bw.Write(buf); err != nil {
		return err
	}
	return bw.Flush()
}

// drain drops every queued message and returns how many.
func (p *peer) drain() int {
	n := 0
	for {
		select {
		case <-p.queue:
			n++
		default:
			return n
		}
	}
}

func (p *peer) setConn(c net.Conn) {
	p.mu.Lock()
	p.conn = c
	p.mu.Unlock()
}

// dial opens the message stream to the peer.
func (p *peer) dial() (net.Conn, error) {
	addr := p.getAddr()
	conn, _, err := openStream(addr, streamMessages, p.t.cfg.ClusterID, p.t.cfg.LocalID, p.id, p.t.cfg.DialTimeout)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	select {
	case <-p.done:
		p.mu.Unlock()
		conn.Close()
		return nil, ErrClosed
	default:
	}
	p.conn = conn
	p.mu.Unlock()
	// The receiver never writes on a message stream; a read returning
	// means the stream is gone, so close it to fail the next write fast.
	go func() {
		var b [1]byte
		conn.Read(b[:])
		conn.Close()
	}()
	return conn, nil
}

// sendSnapshot sends a MsgSnap on a connection of its own, in the background,
// and reports the outcome to raft. One snapshot per peer is in flight at a
// time; raft does not send another before the report.
func (t *Transport) sendSnapshot(p *peer, m *raftpb.Message) {
	if !p.snapshotting.CompareAndSwap(false, true) {
		t.cfg.Raft.ReportSnapshot(p.id, raft.SnapshotFailure)
		return
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer p.snapshotting.Store(false)
		start := time.Now()
		err := t.streamSnapshot(p, m)
		if err != nil {
			t.metrics.incSnapshot("failed")
			t.log.Warn("sending snapshot failed", "peer", p.id, "index", m.GetSnapshot().GetMetadata().GetIndex(), "err", err)
			t.cfg.Raft.ReportUnreachable(p.id)
			t.cfg.Raft.ReportSnapshot(p.id, raft.SnapshotFailure)
			return
		}
		t.metrics.incSnapshot("sent")
		t.log.Info("sent snapshot", "peer", p.id, "index", m.GetSnapshot().GetMetadata().GetIndex(),
			"bytes", len(m.GetSnapshot().GetData()), "took", time.Since(start))
		t.cfg.Raft.ReportSnapshot(p.id, raft.SnapshotFinish)
	}()
}

// streamSnapshot writes the snapshot message as one 8-byte-length-prefixed
// frame and waits for the receiver's acknowledgement.
func (t *Transport) streamSnapshot(p *peer, m *raftpb.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("transport: encode snapshot: %w", err)
	}
	if int64(len(b)) > t.cfg.MaxSnapshotBytes {
		return fmt.Errorf("%w: snapshot of %d bytes (limit %d)", errFrameTooLarge, len(b), t.cfg.MaxSnapshotBytes)
	}
	conn, br, err := openStream(p.getAddr(), streamSnapshot, t.cfg.ClusterID, t.cfg.LocalID, p.id, t.cfg.DialTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(t.closeCtx, func() { conn.Close() })
	defer stop()
	if err := conn.SetDeadline(time.Now().Add(t.cfg.SnapshotTimeout)); err != nil {
		return err
	}
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], uint64(len(b)))
	if _, err := conn.Write(hdr[:]); err != nil {
		return fmt.Errorf("transport: write snapshot: %w", err)
	}
	if _, err := conn.Write(b); err != nil {
		return fmt.Errorf("transport: write snapshot: %w", err)
	}
	ack, err := br.ReadByte()
	if err != nil {
		return fmt.Errorf("transport: snapshot acknowledgement: %w", err)
	}
	if ack != snapshotAck {
		return fmt.Errorf("transport: snapshot acknowledged with %q", ack)
	}
	return nil
}
