package replstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
	"strand.dev/dataplane/partlog"
)

// fakePart is a leader partition over a real log: high watermark = the
// smallest acknowledged log end offset (one follower).
type fakePart struct {
	log *partlog.Log

	mu    sync.Mutex
	epoch int32
	lead  bool
	hw    int64
	acks  []int64
	subs  map[int]func()
	nsub  int
}

func (p *fakePart) state() LeaderState {
	return LeaderState{LeaderEpoch: p.epoch, HighWatermark: p.hw, LogStartOffset: p.log.StartOffset(), LogEndOffset: p.log.EndOffset()}
}

func (p *fakePart) CheckFollower(replica, epoch int32) (LeaderState, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state()
	switch {
	case !p.lead:
		return st, wire.Errorf(wire.CodeNotLeaderOrFollower, "not the leader")
	case epoch < p.epoch:
		return st, wire.Errorf(wire.CodeFencedLeaderEpoch, "epoch %d < %d", epoch, p.epoch)
	case epoch > p.epoch:
		return st, wire.Errorf(wire.CodeUnknownLeaderEpoch, "epoch %d > %d", epoch, p.epoch)
	}
	return st, nil
}

func (p *fakePart) ReadReplica(offset int64, maxBytes int32) (partlog.Region, error) {
	return p.log.Read(offset, maxBytes, p.log.EndOffset())
}

func (p *fakePart) FollowerAck(replica, epoch int32, leo int64) {
	p.mu.Lock()
	p.acks = append(p.acks, leo)
	moved := leo > p.hw
	if moved {
		p.hw = leo
	}
	subs := p.subsLocked()
	p.mu.Unlock()
	if moved {
		for _, fn := range subs {
			fn()
		}
	}
}

func (p *fakePart) subsLocked() []func() {
	out := make([]func(), 0, len(p.subs))
	for _, fn := range p.subs {
		out = append(out, fn)
	}
	return out
}

func (p *fakePart) Subscribe(fn func()) func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.subs == nil {
		p.subs = map[int]func(){}
	}
	p.nsub++
	id := p.nsub
	p.subs[id] = fn
	return func() {
		p.mu.Lock()
		delete(p.subs, id)
		p.mu.Unlock()
	}
}

// appendRecords appends n records as the leader and wakes subscribers.
func (p *fakePart) appendRecords(t testing.TB, tag string, n, size int) {
	t.Helper()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{Timestamp: int64(i), Value: bytes.Repeat([]byte(tag), size)}
	}
	b, err := recordbatch.Encode(recs, recordbatch.EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.log.Append(b); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	subs := p.subsLocked()
	p.mu.Unlock()
	for _, fn := range subs {
		fn()
	}
}

func (p *fakePart) setEpoch(e int32) {
	p.mu.Lock()
	p.epoch = e
	subs := p.subsLocked()
	p.mu.Unlock()
	for _, fn := range subs {
		fn()
	}
}

type fakeSource struct {
	parts map[string]*fakePart
}

func (s *fakeSource) KnownReplica(id int32) bool { return id == 2 }

func (s *fakeSource) LeaderPartition(topic string, partition int32) (LeaderPartition, error) {
	p, ok := s.parts[fmt.Sprintf("%s-%d", topic, partition)]
	if !ok {
		return nil, wire.Errorf(wire.CodeUnknownTopicOrPartition, "no %s-%d", topic, partition)
	}
	return p, nil
}

func newPart(t testing.TB, dir string) *fakePart {
	t.Helper()
	l, err := partlog.Open(dir, partlog.DefaultConfig(), partlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.AssignEpoch(3, 0); err != nil {
		t.Fatal(err)
	}
	return &fakePart{log: l, epoch: 3, lead: true}
}

// startServer serves the stream on a loopback listener.
func startServer(t testing.TB, src Source, cfg ServerConfig) (*Server, string) {
	t.Helper()
	srv := NewServer(src, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) != wire.PathReplicaStream {
			ctx.SetStatusCode(404)
			return
		}
		if err := srv.Handle(ctx); err != nil {
			body, status := wire.MarshalError(err)
			ctx.SetStatusCode(status)
			ctx.SetBody(body)
		}
	}}
	go hs.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		hs.Shutdown()
	})
	return srv, ln.Addr().String()
}

