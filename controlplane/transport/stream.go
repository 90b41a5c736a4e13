package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"strand.dev/client/wire"
)

// Headers of the stream-opening request.
const (
	headerCluster = "X-Strand-Cluster"
	headerFrom    = "X-Strand-From"
	headerTo      = "X-Strand-To"
	headerStream  = "X-Strand-Stream"
	upgradeToken  = "strand-raft"
)

// Stream kinds.
const (
	streamMessages = "messages"
	streamSnapshot = "snapshot"
)

// snapshotAck is the byte a receiver writes once it has handed a snapshot to
// raft.
const snapshotAck = 'k'

// errRemoved reports that the peer refused a stream because this member was
// removed from the cluster (HTTP 410).
var errRemoved = errors.New("transport: this member was removed from the cluster")

// errFrameTooLarge reports a frame over the configured limit.
var errFrameTooLarge = errors.New("transport: frame too large")

// appendFrame appends m as a length-prefixed (uint32, big endian) frame.
func appendFrame(buf []byte, m *raftpb.Message) ([]byte, error) {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0)
	buf, err := proto.MarshalOptions{}.MarshalAppend(buf, m)
	if err != nil {
		return buf[:start], fmt.Errorf("transport: encode message: %w", err)
	}
	binary.BigEndian.PutUint32(buf[start:], uint32(len(buf)-start-4))
	return buf, nil
}

// readFrame reads one length-prefixed message of at most max bytes into buf
// (grown as needed) and decodes it.
func readFrame(r io.Reader, buf *[]byte, max int) (*raftpb.Message, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n > max {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", errFrameTooLarge, n, max)
	}
	if cap(*buf) < n {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("transport: short frame: %w", err)
	}
	m := &raftpb.Message{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("transport: decode message: %w", err)
	}
	return m, nil
}

// openStream dials addr and asks it to upgrade a request on wire.PathMetaRaft
// to a stream of the given kind. It returns the connection and a reader
// positioned after the server's answer.
func openStream(addr, kind, cluster string, from, to uint64, timeout time.Duration) (net.Conn, *bufio.Reader, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, nil, fmt.Errorf("transport: dial %s: %w", addr, err)
	}
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("transport: set deadline: %w", err)
	}
	req := "POST " + wire.PathMetaRaft + " HTTP/1.1\r\n" +
		"Host: " + addr + "\r\n" +
		"Connection: Upgrade\r\n" +
		"Upgrade: " + upgradeToken + "\r\n" +
		headerCluster + ": " + cluster + "\r\n" +
		headerFrom + ": " + strconv.FormatUint(from, 10) + "\r\n" +
		headerTo + ": " + strconv.FormatUint(to, 10) + "\r\n" +
		headerStream + ": " + kind + "\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("transport: write stream request to %s: %w", addr, err)
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("transport: read stream answer from %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode == http.StatusGone {
			return nil, nil, fmt.Errorf("%w (said %s)", errRemoved, addr)
		}
		return nil, nil, fmt.Errorf("transport: %s refused the stream: %w", addr, wire.UnmarshalError(resp.StatusCode, body))
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("transport: clear deadline: %w", err)
	}
	return conn, br, nil
}
