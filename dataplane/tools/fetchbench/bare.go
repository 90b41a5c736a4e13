package main

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
)

// bareServer is the baseline: a plain Go loop that answers a 4-byte region
// index by opening the segment file, seeking to the region and copying it
// to the *net.TCPConn with io.Copy over an io.LimitedReader, which is Go's
// sendfile path. No HTTP, no framing: the ceiling the fetch path is
// measured against.
//
// With copying set it sends the region by read(2) into a 256 KiB buffer and
// write(2) out of it instead: the bare copying loop, to tell what the
// machine's loopback gives each method without any server around it.
type bareServer struct {
	ln      net.Listener
	regions []region
	copying bool
	done    chan struct{}
}

// startBare listens on a loopback port and serves connections.
func startBare(regions []region, copying bool) (*bareServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &bareServer{ln: ln, regions: regions, copying: copying, done: make(chan struct{})}
	go s.accept()
	return s, nil
}

// accept serves each connection on its own goroutine until the listener
// closes.
func (s *bareServer) accept() {
	defer close(s.done)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.serve(c)
	}
}

// serve answers region requests on one connection.
func (s *bareServer) serve(c net.Conn) {
	defer c.Close()
	var req [4]byte
	for {
		if _, err := io.ReadFull(c, req[:]); err != nil {
			return
		}
		i := int(binary.BigEndian.Uint32(req[:]))
		if i >= len(s.regions) {
			return
		}
		if err := s.send(c, s.regions[i]); err != nil {
			return
		}
	}
}

// send copies one region to the connection.
func (s *bareServer) send(c net.Conn, r region) error {
	f, err := os.Open(r.path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(r.pos, io.SeekStart); err != nil {
		return err
	}
	var n int64
	if s.copying {
		n, err = copyThroughBuffer(c, f, r.n)
	} else {
		n, err = io.Copy(c, &io.LimitedReader{R: f, N: r.n})
	}
	if err == nil && n != r.n {
		err = errors.New("short copy")
	}
	return err
}

// Addr is the listen address.
func (s *bareServer) Addr() string { return s.ln.Addr().String() }

// Close stops accepting.
func (s *bareServer) Close() error {
	err := s.ln.Close()
	<-s.done
	return err
}

// copyThroughBuffer sends n bytes of f by read and write through a 256 KiB
// buffer (what strand-data's copying fetch does).
func copyThroughBuffer(w io.Writer, f *os.File, n int64) (int64, error) {
	buf := make([]byte, 256<<10)
	var total int64
	for total < n {
		m, err := f.Read(buf[:min(int64(len(buf)), n-total)])
		if m > 0 {
			if _, werr := w.Write(buf[:m]); werr != nil {
				return total, werr
			}
			total += int64(m)
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// bareClientFor starts a bare loop over the dataset in this process and
// connects to it (the in-process benchmark's client).
func bareClientFor(ds *dataset, copying bool) (*bareClient, func(), error) {
	bs, err := startBare(ds.regions, copying)
	if err != nil {
		return nil, nil, err
	}
	bc, err := dialBare(bs.Addr())
	if err != nil {
		bs.Close()
		return nil, nil, err
	}
	return bc, func() { bc.Close(); bs.Close() }, nil
}
