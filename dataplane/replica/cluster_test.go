package replica

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
	"strand.dev/dataplane/clusteragent"
	"strand.dev/dataplane/fetcher"
	"strand.dev/dataplane/partlog"
	"strand.dev/dataplane/replstream"
)

// fakeMeta accepts ISR changes with strand-meta's compare-and-set rule on
// one partition's state.
type fakeMeta struct {
	mu      sync.Mutex
	leader  int32
	epoch   int32
	pepoch  int32
	isr     []int32
	changes [][]int32
	fail    error
}

func (f *fakeMeta) AlterISR(ctx context.Context, c wire.AlterISRCmd) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.fail != nil:
		return 0, f.fail
	case c.LeaderEpoch != f.epoch || c.LeaderID != f.leader:
		return 0, wire.Errorf(wire.CodeFencedLeaderEpoch, "epoch %d", f.epoch)
	case c.ExpectedPartitionEpoch != f.pepoch:
		return 0, wire.Errorf(wire.CodeInvalidUpdateVersion, "partition epoch %d", f.pepoch)
	}
	f.isr = slices.Clone(c.ISR)
	f.pepoch++
	f.changes = append(f.changes, slices.Clone(c.ISR))
	return uint64(f.pepoch), nil
}

func (f *fakeMeta) KnownReplica(id int32) bool { return id >= 1 && id <= 3 }

func (f *fakeMeta) state() (isr []int32, pepoch int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.isr), f.pepoch
}

// node is one data node in the test process: logs, replica manager,
// fetcher and the replica stream server on a loopback listener.
type node struct {
	id   int32
	addr string
	rm   *Manager
	f    *fetcher.Fetcher
	repl *replstream.Server
	hs   *fasthttp.Server
}

