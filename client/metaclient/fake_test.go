package metaclient

import (
	"encoding/json"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
)

// fakeMeta is a strand-meta stand-in: a fasthttp server on loopback whose
// handler each test supplies.
type fakeMeta struct {
	addr string
	srv  *fasthttp.Server
	ln   net.Listener
	hits atomic.Int64
	// release unblocks handlers that hang (closed at stop).
	release  chan struct{}
	stopOnce sync.Once
}

// startFake serves h on 127.0.0.1:0 (or on addr when given) until the test
// ends.
func startFake(t *testing.T, addr string, h func(f *fakeMeta, ctx *fasthttp.RequestCtx)) *fakeMeta {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	// Re-binding a port just closed can fail briefly; poll.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ln, err = net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeMeta{addr: ln.Addr().String(), ln: ln, release: make(chan struct{})}
	f.srv = &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			f.hits.Add(1)
			h(f, ctx)
		},
		CloseOnShutdown: true,
	}
	go f.srv.Serve(ln)
	t.Cleanup(f.stop)
	return f
}

// stop closes the listener and every connection.
func (f *fakeMeta) stop() {
	f.stopOnce.Do(func() {
		close(f.release)
		f.srv.Shutdown()
	})
}

// hang blocks the handler until the server stops.
func (f *fakeMeta) hang() { <-f.release }

func writeJSON(ctx *fasthttp.RequestCtx, v any) {
	body, _ := json.Marshal(v)
	ctx.SetContentType(wire.ContentTypeJSON)
	ctx.SetBody(body)
}

func writeErr(ctx *fasthttp.RequestCtx, e *wire.Error) {
	body, status := wire.MarshalError(e)
	ctx.SetStatusCode(status)
	ctx.SetContentType(wire.ContentTypeJSON)
	ctx.SetBody(body)
}

// deadAddr is a loopback address nobody listens on (connection refused).
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// fastClient has short backoffs for tests.
func fastClient(addrs []string, opts ...Option) *Client {
	opts = append([]Option{WithBackoff(5*time.Millisecond, 50*time.Millisecond), WithTimeout(5 * time.Second)}, opts...)
	return New(addrs, opts...)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
