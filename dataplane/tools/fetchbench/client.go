package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
)

// readBufSize is the receive buffer of every client, so the three paths
// are measured with the same reader.
const readBufSize = 1 << 20

// httpClient is a minimal keep-alive HTTP/1.1 client that discards bodies
// with large reads: the same receive path for the sendfile and copying
// fetches.
type httpClient struct {
	c   net.Conn
	br  *bufio.Reader
	buf []byte
}

// dialHTTP connects to addr.
func dialHTTP(addr string) (*httpClient, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &httpClient{c: c, br: bufio.NewReaderSize(c, 64<<10), buf: make([]byte, readBufSize)}, nil
}

// get sends GET path and discards the body, returning its length.
func (h *httpClient) get(path string) (int64, error) {
	if _, err := fmt.Fprintf(h.c, "GET %s HTTP/1.1\r\nHost: fetchbench\r\n\r\n", path); err != nil {
		return 0, err
	}
	status, err := h.br.ReadSlice('\n')
	if err != nil {
		return 0, fmt.Errorf("read status: %w", err)
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200")) {
		return 0, fmt.Errorf("status %q", bytes.TrimSpace(status))
	}
	n := int64(-1)
	for {
		line, err := h.br.ReadSlice('\n')
		if err != nil {
			return 0, fmt.Errorf("read header: %w", err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(k, []byte("Content-Length")) {
			if n, err = strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64); err != nil {
				return 0, fmt.Errorf("content-length %q", v)
			}
		}
	}
	if n < 0 {
		return 0, fmt.Errorf("no content-length")
	}
	return n, h.discard(n)
}

// discard reads n body bytes.
func (h *httpClient) discard(n int64) error {
	for n > 0 {
		m, err := h.br.Read(h.buf[:min(int64(len(h.buf)), n)])
		n -= int64(m)
		if err != nil {
			if err == io.EOF && n == 0 {
				return nil
			}
			return fmt.Errorf("read body (%d bytes left): %w", n, err)
		}
	}
	return nil
}

// Close closes the connection.
func (h *httpClient) Close() error { return h.c.Close() }

// bareClient asks a bareServer for regions by index.
type bareClient struct{ httpClient }

// dialBare connects to a bareServer.
func dialBare(addr string) (*bareClient, error) {
	h, err := dialHTTP(addr)
	if err != nil {
		return nil, err
	}
	return &bareClient{*h}, nil
}

// get asks for region i, whose length is n, and discards it.
func (b *bareClient) get(i int, n int64) error {
	var req [4]byte
	binary.BigEndian.PutUint32(req[:], uint32(i))
	if _, err := b.c.Write(req[:]); err != nil {
		return err
	}
	return b.discard(n)
}