// collect reads frames until the records received for sid reach want
// bytes, answering acks; it returns the records.
func collect(t testing.TB, c *Conn, sid uint32, want int, leo *int64) []byte {
	t.Helper()
	var got []byte
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < want {
		if time.Now().After(deadline) {
			t.Fatalf("got %d of %d bytes", len(got), want)
		}
		f, err := c.Next()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		switch f.Type {
		case wire.ReplicaFrameData:
			if f.Data.SID != sid {
				t.Fatalf("frame for sid %d", f.Data.SID)
			}
			got = append(got, f.Data.Records...)
			if len(f.Data.Records) > 0 {
				*leo = f.Data.NextOffset
				if err := c.SendAcks([]Ack{{SID: sid, Gen: f.Data.Gen, LogEndOffset: *leo}}); err != nil {
					t.Fatal(err)
				}
			}
		case wire.ReplicaFrameError:
			t.Fatalf("error frame: %v", f.Error.Err)
		}
	}
	return got
}

func logBytes(t testing.TB, dir string) []byte {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	var out []byte
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

func TestStreamPushesRecordsAndAcks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sendfile int64
	}{{"sendfile", 1}, {"copy", -1}, {"mixed", 64 << 10}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := newPart(t, filepath.Join(dir, "t-0"))
			for i := range 20 {
				p.appendRecords(t, fmt.Sprint(i%10), 50, 1000)
			}
			src := &fakeSource{parts: map[string]*fakePart{"t-0": p}}
			_, addr := startServer(t, src, ServerConfig{SendfileMinBytes: tc.sendfile, MaxPartitionBytes: 128 << 10})
			c, err := Dial(context.Background(), addr, DialConfig{ReplicaID: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.SendFetch(Fetch{SID: 7, Gen: 1, LeaderEpoch: 3, Offset: 0, Topic: "t", Partition: 0}); err != nil {
				t.Fatal(err)
			}
			var leo int64
			want := logBytes(t, filepath.Join(dir, "t-0"))
			got := collect(t, c, 7, len(want), &leo)
			if !bytes.Equal(got, want) {
				t.Fatalf("records differ from the leader's log (%d vs %d bytes)", len(got), len(want))
			}
			if leo != p.log.EndOffset() {
				t.Fatalf("follower at %d, leader at %d", leo, p.log.EndOffset())
			}
			// Appends are pushed without a new request.
			p.appendRecords(t, "z", 10, 100)
			want = logBytes(t, filepath.Join(dir, "t-0"))
			more := collect(t, c, 7, len(want)-len(got), &leo)
			if !bytes.Equal(append(got, more...), want) {
				t.Fatal("pushed records differ")
			}
			// The leader saw the acks and moved the high watermark; the
			// follower hears of it.
			deadline := time.Now().Add(10 * time.Second)
			for {
				f, err := c.Next()
				if err != nil {
					t.Fatal(err)
				}
				if f.Type == wire.ReplicaFrameData && f.Data.HighWatermark == p.log.EndOffset() {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no high watermark update")
				}
			}
		})
	}
}

