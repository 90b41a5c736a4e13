package replstream

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"strand.dev/client/wire"
)

// DialConfig configures the follower's end of a stream.
type DialConfig struct {
	// ReplicaID is this (the follower) node's id.
	ReplicaID int32
	// DialTimeout bounds connecting and the upgrade. Default 5 s.
	DialTimeout time.Duration
	// IdleTimeout: a stream on which nothing arrives for this long is dead
	// (the leader pings an idle stream every ServerConfig.PingInterval).
	// Default 10 s.
	IdleTimeout time.Duration
	// WriteTimeout bounds one write to the leader. Default 10 s.
	WriteTimeout time.Duration
	// MaxFrameBytes bounds a frame from the leader (a Data frame holds up to
	// the leader's MaxPartitionBytes, or one whole batch). Default 64 MiB.
	MaxFrameBytes int
	// ReadBufferBytes is the size of the read buffer. Default 1 MiB.
	ReadBufferBytes int
}

func (c *DialConfig) defaults() {
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 64 << 20
	}
	if c.ReadBufferBytes <= 0 {
		c.ReadBufferBytes = 1 << 20
	}
}

// Conn is the follower's end of a replica stream. Next is called by one
// goroutine (the reader); the Send methods may be called from any goroutine
// (they serialise on a mutex and write at once).
type Conn struct {
	cfg DialConfig
	c   net.Conn
	fr  frameReader

	wmu  sync.Mutex
	wbuf []byte

	frame Frame
}

// Frame is one frame from the leader. Exactly the field of Type is set.
type Frame struct {
	Type  wire.ReplicaFrameType
	Data  Data
	Error PartitionError
	Close Close
}

// Dial connects to the leader's API at addr and upgrades to a stream.
// A refusal comes back as the *wire.Error the leader answered.
func Dial(ctx context.Context, addr string, cfg DialConfig) (*Conn, error) {
	cfg.defaults()
	d := net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 15 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("replstream: dial %s: %w", addr, err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	_ = c.SetDeadline(time.Now().Add(cfg.DialTimeout))
	req := "GET " + wire.PathReplicaStream + "?" + wire.ParamReplicaID + "=" + strconv.Itoa(int(cfg.ReplicaID)) +
		" HTTP/1.1\r\nHost: " + addr + "\r\nConnection: Upgrade\r\nUpgrade: " + wire.ReplicaStreamProtocol +
		"\r\nUser-Agent: strand-data\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, fmt.Errorf("replstream: upgrade request to %s: %w", addr, err)
	}
	br := bufio.NewReaderSize(c, cfg.ReadBufferBytes)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("replstream: upgrade answer from %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols ||
		!strings.EqualFold(resp.Header.Get("Upgrade"), wire.ReplicaStreamProtocol) {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		c.Close()
		return nil, wire.UnmarshalError(resp.StatusCode, body)
	}
	_ = c.SetDeadline(time.Time{})
	return &Conn{cfg: cfg, c: c, fr: frameReader{r: br, max: cfg.MaxFrameBytes}}, nil
}

// Next reads the next frame. The frame and its records are valid until the
// next call. A Ping frame is returned too (it proves the stream alive).
func (c *Conn) Next() (*Frame, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(c.cfg.IdleTimeout))
	t, body, err := c.fr.next()
	if err != nil {
		return nil, err
	}
	f := &c.frame
	f.Type = t
	switch t {
	case wire.ReplicaFrameData:
		f.Data, err = decodeData(body)
	case wire.ReplicaFrameError:
		f.Error, err = decodePartitionError(body)
	case wire.ReplicaFrameClose:
		f.Close, err = decodeClose(body)
	case wire.ReplicaFramePing:
		if len(body) != 0 {
			err = fmt.Errorf("%w: ping with a body", ErrMalformed)
		}
	default:
		err = fmt.Errorf("%w: frame type %d from a leader", ErrMalformed, t)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Buffered is the number of received bytes not yet returned by Next when
// they hold the whole next frame, and 0 when the next Next waits for the
// network (nothing is buffered, or only the start of a frame): the moment to
// send acks. (A leader streaming a backlog keeps the socket full, so reads
// almost never end on a frame boundary; counting a partial frame as
// buffered would hold every ack back until the follower had drained the
// whole backlog, and the leader's high watermark with them.) Called by the
// goroutine that calls Next.
func (c *Conn) Buffered() int { return c.fr.whole() }

// SendFetch (re)starts a partition.
func (c *Conn) SendFetch(f Fetch) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = appendFetch(c.wbuf[:0], f)
	return c.write()
}

// SendAcks reports log end offsets. Nothing is sent for an empty list.
func (c *Conn) SendAcks(acks []Ack) error {
	if len(acks) == 0 {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = appendAcks(c.wbuf[:0], acks)
	return c.write()
}

// SendStop stops a partition.
func (c *Conn) SendStop(sid uint32) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = appendStop(c.wbuf[:0], sid)
	return c.write()
}

// write sends wbuf. Callers hold wmu.
func (c *Conn) write() error {
	_ = c.c.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
	if _, err := c.c.Write(c.wbuf); err != nil {
		return fmt.Errorf("replstream: write to leader: %w", err)
	}
	return nil
}

// Close closes the connection; a Next in progress fails.
func (c *Conn) Close() error { return c.c.Close() }

// RemoteAddr is the leader's address.
func (c *Conn) RemoteAddr() string { return c.c.RemoteAddr().String() }
