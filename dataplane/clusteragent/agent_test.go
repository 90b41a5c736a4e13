package clusteragent

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"strand.dev/client/wire"
	"strand.dev/controlplane/controller/metafake"
	"strand.dev/controlplane/membership"
)

// fakeReplicas records what the agent asks.
type fakeReplicas struct {
	mu      sync.Mutex
	state   map[TopicPartition]Assignment
	local   map[TopicPartition]bool
	removed []TopicPartition
	applies int
}

func newFakeReplicas() *fakeReplicas {
	return &fakeReplicas{state: map[TopicPartition]Assignment{}, local: map[TopicPartition]bool{}}
}

func (r *fakeReplicas) Apply(a Assignment) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state[a.Key()] = a
	r.local[a.Key()] = true
	r.applies++
	return nil
}

func (r *fakeReplicas) Remove(topic string, partition int32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	tp := TopicPartition{topic, partition}
	delete(r.state, tp)
	delete(r.local, tp)
	r.removed = append(r.removed, tp)
	return nil
}

func (r *fakeReplicas) Local() []TopicPartition {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []TopicPartition
	for tp := range r.local {
		out = append(out, tp)
	}
	return out
}

func (r *fakeReplicas) get(tp TopicPartition) (Assignment, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.state[tp]
	return a, ok
}

// cluster is a fake strand-meta with a controller lease held by the test.
type cluster struct {
	t     *testing.T
	meta  *metafake.Meta
	addr  string
	epoch int64
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	m := metafake.New("test-cluster")
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	c := &cluster{t: t, meta: m, addr: strings.TrimPrefix(srv.URL, "http://")}
	resp := c.propose(&wire.Command{Type: wire.CmdAcquireLease, AcquireLease: &wire.AcquireLeaseCmd{
		Holder: "test", Addr: "127.0.0.1:1", LeaseMs: 600_000}})
	c.epoch = resp.Epoch
	return c
}

func (c *cluster) propose(cmd *wire.Command) *wire.ProposeResponse {
	c.t.Helper()
	resp, err := c.meta.Propose(context.Background(), cmd)
	if err != nil {
		c.t.Fatalf("%s: %v", cmd.Type, err)
	}
	return resp
}

func (c *cluster) createTopic(name, id string, replicas ...[]int32) {
	c.t.Helper()
	t := wire.TopicRecord{Name: name, ID: id}
	for i, r := range replicas {
		t.Partitions = append(t.Partitions, &wire.PartitionRecord{Partition: int32(i), Replicas: r})
	}
	c.propose(&wire.Command{Type: wire.CmdCreateTopic, CreateTopic: &wire.CreateTopicCmd{ControllerEpoch: c.epoch, Topic: t}})
}

func (c *cluster) registerNode(id int32, addr string) {
	c.t.Helper()
	c.propose(&wire.Command{Type: wire.CmdRegisterNode, RegisterNode: &wire.RegisterNodeCmd{Node: wire.NodeRecord{
		ID: id, Addr: addr, Incarnation: 1}}})
}

func (c *cluster) setFenced(node int32, fenced bool) {
	c.t.Helper()
	c.propose(&wire.Command{Type: wire.CmdSetNodeFenced, SetNodeFenced: &wire.SetNodeFencedCmd{ControllerEpoch: c.epoch, NodeID: node, Fenced: fenced}})
}

