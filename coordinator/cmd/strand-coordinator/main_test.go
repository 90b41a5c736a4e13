package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"strand.dev/client/wire"
	"strand.dev/controlplane/controller/metafake"
)

// Binaries built once for the package's tests.
var bins struct {
	dir         string
	coordinator string
	data        string
	err         error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "strand-coordinator-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.dir = dir
	bins.coordinator = filepath.Join(dir, "strand-coordinator")
	bins.data = filepath.Join(dir, "strand-data")
	if out, err := exec.Command("go", "build", "-o", bins.coordinator, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build strand-coordinator: %v\n%s", err, out)
		os.Exit(1)
	}
	if out, err := exec.Command("go", "build", "-o", bins.data, "strand.dev/dataplane/cmd/strand-data").CombinedOutput(); err != nil {
		bins.err = fmt.Errorf("build strand-data: %v\n%s", err, out)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a port that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a child process killed at cleanup.
type proc struct {
	cmd  *exec.Cmd
	log  *bytes.Buffer
	mu   *sync.Mutex
	done chan error
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func start(t testing.TB, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{log: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = lockedWriter{p.mu, p.log}
	p.cmd.Stderr = lockedWriter{p.mu, p.log}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s %v log:\n%s", filepath.Base(bin), args, p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// wait returns the exit error, or fails after d.
func (p *proc) wait(t testing.TB, d time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(d):
		t.Fatalf("process did not exit within %v", d)
		return nil
	}
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var hc = &http.Client{Timeout: 10 * time.Second}

// call sends a group API request to addr.
func call(addr, path string, req, resp any) error {
	var r *http.Response
	var err error
	if req == nil {
		r, err = hc.Get("http://" + addr + path)
	} else {
		b, _ := json.Marshal(req)
		r, err = hc.Post("http://"+addr+path, wire.ContentTypeJSON, bytes.NewReader(b))
	}
	if err != nil {
		return err
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 {
		return wire.UnmarshalError(r.StatusCode, body)
	}
	if resp != nil {
		return json.Unmarshal(body, resp)
	}
	return nil
}

func healthy(addr string) bool {
	r, err := hc.Get("http://" + addr + wire.PathHealth)
	if err != nil {
		return false
	}
	r.Body.Close()
	return r.StatusCode == 200
}

func TestHelpAndBadFlags(t *testing.T) {
	out, err := exec.Command(bins.coordinator, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--offsets-partitions") || !strings.Contains(string(out), "STRAND_SESSION_TIMEOUT") {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	cmd := exec.Command(bins.coordinator, "--standalone")
	out, err = cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "id is empty") {
		t.Fatalf("no --id: %v\n%s", err, out)
	}
}

func startData(t testing.TB) string {
	t.Helper()
	addr, _ := startDataProc(t)
	return addr
}

// startDataProc is startData that also returns the process.
func startDataProc(t testing.TB) (string, *proc) {
	t.Helper()
	if bins.err != nil {
		t.Skip(bins.err)
	}
	addr := freePort(t)
	p := start(t, bins.data, "--standalone", "--node-id", "1", "--listen", addr, "--data-dir", t.TempDir())
	waitFor(t, 20*time.Second, "strand-data to serve", func() bool { return healthy(addr) })
	return addr, p
}

// TestStandaloneSIGTERM: a standalone coordinator over a real strand-data
// serves groups and exits 0 on SIGTERM; a successor rebuilds the group.
func TestStandaloneSIGTERM(t *testing.T) {
	data := startData(t)
	if err := call(data, wire.PathAdminTopics, wire.CreateTopicRequest{Topic: "t", Partitions: 3}, nil); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	args := []string{"--id", "c1", "--standalone", "--data", data, "--listen", addr, "--offsets-partitions", "3"}
	c := start(t, bins.coordinator, args...)
	var ans wire.MemberAssignment
	waitFor(t, 20*time.Second, "the coordinator to accept a join", func() bool {
		return call(addr, wire.PathGroupJoin, wire.JoinGroupRequest{GroupID: "g", MemberID: "m1", Topics: []string{"t"}}, &ans) == nil
	})
	if err := call(addr, wire.PathGroupCommit, wire.OffsetCommitRequest{GroupID: "g", MemberID: "m1", Generation: ans.Generation,
		Offsets: []wire.OffsetCommit{{Topic: "t", Partition: 1, Offset: 17, LeaderEpoch: -1}}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c.wait(t, 20*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, c.output())
	}
	start(t, bins.coordinator, args...)
	var of wire.OffsetFetchResponse
	waitFor(t, 20*time.Second, "the successor to serve", func() bool {
		return call(addr, wire.PathGroupOffsetsFetch, wire.OffsetFetchRequest{GroupID: "g", Topics: []wire.TopicPartitions{{Topic: "t", Partitions: []int32{1}}}}, &of) == nil
	})
	if len(of.Offsets) != 1 || of.Offsets[0].Offset != 17 {
		t.Fatalf("offsets after restart: %+v", of)
	}
	var d wire.GroupDescription
	if err := call(addr, wire.PathGroupDescribe+"?group=g", nil, &d); err != nil || len(d.Members) != 1 || d.Members[0].MemberID != "m1" {
		t.Fatalf("describe after restart: %+v %v", d, err)
	}
}

// cluster is a fake strand-meta (metafake), a real standalone strand-data and real
// coordinators in cluster mode with gossip.
type cluster struct {
	t      testing.TB
	meta   *metafake.Meta
	metaAt string
	data   string
	// dataProc is the data node; metaHang, once set, makes the fake
	// strand-meta accept requests and never answer them.
	dataProc *proc
	metaHang atomic.Bool
	n        int32
	coords   map[string]*proc
	addrs    map[string]string
	gossip   map[string]string
}

func newCluster(t testing.TB, offsetsPartitions int32, topics map[string]int32) *cluster {
	t.Helper()
	c := &cluster{t: t, meta: metafake.New("test"), n: offsetsPartitions, coords: map[string]*proc{}, addrs: map[string]string{}, gossip: map[string]string{}}
	hung := make(chan struct{})
	h := c.meta.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.metaHang.Load() {
			select {
			case <-hung:
			case <-r.Context().Done():
			}
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(hung) })
	c.metaAt = strings.TrimPrefix(srv.URL, "http://")
	c.data, c.dataProc = startDataProc(t)
	topics[wire.OffsetsTopic] = offsetsPartitions
	// The image a controller would have written: its lease, data node 1,
	// every topic led by node 1.
	lease := c.propose(&wire.Command{Type: wire.CmdAcquireLease,
		AcquireLease: &wire.AcquireLeaseCmd{Holder: "test", Addr: c.data, LeaseMs: 600000}})
	c.propose(&wire.Command{Type: wire.CmdRegisterNode,
		RegisterNode: &wire.RegisterNodeCmd{Node: wire.NodeRecord{ID: 1, Addr: c.data, GossipAddr: "127.0.0.1:1", Incarnation: 1}}})
	c.propose(&wire.Command{Type: wire.CmdSetNodeFenced, // a node registers fenced
		SetNodeFenced: &wire.SetNodeFencedCmd{ControllerEpoch: lease.Epoch, NodeID: 1, Fenced: false}})
	for name, n := range topics {
		tr := wire.TopicRecord{Name: name, Configs: map[string]string{}}
		for p := range n {
			tr.Partitions = append(tr.Partitions, &wire.PartitionRecord{Partition: p, Replicas: []int32{1}})
		}
		c.propose(&wire.Command{Type: wire.CmdCreateTopic,
			CreateTopic: &wire.CreateTopicCmd{ControllerEpoch: lease.Epoch, Topic: tr}})
	}
	for name, n := range topics {
		if err := call(c.data, wire.PathAdminTopics, wire.CreateTopicRequest{Topic: name, Partitions: n}, nil); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// propose applies a command to the fake strand-meta or fails the test.
func (c *cluster) propose(cmd *wire.Command) *wire.ProposeResponse {
	c.t.Helper()
	resp, err := c.meta.Propose(context.Background(), cmd)
	if err != nil {
		c.t.Fatalf("%s: %v", cmd.Type, err)
	}
	return resp
}

func (c *cluster) startCoordinator(id string, extra ...string) {
	c.t.Helper()
	addr, gossip := freePort(c.t), freePort(c.t)
	args := []string{"--id", id, "--listen", addr, "--meta", c.metaAt, "--gossip-bind", gossip,
		"--offsets-partitions", fmt.Sprint(c.n), "--min-session-timeout", "500ms", "--ownership-lease", "2s", "--log-level", "info"}
	args = append(args, extra...)
	for other, g := range c.gossip {
		if c.coords[other].cmd.ProcessState == nil {
			args = append(args, "--join", g)
			break
		}
	}
	c.coords[id] = start(c.t, bins.coordinator, args...)
	c.addrs[id], c.gossip[id] = addr, gossip
	waitFor(c.t, 20*time.Second, id+" to serve", func() bool { return healthy(addr) })
}

// owners counts the offsets partitions per coordinator in the image.
func (c *cluster) owners() map[string]int {
	out := map[string]int{}
	for p, o := range c.meta.Current().OffsetsOwners {
		if p < c.n && o.Coordinator != "" {
			out[o.Coordinator]++
		}
	}
	return out
}

// groupClient sends group requests to whichever coordinator owns the group,
// finding it again on NOT_COORDINATOR, load in progress or a dead node.
type groupClient struct {
	c     *cluster
	group string
	mu    sync.Mutex
	addr  string
}

func (g *groupClient) find() string {
	for id, p := range g.c.coords {
		if p.cmd.ProcessState != nil {
			continue
		}
		var fc wire.FindCoordinatorResponse
		if call(g.c.addrs[id], wire.PathGroupCoordinator+"?group="+g.group, nil, &fc) == nil {
			return fc.Addr
		}
	}
	return ""
}

func retriable(err error) bool {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Retriable()
	}
	return err != nil // transport errors
}

func (g *groupClient) do(path string, req, resp any, deadline time.Duration) error {
	end := time.Now().Add(deadline)
	for {
		g.mu.Lock()
		addr := g.addr
		g.mu.Unlock()
		if addr == "" {
			addr = g.find()
		}
		var err error
		if addr == "" {
			err = errors.New("no coordinator")
		} else {
			err = call(addr, path, req, resp)
		}
		if err == nil {
			g.mu.Lock()
			g.addr = addr
			g.mu.Unlock()
			return nil
		}
		if !retriable(err) || time.Now().After(end) {
			return err
		}
		g.mu.Lock()
		g.addr = ""
		g.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTakeoverAfterSIGKILL: two coordinators share the offsets partitions;
// the one owning a group is SIGKILLed mid-run; the other takes its
// partitions over (after gossip declares it failed and its lease runs out),
// the group goes on with the same members and assignment, and no
// acknowledged commit is lost.
func TestTakeoverAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level takeover test")
	}
	testTakeover(t, syscall.SIGKILL)
}

// TestSIGTERMWithTheClusterGone: SIGTERM reaches a coordinator whose
// strand-meta, data node and fellow coordinator have stopped answering (a
// whole cluster stopped at once, or a network partition): connections
// open, nothing comes back. Its graceful stop cannot release anything, and it still
// exits within --shutdown-timeout.
func TestSIGTERMWithTheClusterGone(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level shutdown test")
	}
	c := newCluster(t, 6, map[string]int32{"t": 3})
	const timeout = 3 * time.Second
	c.startCoordinator("c1", "--shutdown-timeout", timeout.String())
	c.startCoordinator("c2")
	waitFor(t, 30*time.Second, "both coordinators to own offsets partitions", func() bool {
		o := c.owners()
		return o["c1"] > 0 && o["c2"] > 0 && o["c1"]+o["c2"] == int(c.n)
	})
	g := &groupClient{c: c, group: "g"}
	var ans wire.MemberAssignment
	if err := g.do(wire.PathGroupJoin, wire.JoinGroupRequest{GroupID: "g", MemberID: "m", Topics: []string{"t"}, SessionTimeoutMs: 20000, RebalanceTimeoutMs: 20000}, &ans, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	c.metaHang.Store(true)
	for _, p := range []*proc{c.dataProc, c.coords["c2"]} {
		if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.cmd.Process.Signal(syscall.SIGCONT) })
	}
	sent := time.Now()
	if err := c.coords["c1"].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := c.coords["c1"].wait(t, 60*time.Second)
	took := time.Since(sent)
	t.Logf("exit %v after %v (--shutdown-timeout %v)", err, took.Round(time.Millisecond), timeout)
	if took > timeout+5*time.Second {
		t.Fatalf("SIGTERM → exit took %v, over --shutdown-timeout %v plus 5 s\n%s", took, timeout, c.coords["c1"].output())
	}
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v, want 0\n%s", err, c.coords["c1"].output())
	}
}

// TestHandoffOnSIGTERM: a coordinator stopped with SIGTERM exits 0 after
// releasing its offsets partitions, and the other serves the group without
// waiting out a lease.
func TestHandoffOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level takeover test")
	}
	testTakeover(t, syscall.SIGTERM)
}

func testTakeover(t *testing.T, sig syscall.Signal) {
	c := newCluster(t, 6, map[string]int32{"t": 12})
	c.startCoordinator("c1")
	c.startCoordinator("c2")
	waitFor(t, 30*time.Second, "both coordinators to own offsets partitions", func() bool {
		o := c.owners()
		return o["c1"] > 0 && o["c2"] > 0 && o["c1"]+o["c2"] == int(c.n)
	})
	g := &groupClient{c: c, group: "g"}
	// Three members join and settle.
	type mem struct {
		id    string
		gen   int32
		owned []wire.TopicPartitions
	}
	ms := []*mem{{id: "a"}, {id: "b"}, {id: "d"}}
	for _, m := range ms {
		var ans wire.MemberAssignment
		if err := g.do(wire.PathGroupJoin, wire.JoinGroupRequest{GroupID: "g", MemberID: m.id, Topics: []string{"t"}, SessionTimeoutMs: 20000, RebalanceTimeoutMs: 20000}, &ans, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		m.gen, m.owned = ans.Generation, ans.Assigned
	}
	settle := func(d time.Duration) {
		t.Helper()
		waitFor(t, d, "the group to settle", func() bool {
			total := 0
			stable := true
			for _, m := range ms {
				var ans wire.MemberAssignment
				if err := g.do(wire.PathGroupHeartbeat, wire.HeartbeatRequest{GroupID: "g", MemberID: m.id, Generation: m.gen, Owned: m.owned}, &ans, d); err != nil {
					t.Fatalf("heartbeat %s: %v", m.id, err)
				}
				m.gen, m.owned = ans.Generation, ans.Assigned
				stable = stable && !ans.Reconciling
				for _, tp := range ans.Assigned {
					total += len(tp.Partitions)
				}
			}
			return stable && total == 12
		})
	}
	settle(20 * time.Second)
	// Commit offsets, remembering what was acknowledged.
	acked := map[string]int64{}
	commitRound := func(round int64) {
		for _, m := range ms {
			var offs []wire.OffsetCommit
			for _, tp := range m.owned {
				for _, p := range tp.Partitions {
					offs = append(offs, wire.OffsetCommit{Topic: tp.Topic, Partition: p, Offset: round*100 + int64(p), LeaderEpoch: -1})
				}
			}
			if err := g.do(wire.PathGroupCommit, wire.OffsetCommitRequest{GroupID: "g", MemberID: m.id, Generation: m.gen, Offsets: offs}, nil, 30*time.Second); err != nil {
				t.Fatalf("commit %s: %v", m.id, err)
			}
			for _, o := range offs {
				acked[fmt.Sprintf("%s-%d", o.Topic, o.Partition)] = o.Offset
			}
		}
	}
	commitRound(1)
	commitRound(2)
	var fc wire.FindCoordinatorResponse
	if err := g.do(wire.PathGroupCoordinator+"?group=g", nil, &fc, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	victim := fc.CoordinatorID
	genBefore := ms[0].gen
	name := map[syscall.Signal]string{syscall.SIGKILL: "SIGKILL", syscall.SIGTERM: "SIGTERM"}[sig]
	t.Logf("group g is on %s (partition %d, epoch %d); %s", victim, fc.Partition, fc.Epoch, name)
	killed := time.Now()
	if err := c.coords[victim].cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	exit := c.coords[victim].wait(t, 20*time.Second)
	if sig == syscall.SIGTERM && exit != nil {
		t.Fatalf("exit after SIGTERM: %v", exit)
	}
	// The members go on: heartbeats find the new owner.
	settle(30 * time.Second)
	took := time.Since(killed)
	if err := g.do(wire.PathGroupCoordinator+"?group=g", nil, &fc, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if fc.CoordinatorID == victim {
		t.Fatalf("the group is still on %s", victim)
	}
	t.Logf("the group continued on %s %v after the %s", fc.CoordinatorID, took.Round(time.Millisecond), name)
	if sig == syscall.SIGTERM && took > 1900*time.Millisecond {
		t.Errorf("a graceful handoff took %v: it waited out the 2 s lease", took)
	}
	for _, m := range ms {
		if m.gen != genBefore {
			t.Fatalf("member %s is at generation %d after the takeover, was %d: the takeover caused a rebalance", m.id, m.gen, genBefore)
		}
	}
	var of wire.OffsetFetchResponse
	if err := g.do(wire.PathGroupOffsetsFetch, wire.OffsetFetchRequest{GroupID: "g"}, &of, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, o := range of.Offsets {
		got[fmt.Sprintf("%s-%d", o.Topic, o.Partition)] = o.Offset
	}
	for k, v := range acked {
		if got[k] != v {
			t.Fatalf("acknowledged commit %s=%d lost: the new coordinator has %d", k, v, got[k])
		}
	}
	commitRound(3)
}

// produce posts a batch to a data node.
func produce(addr, topic string, partition int32, batch []byte) error {
	r, err := hc.Post(fmt.Sprintf("http://%s%s?topic=%s&partition=%d&acks=all", addr, wire.PathProduce, topic, partition), wire.ContentTypeBatch, bytes.NewReader(batch))
	if err != nil {
		return err
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 {
		return wire.UnmarshalError(r.StatusCode, body)
	}
	return nil
}
