package transport

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"strand.dev/client/wire"
)

// fakeRaft records what a transport hands it.
type fakeRaft struct {
	mu          sync.Mutex
	got         []*raftpb.Message
	unreachable map[uint64]int
	snapReports []raft.SnapshotStatus
	block       chan struct{} // when set, Process blocks until closed
}

func newFakeRaft() *fakeRaft { return &fakeRaft{unreachable: map[uint64]int{}} }

func (f *fakeRaft) Process(ctx context.Context, m *raftpb.Message) error {
	f.mu.Lock()
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	f.got = append(f.got, m)
	f.mu.Unlock()
	return nil
}

func (f *fakeRaft) ReportUnreachable(id uint64) {
	f.mu.Lock()
	f.unreachable[id]++
	f.mu.Unlock()
}

func (f *fakeRaft) ReportSnapshot(id uint64, s raft.SnapshotStatus) {
	f.mu.Lock()
	f.snapReports = append(f.snapReports, s)
	f.mu.Unlock()
}

func (f *fakeRaft) received() []*raftpb.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*raftpb.Message(nil), f.got...)
}

// node is one transport with its own fasthttp server on 127.0.0.1:0.
type node struct {
	t    *Transport
	r    *fakeRaft
	addr string
	ln   net.Listener
	srv  *fasthttp.Server
}

func startNode(t *testing.T, cluster string, id uint64, mutate func(*Config)) *node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := newFakeRaft()
	cfg := Config{ClusterID: cluster, LocalID: id, Raft: r}
	if mutate != nil {
		mutate(&cfg)
	}
	tr := New(cfg)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == wire.PathMetaRaft {
			tr.Handler(ctx)
			return
		}
		ctx.SetStatusCode(404)
	}}
	go srv.Serve(ln)
	n := &node{t: tr, r: r, addr: ln.Addr().String(), ln: ln, srv: srv}
	t.Cleanup(func() {
		tr.Close()
		srv.Shutdown()
	})
	return n
}

func msg(from, to, index uint64) *raftpb.Message {
	return &raftpb.Message{Type: raftpb.MsgApp.Enum(), From: new(from), To: new(to), Index: new(index), Term: new(uint64(1)),
		Entries: []*raftpb.Entry{{Index: new(index + 1), Term: new(uint64(1)), Data: []byte("payload")}}}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMessagesArriveInOrder(t *testing.T) {
	a := startNode(t, "c1", 1, nil)
	b := startNode(t, "c1", 2, nil)
	a.t.SetPeer(2, b.addr)
	const n = 3000
	for i := uint64(0); i < n; i += 10 {
		batch := make([]*raftpb.Message, 0, 10)
		for j := i; j < i+10; j++ {
			batch = append(batch, msg(1, 2, j))
		}
		a.t.Send(batch)
		if i%500 == 0 {
			// Let the queue drain now and then: this test is about order,
			// not overflow.
			waitFor(t, "progress", func() bool { return len(b.r.received()) >= int(i) })
		}
	}
	waitFor(t, "all messages", func() bool { return len(b.r.received()) == n })
	for i, m := range b.r.received() {
		if m.GetIndex() != uint64(i) || m.GetFrom() != 1 || string(m.GetEntries()[0].GetData()) != "payload" {
			t.Fatalf("message %d: %v", i, m)
		}
	}
}

func TestWrongClusterIsRefused(t *testing.T) {
	a := startNode(t, "c1", 1, nil)
	b := startNode(t, "other", 2, nil)
	a.t.SetPeer(2, b.addr)
	a.t.Send([]*raftpb.Message{msg(1, 2, 1)})
	waitFor(t, "unreachable report", func() bool {
		a.r.mu.Lock()
		defer a.r.mu.Unlock()
		return a.r.unreachable[2] > 0
	})
	if got := b.r.received(); len(got) != 0 {
		t.Fatalf("foreign cluster delivered %d messages", len(got))
	}
	if _, _, err := openStream(b.addr, streamMessages, "c1", 1, 2, time.Second); err == nil {
		t.Fatal("stream to a node of another cluster was accepted")
	}
}

func TestPeerDownThenUp(t *testing.T) {
	a := startNode(t, "c1", 1, nil)
	// Reserve an address, then close it: the peer is down.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	a.t.SetPeer(2, addr)
	a.t.Send([]*raftpb.Message{msg(1, 2, 1)})
	waitFor(t, "unreachable report", func() bool {
		a.r.mu.Lock()
		defer a.r.mu.Unlock()
		return a.r.unreachable[2] > 0
	})
	b := startNode(t, "c1", 2, nil)
	a.t.SetPeer(2, b.addr)
	waitFor(t, "delivery after the peer came up", func() bool {
		a.t.Send([]*raftpb.Message{msg(1, 2, 7)})
		return len(b.r.received()) > 0
	})
}

// TestSlowPeerDoesNotBlockSend: a peer whose raft never takes messages fills
// its queue; Send keeps returning at once and drops with a report.
func TestSlowPeerDoesNotBlockSend(t *testing.T) {
	a := startNode(t, "c1", 1, func(c *Config) { c.QueueSize = 16 })
	b := startNode(t, "c1", 2, nil)
	block := make(chan struct{})
	b.r.mu.Lock()
	b.r.block = block
	b.r.mu.Unlock()
	defer close(block)
	a.t.SetPeer(2, b.addr)
	big := make([]byte, 256<<10)
	start := time.Now()
	for i := uint64(0); i < 2000; i++ {
		m := msg(1, 2, i)
		m.Entries[0].Data = big
		a.t.Send([]*raftpb.Message{m})
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Send blocked for %v", took)
	}
	waitFor(t, "drop report", func() bool {
		a.r.mu.Lock()
		defer a.r.mu.Unlock()
		return a.r.unreachable[2] > 0
	})
}

func TestSnapshotIsStreamedAndReported(t *testing.T) {
	a := startNode(t, "c1", 1, nil)
	b := startNode(t, "c1", 2, nil)
	a.t.SetPeer(2, b.addr)
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i)
	}
	snap := &raftpb.Message{Type: raftpb.MsgSnap.Enum(), From: new(uint64(1)), To: new(uint64(2)), Term: new(uint64(3)),
		Snapshot: &raftpb.Snapshot{Data: data, Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(500)), Term: new(uint64(3)),
			ConfState: &raftpb.ConfState{Voters: []uint64{1, 2}}}}}
	a.t.Send([]*raftpb.Message{snap})
	waitFor(t, "snapshot report", func() bool {
		a.r.mu.Lock()
		defer a.r.mu.Unlock()
		return len(a.r.snapReports) > 0
	})
	a.r.mu.Lock()
	status := a.r.snapReports[0]
	a.r.mu.Unlock()
	if status != raft.SnapshotFinish {
		t.Fatalf("snapshot reported %v", status)
	}
	got := b.r.received()
	if len(got) != 1 || got[0].GetSnapshot().GetMetadata().GetIndex() != 500 || len(got[0].GetSnapshot().GetData()) != len(data) {
		t.Fatalf("received %d messages", len(got))
	}
}

