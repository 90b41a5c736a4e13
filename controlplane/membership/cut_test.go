package membership

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// cutTransport wraps a transport so a test can cut the member off the
// network (both directions) and heal it again, the way a CPU-starved or
// partitioned process looks to the others.
type cutTransport struct {
	inner   transportCore
	cut     atomic.Bool
	packets chan *memberlist.Packet
	streams chan net.Conn
	stop    chan struct{}
	once    sync.Once
}

func newCutTransport(inner transportCore) *cutTransport {
	t := &cutTransport{
		inner:   inner,
		packets: make(chan *memberlist.Packet, 256),
		streams: make(chan net.Conn, 64),
		stop:    make(chan struct{}),
	}
	go t.pumpPackets()
	go t.pumpStreams()
	return t
}

func (t *cutTransport) pumpPackets() {
	for {
		select {
		case <-t.stop:
			return
		case p := <-t.inner.PacketCh():
			if t.cut.Load() {
				continue
			}
			select {
			case t.packets <- p:
			case <-t.stop:
				return
			}
		}
	}
}

func (t *cutTransport) pumpStreams() {
	for {
		select {
		case <-t.stop:
			return
		case c := <-t.inner.StreamCh():
			if t.cut.Load() {
				_ = c.Close()
				continue
			}
			select {
			case t.streams <- c:
			case <-t.stop:
				_ = c.Close()
				return
			}
		}
	}
}

var errCut = errors.New("cut off the network by the test")

func (t *cutTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return t.inner.FinalAdvertiseAddr(ip, port)
}

func (t *cutTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.cut.Load() {
		return time.Now(), nil
	}
	return t.inner.WriteTo(b, addr)
}

func (t *cutTransport) WriteToAddress(b []byte, addr memberlist.Address) (time.Time, error) {
	if t.cut.Load() {
		return time.Now(), nil
	}
	return t.inner.WriteToAddress(b, addr)
}

func (t *cutTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

func (t *cutTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.cut.Load() {
		return nil, errCut
	}
	return t.inner.DialTimeout(addr, timeout)
}

func (t *cutTransport) DialAddressTimeout(addr memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.cut.Load() {
		return nil, errCut
	}
	return t.inner.DialAddressTimeout(addr, timeout)
}

func (t *cutTransport) StreamCh() <-chan net.Conn { return t.streams }

func (t *cutTransport) Shutdown() error {
	t.once.Do(func() { close(t.stop) })
	return t.inner.Shutdown()
}