func newAgent(t *testing.T, c *cluster, node int32, dir string, rep Replicas) *Agent {
	t.Helper()
	a, err := New(Config{
		NodeID: node, Addr: "127.0.0.1:9" + string(rune('0'+node)), DataDir: dir, MetaAddrs: []string{c.addr},
		Gossip:        membership.Config{BindAddr: "127.0.0.1:0"},
		RetryInterval: 50 * time.Millisecond, WatchWait: 500 * time.Millisecond, RegisterTimeout: 20 * time.Second,
	}, rep)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func run(t *testing.T, a *Agent) {
	t.Helper()
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = a.Close()
	})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRegisterAndApply(t *testing.T) {
	c := newCluster(t)
	rep := newFakeReplicas()
	a := newAgent(t, c, 1, t.TempDir(), rep)
	run(t, a)
	n := c.meta.Current().Nodes[1]
	if n == nil || n.Incarnation != a.Incarnation() || !n.Fenced || n.GossipAddr == "" || strings.HasSuffix(n.GossipAddr, ":0") {
		t.Fatalf("registered node %+v (incarnation %d)", n, a.Incarnation())
	}
	c.setFenced(1, false)
	c.registerNode(2, "127.0.0.1:92")
	c.registerNode(3, "127.0.0.1:93")
	c.setFenced(2, false)
	c.setFenced(3, false)
	c.createTopic("orders", "id-1", []int32{1}, []int32{2, 1}, []int32{2, 3})
	tp0, tp1, tp2 := TopicPartition{"orders", 0}, TopicPartition{"orders", 1}, TopicPartition{"orders", 2}
	eventually(t, "assignments applied", func() bool {
		_, ok0 := rep.get(tp0)
		_, ok1 := rep.get(tp1)
		return ok0 && ok1
	})
	if _, ok := rep.get(tp2); ok {
		t.Fatal("applied a partition this node does not replicate")
	}
	a0, _ := rep.get(tp0)
	a1, _ := rep.get(tp1)
	if a0.Leader != 1 || a0.LeaderAddr != "127.0.0.1:91" || a1.Leader != 2 || a1.TopicID != "id-1" {
		t.Fatalf("assignments %+v %+v", a0, a1)
	}
	md := a.Metadata()
	if len(md.MetaAddrs) != 1 || md.MetaAddrs[0] != c.addr || md.ControllerAddr != "127.0.0.1:1" || len(md.Topics) != 1 {
		t.Fatalf("metadata %+v", md)
	}
	if !a.KnownReplica(1) || a.KnownReplica(7) {
		t.Fatal("KnownReplica")
	}

	// A leader change is applied.
	img := c.meta.Current()
	p1 := img.Topics["orders"].Partitions[1]
	c.propose(&wire.Command{Type: wire.CmdUpdatePartitions, UpdatePartitions: &wire.UpdatePartitionsCmd{
		ControllerEpoch: c.epoch, Changes: []wire.PartitionChange{{Topic: "orders", Partition: 1,
			ExpectedPartitionEpoch: p1.PartitionEpoch, Leader: 1, ISR: []int32{1}, BumpLeaderEpoch: true}}}})
	eventually(t, "leader change applied", func() bool { a, _ := rep.get(tp1); return a.Leader == 1 && a.LeaderEpoch == p1.LeaderEpoch+1 })

	// The leader's ISR change goes through AlterISR with the partition epoch.
	p1 = c.meta.Current().Topics["orders"].Partitions[1]
	if _, err := a.AlterISR(context.Background(), wire.AlterISRCmd{Topic: "orders", Partition: 1, LeaderID: 1,
		LeaderEpoch: p1.LeaderEpoch, ExpectedPartitionEpoch: p1.PartitionEpoch - 1, ISR: []int32{1}}); err == nil {
		t.Fatal("AlterISR with a stale partition epoch was accepted")
	}

	// Deleting the topic deletes the replicas.
	c.propose(&wire.Command{Type: wire.CmdDeleteTopic, DeleteTopic: &wire.DeleteTopicCmd{ControllerEpoch: c.epoch, Name: "orders"}})
	eventually(t, "replicas deleted", func() bool { return len(rep.Local()) == 0 })

	// A topic created again under the same name with another id replaces
	// data the node still holds of the old one.
	rep.mu.Lock()
	rep.local[TopicPartition{"events", 0}] = true
	rep.mu.Unlock()
	c.createTopic("events", "old-id", []int32{1})
	eventually(t, "events applied", func() bool { a, ok := rep.get(TopicPartition{"events", 0}); return ok && a.TopicID == "old-id" })
	c.propose(&wire.Command{Type: wire.CmdDeleteTopic, DeleteTopic: &wire.DeleteTopicCmd{ControllerEpoch: c.epoch, Name: "events"}})
	c.createTopic("events", "new-id", []int32{1})
	eventually(t, "events re-created", func() bool { a, ok := rep.get(TopicPartition{"events", 0}); return ok && a.TopicID == "new-id" })
	rep.mu.Lock()
	removedEvents := slices.Contains(rep.removed, TopicPartition{"events", 0})
	rep.mu.Unlock()
	if !removedEvents {
		t.Fatal("the old topic's data was not deleted before the new one was applied")
	}
}