func TestFilterCutsTheLink(t *testing.T) {
	var mu sync.Mutex
	cut := true
	filter := func(from, to uint64) bool {
		mu.Lock()
		defer mu.Unlock()
		return !cut
	}
	a := startNode(t, "c1", 1, func(c *Config) { c.Filter = filter })
	b := startNode(t, "c1", 2, func(c *Config) { c.Filter = filter })
	a.t.SetPeer(2, b.addr)
	a.t.Send([]*raftpb.Message{msg(1, 2, 1)})
	mu.Lock()
	cut = false
	mu.Unlock()
	a.t.Send([]*raftpb.Message{msg(1, 2, 2)})
	waitFor(t, "message after the cut healed", func() bool { return len(b.r.received()) == 1 })
	if got := b.r.received()[0].GetIndex(); got != 2 {
		t.Fatalf("delivered index %d through the cut", got)
	}
}

// TestRemovedMemberLearnsItFromItsPeer: once a peer removed this member it
// closes the member's streams and refuses new ones with 410, which the
// member's transport reports with OnRemoved.
func TestRemovedMemberLearnsItFromItsPeer(t *testing.T) {
	var removed sync.Map
	told := make(chan struct{}, 1)
	a := startNode(t, "c1", 1, func(c *Config) {
		c.OnRemoved = func() {
			select {
			case told <- struct{}{}:
			default:
			}
		}
	})
	b := startNode(t, "c1", 2, func(c *Config) {
		c.IsRemoved = func(id uint64) bool { _, ok := removed.Load(id); return ok }
	})
	a.t.SetPeer(2, b.addr)
	a.t.Send([]*raftpb.Message{msg(1, 2, 1)})
	waitFor(t, "first delivery", func() bool { return len(b.r.received()) == 1 })
	removed.Store(uint64(1), true)
	b.t.RemovePeer(1) // closes the inbound stream from 1
	waitFor(t, "the removal news", func() bool {
		a.t.Send([]*raftpb.Message{msg(1, 2, 2)})
		select {
		case <-told:
			return true
		default:
			return false
		}
	})
	if n := len(b.r.received()); n != 1 {
		t.Fatalf("a removed member delivered %d messages", n)
	}
}
