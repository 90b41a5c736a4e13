package fetcher

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
	"strand.dev/dataplane/partlog"
	"strand.dev/dataplane/replstream"
)

// leaderPart is a partition led by the test leader.
type leaderPart struct {
	log *partlog.Log

	mu    sync.Mutex
	epoch int32
	hw    int64
	subs  map[int]func()
	nsub  int
}

func (p *leaderPart) notify() {
	p.mu.Lock()
	fns := make([]func(), 0, len(p.subs))
	for _, fn := range p.subs {
		fns = append(fns, fn)
	}
	p.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

func (p *leaderPart) CheckFollower(replica, epoch int32) (replstream.LeaderState, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := replstream.LeaderState{LeaderEpoch: p.epoch, HighWatermark: p.hw, LogStartOffset: p.log.StartOffset(), LogEndOffset: p.log.EndOffset()}
	switch {
	case epoch < p.epoch:
		return st, wire.Errorf(wire.CodeFencedLeaderEpoch, "old epoch %d", epoch)
	case epoch > p.epoch:
		return st, wire.Errorf(wire.CodeUnknownLeaderEpoch, "new epoch %d", epoch)
	}
	return st, nil
}

func (p *leaderPart) ReadReplica(offset int64, maxBytes int32) (partlog.Region, error) {
	return p.log.Read(offset, maxBytes, p.log.EndOffset())
}

func (p *leaderPart) FollowerAck(replica, epoch int32, leo int64) {
	p.mu.Lock()
	moved := epoch == p.epoch && leo > p.hw
	if moved {
		p.hw = leo
	}
	p.mu.Unlock()
	if moved {
		p.notify()
	}
}

func (p *leaderPart) Subscribe(fn func()) func() {
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

// testLeader serves the replica stream and the epoch lookups.
type testLeader struct {
	id    int32
	addr  string
	mu    sync.Mutex
	parts map[string]*leaderPart
	srv   *replstream.Server
	hs    *fasthttp.Server
	ln    net.Listener
}

func (l *testLeader) KnownReplica(id int32) bool { return id >= 0 }

func (l *testLeader) LeaderPartition(topic string, partition int32) (replstream.LeaderPartition, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.parts[fmt.Sprintf("%s-%d", topic, partition)]
	if !ok {
		return nil, wire.Errorf(wire.CodeUnknownTopicOrPartition, "no %s-%d", topic, partition)
	}
	return p, nil
}

func (l *testLeader) epochs(ctx *fasthttp.RequestCtx) error {
	var req wire.EpochEndRequest
	if err := json.Unmarshal(ctx.PostBody(), &req); err != nil {
		return wire.Errorf(wire.CodeInvalidRequest, "%v", err)
	}
	var out wire.EpochEndResponse
	for _, q := range req.Partitions {
		a := wire.EpochEndPartition{Topic: q.Topic, Partition: q.Partition, Epoch: -1, EndOffset: -1}
		lp, err := l.LeaderPartition(q.Topic, q.Partition)
		if err == nil {
			p := lp.(*leaderPart)
			if _, err = p.CheckFollower(req.ReplicaID, q.CurrentLeaderEpoch); err == nil {
				a.Epoch, a.EndOffset = p.log.EndOffsetForEpoch(q.Epoch)
				a.LogStartOffset, a.LogEndOffset = p.log.StartOffset(), p.log.EndOffset()
			}
		}
		if err != nil {
			a.Error = err.(*wire.Error)
		}
		out.Partitions = append(out.Partitions, a)
	}
	b, _ := json.Marshal(out)
	ctx.SetBody(b)
	return nil
}

func startLeader(t *testing.T, id int32) *testLeader {
	t.Helper()
	l := &testLeader{id: id, parts: map[string]*leaderPart{}}
	l.srv = replstream.NewServer(l, replstream.ServerConfig{MaxPartitionBytes: 64 << 10, PingInterval: 200 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.ln, l.addr = ln, ln.Addr().String()
	l.hs = &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		var err error
		switch string(ctx.Path()) {
		case wire.PathReplicaStream:
			err = l.srv.Handle(ctx)
		case wire.PathReplicaEpochs:
			err = l.epochs(ctx)
		default:
			err = wire.Errorf(wire.CodeInvalidRequest, "no path")
		}
		if err != nil {
			body, status := wire.MarshalError(err)
			ctx.SetStatusCode(status)
			ctx.SetBody(body)
		}
	}}
	go l.hs.Serve(ln)
	t.Cleanup(l.stop)
	return l
}

func (l *testLeader) stop() {
	l.srv.Close()
	_ = l.hs.Shutdown()
}

// addPart creates a led partition with a fresh log at epoch.
func (l *testLeader) addPart(t *testing.T, name string, epoch int32) *leaderPart {
	t.Helper()
	lg := openLog(t, filepath.Join(t.TempDir(), name))
	if err := lg.AssignEpoch(epoch, lg.EndOffset()); err != nil {
		t.Fatal(err)
	}
	p := &leaderPart{log: lg, epoch: epoch}
	l.mu.Lock()
	l.parts[name] = p
	l.mu.Unlock()
	return p
}

func openLog(t *testing.T, dir string) *partlog.Log {
	t.Helper()
	lg, err := partlog.Open(dir, partlog.DefaultConfig(), partlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close() })
	return lg
}

func encode(t *testing.T, tag string, n int) []byte {
	t.Helper()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{Timestamp: int64(i), Value: []byte(fmt.Sprintf("%s-%d-%s", tag, i, bytes.Repeat([]byte("x"), 200)))}
	}
	b, err := recordbatch.Encode(recs, recordbatch.EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// appendLeader appends n records as the leader.
func (p *leaderPart) appendLeader(t *testing.T, tag string, n int) {
	t.Helper()
	if _, err := p.log.Append(encode(t, tag, n)); err != nil {
		t.Fatal(err)
	}
	p.notify()
}

// replica is a follower replica for the tests.
type replica struct {
	log *partlog.Log
	hw  atomic.Int64
}

func (r *replica) Log() *partlog.Log { return r.log }
func (r *replica) AppendReplicated(b []byte) error {
	_, err := r.log.AppendReplicated(b)
	return err
}
func (r *replica) TruncateTo(o int64) error              { return r.log.TruncateTo(o) }
func (r *replica) TruncateFullyAndStartAt(o int64) error { return r.log.TruncateFullyAndStartAt(o) }
func (r *replica) LeaderOffsets(hw, lso, leo int64) {
	r.hw.Store(min(hw, r.log.EndOffset()))
}

// logBytes is the concatenated content of a log's segments.
func logBytes(t *testing.T, lg *partlog.Log) []byte {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(lg.Dir(), "*.log"))
	sort.Strings(matches)
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

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func sameLogs(t *testing.T, a, b *partlog.Log) func() bool {
	return func() bool { return bytes.Equal(logBytes(t, a), logBytes(t, b)) && a.EndOffset() == b.EndOffset() }
}

func TestFollowReplicatesAndPushes(t *testing.T) {
	l := startLeader(t, 1)
	parts := make([]*leaderPart, 5)
	reps := make([]*replica, 5)
	for i := range parts {
		parts[i] = l.addPart(t, fmt.Sprintf("t-%d", i), 3)
		for j := range 20 {
			parts[i].appendLeader(t, fmt.Sprint(j), 30)
		}
		reps[i] = &replica{log: openLog(t, filepath.Join(t.TempDir(), "f"))}
	}
	f := New(Config{NodeID: 2, RetryMin: 10 * time.Millisecond})
	defer f.Close()
	for i := range parts {
		f.Follow(reps[i], "t", int32(i), Leader{ID: 1, Addr: l.addr}, 3)
	}
	for i := range parts {
		eventually(t, fmt.Sprintf("partition %d replicated", i), sameLogs(t, parts[i].log, reps[i].log))
	}
	if n := f.Streams(); n != 1 {
		t.Fatalf("%d streams for one leader", n)
	}
	// New records are pushed; the leader's high watermark comes back.
	for i := range parts {
		parts[i].appendLeader(t, "more", 7)
	}
	for i := range parts {
		eventually(t, "pushed", sameLogs(t, parts[i].log, reps[i].log))
		eventually(t, "high watermark", func() bool { return reps[i].hw.Load() == parts[i].log.EndOffset() })
	}
	for _, st := range f.Status() {
		if st.Phase != "streaming" || st.Lag() != 0 {
			t.Fatalf("status %+v", st)
		}
	}
}

func TestFollowTruncatesDivergentSuffix(t *testing.T) {
	l := startLeader(t, 1)
	lp := l.addPart(t, "t-0", 1)
	lp.appendLeader(t, "common", 10)
	// The follower has the common prefix, then records it appended as the
	// leader of epoch 1 that never replicated.
	fl := openLog(t, filepath.Join(t.TempDir(), "f"))
	if err := fl.AssignEpoch(1, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := fl.AppendReplicated(logBytes(t, lp.log)); err != nil {
		t.Fatal(err)
	}
	if _, err := fl.Append(encode(t, "lost", 5)); err != nil {
		t.Fatal(err)
	}
	// The new leader starts epoch 2 at 10 and writes other records.
	lp.mu.Lock()
	lp.epoch = 2
	lp.mu.Unlock()
	if err := lp.log.AssignEpoch(2, 10); err != nil {
		t.Fatal(err)
	}
	lp.appendLeader(t, "new", 8)
	f := New(Config{NodeID: 2, RetryMin: 10 * time.Millisecond})
	defer f.Close()
	r := &replica{log: fl}
	f.Follow(r, "t", 0, Leader{ID: 1, Addr: l.addr}, 2)
	eventually(t, "diverged suffix replaced", sameLogs(t, lp.log, fl))
	if got := fl.Epochs(); len(got) != 2 || got[1] != (partlog.EpochEntry{Epoch: 2, StartOffset: 10}) {
		t.Fatalf("follower epochs %+v", got)
	}
}

func TestFollowMovesBetweenLeaders(t *testing.T) {
	l1 := startLeader(t, 1)
	l2 := startLeader(t, 3)
	p1 := l1.addPart(t, "t-0", 1)
	p1.appendLeader(t, "a", 20)
	fl := openLog(t, filepath.Join(t.TempDir(), "f"))
	r := &replica{log: fl}
	f := New(Config{NodeID: 2, RetryMin: 10 * time.Millisecond})
	defer f.Close()
	f.Follow(r, "t", 0, Leader{ID: 1, Addr: l1.addr}, 1)
	eventually(t, "first leader", sameLogs(t, p1.log, fl))

	// Node 3 becomes the leader at epoch 2 with node 1's log plus more.
	p2 := l2.addPart(t, "t-0", 1)
	if _, err := p2.log.AppendReplicated(logBytes(t, p1.log)); err != nil {
		t.Fatal(err)
	}
	p2.mu.Lock()
	p2.epoch = 2
	p2.mu.Unlock()
	if err := p2.log.AssignEpoch(2, p2.log.EndOffset()); err != nil {
		t.Fatal(err)
	}
	p2.appendLeader(t, "b", 5)
	// The old leader keeps writing (a deposed leader that does not know):
	// none of it may reach the follower after the switch.
	f.Follow(r, "t", 0, Leader{ID: 3, Addr: l2.addr}, 2)
	p1.appendLeader(t, "zombie", 5)
	eventually(t, "second leader", sameLogs(t, p2.log, fl))
	eventually(t, "one stream", func() bool { return f.Streams() == 1 })
	f.Unfollow("t", 0)
	p2.appendLeader(t, "after", 5)
	time.Sleep(100 * time.Millisecond)
	if fl.EndOffset() == p2.log.EndOffset() {
		t.Fatal("appended after Unfollow")
	}
	if f.Streams() != 0 {
		t.Fatalf("%d streams after the last Unfollow", f.Streams())
	}
}

func TestFollowRetriesUntilLeaderReady(t *testing.T) {
	l := startLeader(t, 1)
	fl := openLog(t, filepath.Join(t.TempDir(), "f"))
	r := &replica{log: fl}
	f := New(Config{NodeID: 2, RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	defer f.Close()
	// The follower learns of epoch 4 before the leader does.
	f.Follow(r, "t", 0, Leader{ID: 1, Addr: l.addr}, 4)
	time.Sleep(100 * time.Millisecond)
	lp := l.addPart(t, "t-0", 3)
	lp.appendLeader(t, "x", 10)
	time.Sleep(100 * time.Millisecond)
	lp.mu.Lock()
	lp.epoch = 4
	lp.mu.Unlock()
	if err := lp.log.AssignEpoch(4, lp.log.EndOffset()); err != nil {
		t.Fatal(err)
	}
	lp.appendLeader(t, "y", 10)
	eventually(t, "replicated once the leader caught up", sameLogs(t, lp.log, fl))
}

func TestFollowBelowLeaderStart(t *testing.T) {
	l := startLeader(t, 1)
	lp := l.addPart(t, "t-0", 1)
	if err := lp.log.TruncateFullyAndStartAt(1000); err != nil {
		t.Fatal(err)
	}
	if err := lp.log.AssignEpoch(1, 1000); err != nil {
		t.Fatal(err)
	}
	lp.appendLeader(t, "x", 10)
	fl := openLog(t, filepath.Join(t.TempDir(), "f"))
	if err := fl.AssignEpoch(0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := fl.Append(encode(t, "old", 3)); err != nil {
		t.Fatal(err)
	}
	r := &replica{log: fl}
	f := New(Config{NodeID: 2, RetryMin: 10 * time.Millisecond})
	defer f.Close()
	f.Follow(r, "t", 0, Leader{ID: 1, Addr: l.addr}, 1)
	eventually(t, "restarted at the leader's start", func() bool {
		return fl.StartOffset() == 1000 && fl.EndOffset() == lp.log.EndOffset()
	})
}

func TestFollowReconnectsAfterLeaderRestart(t *testing.T) {
	l := startLeader(t, 1)
	lp := l.addPart(t, "t-0", 1)
	lp.appendLeader(t, "x", 10)
	fl := openLog(t, filepath.Join(t.TempDir(), "f"))
	r := &replica{log: fl}
	f := New(Config{NodeID: 2, RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	defer f.Close()
	f.Follow(r, "t", 0, Leader{ID: 1, Addr: l.addr}, 1)
	eventually(t, "replicated", sameLogs(t, lp.log, fl))
	// The leader's server goes away and comes back on the same address.
	l.stop()
	lp.appendLeader(t, "during", 5)
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		t.Skipf("cannot rebind %s: %v", l.addr, err)
	}
	l.srv = replstream.NewServer(l, replstream.ServerConfig{})
	old := l.hs.Handler
	l.hs = &fasthttp.Server{Handler: old}
	go l.hs.Serve(ln)
	eventually(t, "replicated after the reconnect", sameLogs(t, lp.log, fl))
}