func TestRestartRegistersHigherIncarnation(t *testing.T) {
	c := newCluster(t)
	dir := t.TempDir()
	a1 := newAgent(t, c, 3, dir, newFakeReplicas())
	if err := a1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = a1.Close()
	c.setFenced(3, false)
	// The clock says a smaller incarnation: the agent goes above the record.
	c.propose(&wire.Command{Type: wire.CmdRegisterNode, RegisterNode: &wire.RegisterNodeCmd{Node: wire.NodeRecord{
		ID: 3, Addr: "127.0.0.1:93", Incarnation: time.Now().Add(time.Hour).UnixNano()}}})
	rec := c.meta.Current().Nodes[3]
	a2 := newAgent(t, c, 3, dir, newFakeReplicas())
	run(t, a2)
	if a2.Incarnation() <= rec.Incarnation {
		t.Fatalf("incarnation %d not above %d", a2.Incarnation(), rec.Incarnation)
	}
}

func TestDuplicateRegistrationWaitsForFence(t *testing.T) {
	c := newCluster(t)
	// Node 4 registered, unfenced, at another address (the old process).
	c.propose(&wire.Command{Type: wire.CmdRegisterNode, RegisterNode: &wire.RegisterNodeCmd{Node: wire.NodeRecord{
		ID: 4, Addr: "10.9.9.9:1", Incarnation: 1}}})
	c.setFenced(4, false)
	a := newAgent(t, c, 4, t.TempDir(), newFakeReplicas())
	errc := make(chan error, 1)
	go func() { errc <- a.Start(context.Background()) }()
	select {
	case err := <-errc:
		t.Fatalf("registered over a live record: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	c.setFenced(4, true) // the controller saw the old process die
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
	if n := c.meta.Current().Nodes[4]; n.Addr != a.cfg.Addr {
		t.Fatalf("record %+v", n)
	}
}

func TestImagesBeforeRegistrationIgnored(t *testing.T) {
	c := newCluster(t)
	// The previous incarnation led this partition.
	c.propose(&wire.Command{Type: wire.CmdRegisterNode, RegisterNode: &wire.RegisterNodeCmd{Node: wire.NodeRecord{
		ID: 5, Addr: "127.0.0.1:95", Incarnation: 1}}})
	c.setFenced(5, false)
	c.registerNode(6, "127.0.0.1:96")
	c.createTopic("t", "id", []int32{5, 6})
	rep := newFakeReplicas()
	a := newAgent(t, c, 5, t.TempDir(), rep)
	run(t, a)
	eventually(t, "applied", func() bool { _, ok := rep.get(TopicPartition{"t", 0}); return ok })
	got, _ := rep.get(TopicPartition{"t", 0})
	if got.Leader == 5 {
		t.Fatalf("applied the previous incarnation's leadership: %+v", got)
	}
}

func TestControlledShutdown(t *testing.T) {
	c := newCluster(t)
	var mu sync.Mutex
	calls := 0
	ctrl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req wire.ControlledShutdownRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		resp := wire.ControlledShutdownResponse{NodeID: req.NodeID, Remaining: []string{"t-0"}}
		if n >= 3 {
			resp.Remaining = []string{}
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	defer ctrl.Close()
	c.propose(&wire.Command{Type: wire.CmdAcquireLease, AcquireLease: &wire.AcquireLeaseCmd{
		Holder: "test", Addr: strings.TrimPrefix(ctrl.URL, "http://"), Epoch: c.epoch, LeaseMs: 600_000}})
	a := newAgent(t, c, 1, t.TempDir(), newFakeReplicas())
	run(t, a)
	eventually(t, "image", func() bool { img := a.Image(); return img != nil && img.Controller.Addr != "127.0.0.1:1" })
	if left := a.ControlledShutdown(context.Background()); left != nil {
		t.Fatalf("left %v", left)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 3 {
		t.Fatalf("%d requests", calls)
	}
}