func TestStreamPartitionErrors(t *testing.T) {
	dir := t.TempDir()
	p := newPart(t, filepath.Join(dir, "t-0"))
	p.appendRecords(t, "a", 10, 10)
	src := &fakeSource{parts: map[string]*fakePart{"t-0": p}}
	_, addr := startServer(t, src, ServerConfig{})
	c, err := Dial(context.Background(), addr, DialConfig{ReplicaID: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nextErr := func() PartitionError {
		t.Helper()
		for {
			f, err := c.Next()
			if err != nil {
				t.Fatal(err)
			}
			if f.Type == wire.ReplicaFrameError {
				return f.Error
			}
		}
	}
	cases := []struct {
		f    Fetch
		code wire.Code
	}{
		{Fetch{SID: 1, Gen: 1, LeaderEpoch: 2, Topic: "t"}, wire.CodeFencedLeaderEpoch},
		{Fetch{SID: 1, Gen: 2, LeaderEpoch: 4, Topic: "t"}, wire.CodeUnknownLeaderEpoch},
		{Fetch{SID: 2, Gen: 1, LeaderEpoch: 3, Topic: "nope"}, wire.CodeUnknownTopicOrPartition},
		{Fetch{SID: 1, Gen: 3, LeaderEpoch: 3, Topic: "t", Offset: 99}, wire.CodeOffsetOutOfRange},
	}
	for _, tc := range cases {
		if err := c.SendFetch(tc.f); err != nil {
			t.Fatal(err)
		}
		pe := nextErr()
		if pe.Err.Code != tc.code || pe.SID != tc.f.SID || pe.Gen != tc.f.Gen {
			t.Fatalf("fetch %+v: got %+v (%v), want %s", tc.f, pe, pe.Err, tc.code)
		}
	}
	// A leader change fails a running partition.
	if err := c.SendFetch(Fetch{SID: 1, Gen: 4, LeaderEpoch: 3, Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	p.setEpoch(4)
	pe := nextErr()
	if pe.Err.Code != wire.CodeFencedLeaderEpoch || pe.LeaderEpoch != 4 {
		t.Fatalf("after the epoch change: %+v %v", pe, pe.Err)
	}
}

func TestStreamRefusals(t *testing.T) {
	src := &fakeSource{parts: map[string]*fakePart{}}
	srv, addr := startServer(t, src, ServerConfig{})
	_, err := Dial(context.Background(), addr, DialConfig{ReplicaID: 9})
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeInvalidRequest {
		t.Fatalf("unknown replica: %v", err)
	}
	c, err := Dial(context.Background(), addr, DialConfig{ReplicaID: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Streams() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("stream not registered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	go srv.Close()
	for {
		f, err := c.Next()
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		if f.Type == wire.ReplicaFrameClose {
			if f.Close.Err.Code != wire.CodeShuttingDown {
				t.Fatalf("close: %v", f.Close.Err)
			}
			break
		}
	}
	if _, err := Dial(context.Background(), addr, DialConfig{ReplicaID: 2}); !errors.As(err, &we) || we.Code != wire.CodeShuttingDown {
		t.Fatalf("after Close: %v", err)
	}
}

func TestStreamPingsIdle(t *testing.T) {
	src := &fakeSource{parts: map[string]*fakePart{}}
	_, addr := startServer(t, src, ServerConfig{PingInterval: 20 * time.Millisecond})
	c, err := Dial(context.Background(), addr, DialConfig{ReplicaID: 2, IdleTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		f, err := c.Next()
		if err != nil {
			t.Fatal(err)
		}
		if f.Type != wire.ReplicaFramePing {
			t.Fatalf("frame %d", f.Type)
		}
	}
}

func TestFrameCodec(t *testing.T) {
	f := Fetch{SID: 1, Gen: 2, LeaderEpoch: -1, Offset: 1 << 40, Topic: "orders.v1", Partition: 11}
	b := appendFetch(nil, f)
	got, err := decodeFetch(b[frameHeaderLen:])
	if err != nil || got != f {
		t.Fatalf("fetch round trip: %+v %v", got, err)
	}
	acks := []Ack{{1, 2, 3}, {4, 5, 6}}
	b = appendAcks(nil, acks)
	ga, err := decodeAcks(nil, b[frameHeaderLen:], 10)
	if err != nil || len(ga) != 2 || ga[1] != acks[1] {
		t.Fatalf("acks: %+v %v", ga, err)
	}
	if _, err := decodeAcks(nil, b[frameHeaderLen:], 1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("too many acks: %v", err)
	}
	if _, err := decodeFetch(b[frameHeaderLen : frameHeaderLen+3]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short fetch: %v", err)
	}
	d := Data{SID: 1, Gen: 2, LeaderEpoch: 3, HighWatermark: 4, LogStartOffset: 5, LogEndOffset: 6, NextOffset: 7}
	b = appendDataHeader(nil, d, 3)
	b = append(b, 'a', 'b', 'c')
	gd, err := decodeData(b[frameHeaderLen:])
	if err != nil || string(gd.Records) != "abc" || gd.NextOffset != 7 {
		t.Fatalf("data: %+v %v", gd, err)
	}
	if _, err := decodeData(b[frameHeaderLen : len(b)-1]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short data: %v", err)
	}
	pe := PartitionError{SID: 1, Gen: 1, Err: wire.Errorf(wire.CodeFencedLeaderEpoch, "old"), LeaderEpoch: 9, LogStartOffset: 1, LogEndOffset: 2}
	b = appendPartitionError(nil, pe)
	gp, err := decodePartitionError(b[frameHeaderLen:])
	if err != nil || gp.Err.Code != wire.CodeFencedLeaderEpoch || gp.LeaderEpoch != 9 {
		t.Fatalf("error: %+v %v", gp, err)
	}
}