func startNode(t *testing.T, id int32, meta *fakeMeta, lagMax time.Duration) *node {
	t.Helper()
	logs, err := partlog.OpenManager(t.TempDir(), partlog.ManagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{id: id}
	n.rm = NewManager(logs, Options{NodeID: id, LagMax: lagMax, ISRCheckInterval: 20 * time.Millisecond})
	n.f = fetcher.New(fetcher.Config{NodeID: id, RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	n.rm.Attach(n.f, meta)
	n.repl = replstream.NewServer(n.rm, replstream.ServerConfig{PingInterval: 200 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.addr = ln.Addr().String()
	n.hs = &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		var err error
		switch string(ctx.Path()) {
		case wire.PathReplicaStream:
			err = n.repl.Handle(ctx)
		case wire.PathReplicaEpochs:
			var req wire.EpochEndRequest
			if err = json.Unmarshal(ctx.PostBody(), &req); err == nil {
				b, _ := json.Marshal(n.rm.EpochEnds(req))
				ctx.SetBody(b)
			}
		}
		if err != nil {
			body, status := wire.MarshalError(err)
			ctx.SetStatusCode(status)
			ctx.SetBody(body)
		}
	}}
	go n.hs.Serve(ln)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.rm.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		n.repl.Close()
		_ = n.hs.Shutdown()
		n.f.Close()
		n.rm.Close()
		logs.Close()
	})
	return n
}

// assign applies the same partition state to every node.
func assign(t *testing.T, meta *fakeMeta, leader *node, epoch int32, nodes ...*node) {
	t.Helper()
	meta.mu.Lock()
	meta.leader, meta.epoch = leader.id, epoch
	meta.pepoch++
	isr, pepoch := slices.Clone(meta.isr), meta.pepoch
	meta.mu.Unlock()
	var replicas []int32
	for _, n := range nodes {
		replicas = append(replicas, n.id)
	}
	for _, n := range nodes {
		a := clusteragent.Assignment{Topic: "t", TopicID: "id", Partition: 0, Configs: map[string]string{"min.insync.replicas": "2"},
			Replicas: replicas, ISR: isr, Leader: leader.id, LeaderAddr: leader.addr, LeaderEpoch: epoch, PartitionEpoch: pepoch}
		if err := n.rm.Apply(a); err != nil {
			t.Fatal(err)
		}
	}
}

// mustBatch encodes the values as one batch.
func mustBatch(vals ...string) []byte {
	b := recordbatch.NewBuilder(recordbatch.EncodeOptions{})
	for _, v := range vals {
		b.Add(recordbatch.Record{Timestamp: time.Now().UnixMilli(), Value: []byte(v)})
	}
	out, err := b.Build()
	if err != nil {
		panic(err)
	}
	return out
}

func produce(n *node, acks Acks, timeout time.Duration, vals ...string) (AppendResult, error) {
	b := mustBatch(vals...)
	return n.rm.Append(context.Background(), AppendRequest{Topic: "t", Partition: 0, Acks: acks, Timeout: timeout, Batches: b})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func part(t *testing.T, n *node) *Partition {
	t.Helper()
	p, err := n.rm.Partition("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReplicationAcksAllAndISR(t *testing.T) {
	meta := &fakeMeta{isr: []int32{1, 2, 3}}
	lag := 300 * time.Millisecond
	n1, n2, n3 := startNode(t, 1, meta, lag), startNode(t, 2, meta, lag), startNode(t, 3, meta, lag)
	assign(t, meta, n1, 1, n1, n2, n3)

	// acks=all completes once both followers have the batch.
	res, err := produce(n1, AcksAll, 10*time.Second, "a", "b", "c")
	if err != nil {
		t.Fatalf("acks=all: %v", err)
	}
	for _, n := range []*node{n2, n3} {
		if leo := part(t, n).log.EndOffset(); leo < res.LastOffset+1 {
			t.Fatalf("node %d at %d after acks=all of %d", n.id, leo, res.LastOffset)
		}
	}
	waitFor(t, "followers learn the high watermark", func() bool {
		return part(t, n2).HighWatermark() == res.LastOffset+1 && part(t, n3).HighWatermark() == res.LastOffset+1
	})

	// A produce to a follower names the leader.
	_, err = produce(n2, AcksAll, time.Second, "x")
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeNotLeaderOrFollower || we.Leader == nil || *we.Leader != 1 || we.LeaderAddr != n1.addr {
		t.Fatalf("produce to a follower: %v (%+v)", err, we)
	}
	// Consumer fetches with stale and future epochs.
	for epoch, code := range map[int32]wire.Code{0: wire.CodeFencedLeaderEpoch, 5: wire.CodeUnknownLeaderEpoch} {
		_, err := n1.rm.Fetch(context.Background(), FetchRequest{Topic: "t", Offset: 0, MaxBytes: 1 << 20, ReplicaID: NoReplica, LeaderEpoch: epoch})
		if codeOf(err) != code {
			t.Fatalf("fetch at epoch %d: %v, want %s", epoch, err, code)
		}
	}

	// A follower that stops leaves the ISR; acks=all goes on with two.
	n3.f.Close()
	_, err = produce(n1, AcksAll, 10*time.Second, "d")
	if err != nil {
		t.Fatalf("acks=all while a follower stalls: %v", err)
	}
	if isr, _ := meta.state(); !slices.Equal(isr, []int32{1, 2}) {
		t.Fatalf("isr %v after the stall", isr)
	}
	// With the second follower gone too, the ISR shrinks to the leader:
	// a waiting acks=all ends NOT_ENOUGH_REPLICAS_AFTER_APPEND, the next
	// produce NOT_ENOUGH_REPLICAS at once.
	n2.f.Close()
	_, err = produce(n1, AcksAll, 10*time.Second, "e")
	if codeOf(err) != wire.CodeNotEnoughReplicasAfterAppend {
		t.Fatalf("acks=all as the ISR shrinks below min: %v", err)
	}
	start := time.Now()
	_, err = produce(n1, AcksAll, 10*time.Second, "f")
	if codeOf(err) != wire.CodeNotEnoughReplicas || time.Since(start) > time.Second {
		t.Fatalf("acks=all below min.insync.replicas: %v after %v", err, time.Since(start))
	}
	if _, err := produce(n1, AcksLeader, time.Second, "g"); err != nil {
		t.Fatalf("acks=1 below min.insync.replicas: %v", err)
	}
}

func TestFollowerRejoinsISR(t *testing.T) {
	meta := &fakeMeta{isr: []int32{1}}
	lag := 300 * time.Millisecond
	n1, n2 := startNode(t, 1, meta, lag), startNode(t, 2, meta, lag)
	// Node 2 starts out of the ISR, behind: it catches up and joins.
	assign(t, meta, n1, 1, n1)
	for range 50 {
		if _, err := produce(n1, AcksLeader, time.Second, "v"); err != nil {
			t.Fatal(err)
		}
	}
	assign(t, meta, n1, 1, n1, n2)
	waitFor(t, "node 2 joins the ISR", func() bool { isr, _ := meta.state(); return slices.Equal(isr, []int32{1, 2}) })
	if _, err := produce(n1, AcksAll, 10*time.Second, "z"); err != nil {
		t.Fatalf("acks=all with the rejoined follower: %v", err)
	}
}

func TestNewLeaderTruncatesOldLeader(t *testing.T) {
	meta := &fakeMeta{isr: []int32{1, 2}}
	lag := 10 * time.Second
	n1, n2 := startNode(t, 1, meta, lag), startNode(t, 2, meta, lag)
	assign(t, meta, n1, 1, n1, n2)
	if _, err := produce(n1, AcksAll, 10*time.Second, "a", "b"); err != nil {
		t.Fatal(err)
	}
	// Node 2 stops following; node 1 writes records nobody else has.
	n2.f.Unfollow("t", 0)
	if _, err := produce(n1, AcksLeader, time.Second, "lost1", "lost2"); err != nil {
		t.Fatal(err)
	}
	// Node 2 becomes the leader at epoch 2 and writes its own records.
	assign(t, meta, n2, 2, n2)
	if _, err := produce(n2, AcksLeader, time.Second, "new"); err != nil {
		t.Fatal(err)
	}
	// Node 1 follows node 2: its divergent suffix goes.
	assign(t, meta, n2, 2, n1, n2)
	waitFor(t, "node 1 matches the new leader", func() bool {
		a, b := part(t, n1).log, part(t, n2).log
		return a.EndOffset() == b.EndOffset() && slices.Equal(a.Epochs(), b.Epochs())
	})
	if got := part(t, n1).log.Epochs(); len(got) != 2 || got[1].Epoch != 2 || got[1].StartOffset != 2 {
		t.Fatalf("node 1 epochs %+v", got)
	}
	_, err := produce(n1, AcksAll, time.Second, "x")
	if codeOf(err) != wire.CodeNotLeaderOrFollower {
		t.Fatalf("produce to the deposed leader: %v", err)
	}
}

// idemBatch is an idempotent batch of n records of producer pid.
func idemBatch(pid int64, epoch int16, seq int32, n int) []byte {
	b := recordbatch.NewBuilder(recordbatch.EncodeOptions{Idempotent: true, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq})
	for range n {
		b.Add(recordbatch.Record{Timestamp: time.Now().UnixMilli(), Value: []byte("v")})
	}
	out, err := b.Build()
	if err != nil {
		panic(err)
	}
	return out
}

func TestIdempotentRetriesAcrossLeaderChange(t *testing.T) {
	meta := &fakeMeta{isr: []int32{1, 2}}
	n1, n2 := startNode(t, 1, meta, 10*time.Second), startNode(t, 2, meta, 10*time.Second)
	assign(t, meta, n1, 1, n1, n2)
	send := func(n *node, b []byte) (AppendResult, error) {
		return n.rm.Append(context.Background(), AppendRequest{Topic: "t", Partition: 0, Acks: AcksAll, Timeout: 10 * time.Second, Batches: b})
	}
	first, err := send(n1, idemBatch(42, 0, 0, 5))
	if err != nil {
		t.Fatal(err)
	}
	retry, err := send(n1, idemBatch(42, 0, 0, 5))
	if err != nil || retry.BaseOffset != first.BaseOffset || retry.LastOffset != first.LastOffset {
		t.Fatalf("retry: %+v %v, first %+v", retry, err, first)
	}
	if leo := part(t, n1).log.EndOffset(); leo != 5 {
		t.Fatalf("retry was written again: log end %d", leo)
	}
	for name, tc := range map[string]struct {
		b    []byte
		code wire.Code
	}{
		"gap":                   {idemBatch(42, 0, 9, 1), wire.CodeOutOfOrderSequenceNumber},
		"old epoch":             {idemBatch(42, -1, 5, 1), wire.CodeInvalidProducerEpoch},
		"new producer not at 0": {idemBatch(43, 0, 3, 1), wire.CodeOutOfOrderSequenceNumber},
	} {
		if _, err := send(n1, tc.b); codeOf(err) != tc.code {
			t.Fatalf("%s: %v, want %s", name, err, tc.code)
		}
	}
	if _, err := send(n1, idemBatch(42, 0, 5, 2)); err != nil {
		t.Fatal(err)
	}
	// Node 2 takes over: it knows the producer from what it replicated.
	waitFor(t, "node 2 has everything", func() bool { return part(t, n2).log.EndOffset() == 7 })
	assign(t, meta, n2, 2, n1, n2)
	retry, err = send(n2, idemBatch(42, 0, 5, 2))
	if err != nil || retry.BaseOffset != 5 || retry.LastOffset != 6 {
		t.Fatalf("retry at the new leader: %+v %v", retry, err)
	}
	if _, err := send(n2, idemBatch(42, 0, 7, 1)); err != nil {
		t.Fatalf("next batch at the new leader: %v", err)
	}
	if leo := part(t, n2).log.EndOffset(); leo != 8 {
		t.Fatalf("log end %d, want 8", leo)
	}
}
