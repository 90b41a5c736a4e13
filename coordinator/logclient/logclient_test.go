package logclient

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

type staticMeta struct {
	md        *wire.Metadata
	refreshes atomic.Int32
}

func (s *staticMeta) Metadata() *wire.Metadata { return s.md }
func (s *staticMeta) Refresh()                 { s.refreshes.Add(1) }

// serve runs handler on a loopback listener.
func serve(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

func fail(ctx *fasthttp.RequestCtx, err *wire.Error) {
	body, status := wire.MarshalError(err)
	ctx.SetStatusCode(status)
	ctx.SetBody(body)
}

func metaFor(addr string) *staticMeta {
	return &staticMeta{md: &wire.Metadata{
		Nodes:          []wire.NodeInfo{{ID: 1, Addr: addr}},
		ControllerAddr: addr,
		Topics:         []wire.TopicMetadata{{Name: "t", Partitions: []wire.PartitionMetadata{{Partition: 0, Leader: 1}}}},
	}}
}

func TestWholeBatches(t *testing.T) {
	b1, _ := recordbatch.Encode([]recordbatch.Record{{Value: []byte("a")}}, recordbatch.EncodeOptions{})
	b2, _ := recordbatch.Encode([]recordbatch.Record{{Value: []byte("bb")}}, recordbatch.EncodeOptions{})
	both := append(append([]byte(nil), b1...), b2...)
	for cut := 0; cut <= len(both); cut++ {
		got := wholeBatches(both[:cut])
		want := 0
		switch {
		case cut == len(both):
			want = len(both)
		case cut >= len(b1):
			want = len(b1)
		}
		if len(got) != want {
			t.Fatalf("cut %d: kept %d bytes, want %d", cut, len(got), want)
		}
	}
}

func TestProduceRetriesNotLeader(t *testing.T) {
	var calls atomic.Int32
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.QueryArgs().Peek(wire.ParamAcks)) != "all" {
			fail(ctx, wire.Errorf(wire.CodeInvalidRequiredAcks, "want acks=all"))
			return
		}
		if calls.Add(1) < 3 {
			fail(ctx, wire.Errorf(wire.CodeNotLeaderOrFollower, "not yet"))
			return
		}
		b, _ := json.Marshal(wire.ProduceResponse{BaseOffset: 7, LastOffset: 7})
		ctx.SetBody(b)
	})
	md := metaFor(addr)
	c := New(Config{Metadata: md, BackoffBase: time.Millisecond})
	defer c.Close()
	res, err := c.Produce(context.Background(), "t", 0, []byte("x"))
	if err != nil || res.BaseOffset != 7 {
		t.Fatalf("Produce = %+v, %v", res, err)
	}
	if calls.Load() != 3 || md.refreshes.Load() != 2 {
		t.Fatalf("%d calls, %d refreshes", calls.Load(), md.refreshes.Load())
	}
}

func TestErrors(t *testing.T) {
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case wire.PathAdminTopics:
			fail(ctx, wire.Errorf(wire.CodeTopicAlreadyExists, "exists"))
		default:
			fail(ctx, wire.Errorf(wire.CodeCorruptMessage+"X", "never retried"))
		}
	})
	md := metaFor(addr)
	c := New(Config{Metadata: md, BackoffBase: time.Millisecond})
	defer c.Close()
	if err := c.CreateTopic(context.Background(), wire.CreateTopicRequest{Topic: "new", Partitions: 1}); err != nil {
		t.Fatalf("CreateTopic of an existing topic: %v", err)
	}
	if _, err := c.ListOffset(context.Background(), "t", 0, wire.AtLatest); err == nil || md.refreshes.Load() != 0 {
		t.Fatalf("non-retriable error: %v after %d refreshes", err, md.refreshes.Load())
	}
	// Unknown topics are retriable (the metadata may be behind): the
	// caller's context bounds the retries.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Fetch(ctx, "nope", 0, 0, 1, 0); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("fetch of an unknown topic under a deadline: %v", err)
	}
	dead := New(Config{Metadata: metaFor("127.0.0.1:1"), BackoffBase: time.Millisecond})
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	var te *TransportError
	if _, err := dead.Produce(ctx2, "t", 0, []byte("x")); !errors.As(err, &te) {
		t.Fatalf("produce to a dead node: %v", err)
	}
}
