package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"strand.dev/client/wire"
)

// upgradeAnswer is what the server writes to accept a stream.
const upgradeAnswer = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + upgradeToken + "\r\n\r\n"

// Handler serves wire.PathMetaRaft: it checks the stream request (cluster,
// addressee, known sender) and upgrades the connection to an inbound stream.
func (t *Transport) Handler(ctx *fasthttp.RequestCtx) {
	if !ctx.IsPost() {
		writeError(ctx, wire.Errorf(wire.CodeInvalidRequest, "the raft endpoint takes POST"))
		return
	}
	h := &ctx.Request.Header
	if cluster := string(h.Peek(headerCluster)); cluster != t.cfg.ClusterID {
		writeError(ctx, wire.Errorf(wire.CodeInconsistentClusterID, "peer belongs to cluster %q, this node to %q", cluster, t.cfg.ClusterID))
		return
	}
	from, err1 := strconv.ParseUint(string(h.Peek(headerFrom)), 10, 64)
	to, err2 := strconv.ParseUint(string(h.Peek(headerTo)), 10, 64)
	if err1 != nil || err2 != nil || from == 0 {
		writeError(ctx, wire.Errorf(wire.CodeInvalidRequest, "bad %s/%s headers", headerFrom, headerTo))
		return
	}
	if to != t.cfg.LocalID {
		writeError(ctx, wire.Errorf(wire.CodeMemberNotFound, "stream for member %d reached member %d", to, t.cfg.LocalID))
		return
	}
	if t.cfg.IsRemoved != nil && t.cfg.IsRemoved(from) {
		writeError(ctx, wire.Errorf(wire.CodeMemberNotFound, "member %d was removed from the cluster", from))
		ctx.SetStatusCode(fasthttp.StatusGone)
		return
	}
	kind := string(h.Peek(headerStream))
	if kind != streamMessages && kind != streamSnapshot {
		writeError(ctx, wire.Errorf(wire.CodeInvalidRequest, "unknown stream kind %q", kind))
		return
	}
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		// fasthttp's hijacked connection ignores Close (the server closes
		// it when this returns): Close and RemovePeer close the raw one.
		raw := c
		if u, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
			raw = u.UnsafeConn()
		}
		if !t.trackInbound(raw, from) {
			return // closing
		}
		defer t.untrackInbound(raw)
		if err := c.SetDeadline(time.Time{}); err != nil {
			return
		}
		if _, err := io.WriteString(c, upgradeAnswer); err != nil {
			return
		}
		var err error
		if kind == streamSnapshot {
			err = t.serveSnapshot(c, from)
		} else {
			err = t.serveMessages(c, from)
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			t.log.Debug("inbound stream ended", "peer", from, "kind", kind, "err", err)
		}
	})
}

// serveMessages reads message frames until the stream ends and hands each
// to raft. Handing over blocks while raft's inbox is full, which pushes back
// on the sender.
func (t *Transport) serveMessages(c net.Conn, from uint64) error {
	br := bufio.NewReaderSize(c, 64<<10)
	var buf []byte
	for {
		m, err := readFrame(br, &buf, t.cfg.MaxFrameBytes)
		if err != nil {
			return err
		}
		if err := t.deliver(m, from); err != nil {
			return err
		}
	}
}

// serveSnapshot reads the one snapshot message of a snapshot stream, hands it
// to raft and acknowledges it.
func (t *Transport) serveSnapshot(c net.Conn, from uint64) error {
	if err := c.SetReadDeadline(time.Now().Add(t.cfg.SnapshotTimeout)); err != nil {
		return err
	}
	br := bufio.NewReaderSize(c, 1<<20)
	var hdr [8]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return fmt.Errorf("transport: snapshot header: %w", err)
	}
	n := binary.BigEndian.Uint64(hdr[:])
	if n > uint64(t.cfg.MaxSnapshotBytes) {
		return fmt.Errorf("%w: snapshot of %d bytes (limit %d)", errFrameTooLarge, n, t.cfg.MaxSnapshotBytes)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return fmt.Errorf("transport: snapshot body: %w", err)
	}
	m := &raftpb.Message{}
	if err := proto.Unmarshal(b, m); err != nil {
		return fmt.Errorf("transport: decode snapshot message: %w", err)
	}
	if m.GetType() != raftpb.MsgSnap {
		return fmt.Errorf("transport: snapshot stream carried %v", m.GetType())
	}
	if err := t.deliver(m, from); err != nil {
		return err
	}
	if err := c.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout)); err != nil {
		return err
	}
	_, err := c.Write([]byte{snapshotAck})
	return err
}

// deliver checks a received message and hands it to raft.
func (t *Transport) deliver(m *raftpb.Message, from uint64) error {
	if m.GetFrom() != from || m.GetTo() != t.cfg.LocalID {
		return fmt.Errorf("transport: message %d->%d on the stream of %d->%d", m.GetFrom(), m.GetTo(), from, t.cfg.LocalID)
	}
	if t.cfg.Filter != nil && !t.cfg.Filter(from, t.cfg.LocalID) {
		t.metrics.incDropped(strconv.FormatUint(from, 10), "filtered", 1)
		return nil
	}
	t.metrics.incReceived()
	return t.cfg.Raft.Process(t.closeCtx, m)
}

// writeError answers a refused stream request with the JSON error envelope.
func writeError(ctx *fasthttp.RequestCtx, err error) {
	body, status := wire.MarshalError(err)
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}
