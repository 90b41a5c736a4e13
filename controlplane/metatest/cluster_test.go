package metatest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"strand.dev/client/wire"
	"strand.dev/controlplane/metaserver"
	"strand.dev/controlplane/raftnode"
)

// testLogger writes to stderr when STRAND_TEST_LOG is set, else nowhere.
func testLogger() *slog.Logger {
	if os.Getenv("STRAND_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// links is the fault injector shared by a cluster's members: a cut link
// drops raft messages and forwarded requests between two members.
type links struct {
	mu  sync.RWMutex
	cut map[[2]uint64]bool
}

func (l *links) allow(from, to uint64) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return !l.cut[[2]uint64{from, to}]
}

// partition cuts every link between members of different groups.
func (l *links) partition(groups ...[]uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = map[[2]uint64]bool{}
	for i, g := range groups {
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					l.cut[[2]uint64{a, b}] = true
				}
			}
		}
	}
}

func (l *links) heal() {
	l.mu.Lock()
	l.cut = nil
	l.mu.Unlock()
}

type clusterOpts struct {
	snapshotCount  uint64
	catchUp        uint64
	tick           time.Duration
	electionTick   int
	proposeTimeout time.Duration
}

// testCluster is an in-process strand-meta cluster on loopback listeners.
type testCluster struct {
	t         testing.TB
	clusterID string
	opts      clusterOpts
	links     *links
	root      string

	mu    sync.Mutex
	nodes map[uint64]*testNode
	// members is the initial cluster (plus members added later).
	members []raftnode.Member
}

// testNode is one member: its data directory survives restarts.
type testNode struct {
	id     uint64
	addr   string
	dir    string
	srv    *metaserver.Server
	cancel context.CancelFunc
	done   chan error
}

// newCluster starts n members and waits for a leader.
func newCluster(t testing.TB, n int, opts clusterOpts) *testCluster {
	t.Helper()
	c := &testCluster{t: t, clusterID: "test-" + strings.ToLower(t.Name()), opts: opts, links: &links{},
		root: t.TempDir(), nodes: map[uint64]*testNode{}}
	if len(c.clusterID) > 60 {
		c.clusterID = c.clusterID[:60]
	}
	lns := make([]net.Listener, n)
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
		addr := ln.Addr().String()
		c.members = append(c.members, raftnode.Member{ID: uint64(i + 1), PeerAddr: addr, APIAddr: addr})
	}
	for i, ln := range lns {
		c.start(uint64(i+1), ln, false)
	}
	t.Cleanup(c.stopAll)
	c.waitOnLeader()
	return c
}

func (c *testCluster) config(id uint64, ln net.Listener, join bool) metaserver.Config {
	return metaserver.Config{
		ID:             id,
		ClusterID:      c.clusterID,
		APIListener:    ln,
		InitialCluster: append([]raftnode.Member(nil), c.members...),
		Join:           join,
		DataDir:        fmt.Sprintf("%s/m%d", c.root, id),
		SnapshotCount:  c.opts.snapshotCount,
		CatchUpEntries: c.opts.catchUp,
		TickInterval:   c.opts.tick,
		ElectionTick:   c.opts.electionTick,
		ProposeTimeout: c.opts.proposeTimeout,
		PeerFilter:     c.links.allow,
		Logger:         testLogger().With("test_member", id),
	}
}

// start runs member id on ln (or on its old address when ln is nil).
func (c *testCluster) start(id uint64, ln net.Listener, join bool) *testNode {
	c.t.Helper()
	if ln == nil {
		addr := c.addr(id)
		var err error
		for i := 0; i < 100; i++ {
			if ln, err = net.Listen("tcp", addr); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			c.t.Fatalf("listen again on %s: %v", addr, err)
		}
	}
	cfg := c.config(id, ln, join)
	srv, err := metaserver.New(cfg)
	if err != nil {
		ln.Close()
		c.t.Fatalf("start member %d: %v", id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{id: id, addr: ln.Addr().String(), dir: cfg.DataDir, srv: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { tn.done <- srv.Run(ctx) }()
	c.mu.Lock()
	c.nodes[id] = tn
	c.mu.Unlock()
	return tn
}

func (c *testCluster) addr(id uint64) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.members {
		if m.ID == id {
			return m.APIAddr
		}
	}
	c.t.Fatalf("no member %d", id)
	return ""
}

// stop stops member id and waits for it.
func (c *testCluster) stop(id uint64) {
	c.t.Helper()
	c.mu.Lock()
	tn := c.nodes[id]
	delete(c.nodes, id)
	c.mu.Unlock()
	if tn == nil {
		return
	}
	tn.cancel()
	select {
	case <-tn.done:
	case <-time.After(30 * time.Second):
		c.t.Fatalf("member %d did not stop", id)
	}
}

// restart stops member id and starts it again on the same data directory.
func (c *testCluster) restart(id uint64) {
	c.t.Helper()
	c.stop(id)
	c.start(id, nil, false)
}

func (c *testCluster) stopAll() {
	c.mu.Lock()
	ids := make([]uint64, 0, len(c.nodes))
	for id := range c.nodes {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	for _, id := range ids {
		c.stop(id)
	}
}

func (c *testCluster) running() []*testNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*testNode, 0, len(c.nodes))
	for _, n := range c.nodes {
		out = append(out, n)
	}
	return out
}

func (c *testCluster) node(id uint64) *testNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// checkFor polls fn every interval until it returns nil or total passes.
func checkFor(t testing.TB, total, every time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	var err error
	for {
		if err = fn(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", total, err)
		}
		time.Sleep(every)
	}
}

// waitOnLeader waits until the running members (those given, or all) agree
// on a leader among them, and returns it.
func (c *testCluster) waitOnLeader(among ...uint64) *testNode {
	c.t.Helper()
	var leader *testNode
	checkFor(c.t, 30*time.Second, 20*time.Millisecond, func() error {
		nodes := c.running()
		if len(among) > 0 {
			nodes = nodes[:0]
			for _, id := range among {
				if n := c.node(id); n != nil {
					nodes = append(nodes, n)
				}
			}
		}
		var lead uint64
		for _, n := range nodes {
			l, _ := n.srv.Node().Leader()
			if l == 0 || (lead != 0 && l != lead) {
				return fmt.Errorf("members disagree on the leader (member %d sees %d)", n.id, l)
			}
			lead = l
		}
		if len(among) > 0 && !slices.Contains(among, lead) {
			return fmt.Errorf("leader %d is not among %v", lead, among)
		}
		ln := c.node(lead)
		if ln == nil || !ln.srv.Node().IsLeader() {
			return fmt.Errorf("leader %d is not running as leader", lead)
		}
		leader = ln
		return nil
	})
	return leader
}

// httpClient is the tests' client of the API.
var httpClient = &http.Client{Timeout: 30 * time.Second}

// call does one API request and decodes a 200 answer into out.
func call(method, addr, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+addr+path, rd)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return wire.UnmarshalError(resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func propose(addr string, cmd *wire.Command) (wire.ProposeResponse, error) {
	var resp wire.ProposeResponse
	err := call(http.MethodPost, addr, wire.PathMetaPropose, cmd, &resp)
	return resp, err
}

// proposeRetry proposes until the command is applied or rejected by the
// state machine, retrying retriable errors (the command may then apply more
// than once: use it for commands where that is harmless).
func proposeRetry(t testing.TB, addr string, cmd *wire.Command) wire.ProposeResponse {
	t.Helper()
	var resp wire.ProposeResponse
	checkFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		var err error
		resp, err = propose(addr, cmd)
		var we *wire.Error
		if err != nil && errors.As(err, &we) && !we.Retriable() {
			t.Fatalf("propose %s: %v", cmd.Type, err)
		}
		return err
	})
	return resp
}

func readImage(addr string, stale bool) (*wire.Image, error) {
	var img wire.Image
	path := wire.PathMetaImage
	if stale {
		path += "?stale=true"
	}
	err := call(http.MethodGet, addr, path, nil, &img)
	return &img, err
}

func noop() *wire.Command { return &wire.Command{Type: wire.CmdNoop} }

func allocate(n int64) *wire.Command {
	return &wire.Command{Type: wire.CmdAllocateProducerIDs, AllocateProducerIDs: &wire.AllocateProducerIDsCmd{Count: n}}
}

func claim(partition int32, coordinator string, expected int64) *wire.Command {
	return &wire.Command{Type: wire.CmdClaimOffsetsOwner, ClaimOffsetsOwner: &wire.ClaimOffsetsOwnerCmd{
		Partition: partition, Coordinator: coordinator, Addr: "127.0.0.1:1", ExpectedEpoch: expected}}
}

// imageJSON renders an image canonically for comparisons.
func imageJSON(t testing.TB, img *wire.Image) string {
	t.Helper()
	b, err := json.Marshal(img)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitConverged waits until every running member holds the same image as
// the leader, at least at version min.
func (c *testCluster) waitConverged(min uint64) *wire.Image {
	c.t.Helper()
	var img *wire.Image
	checkFor(c.t, 60*time.Second, 50*time.Millisecond, func() error {
		var want string
		for _, n := range c.running() {
			got := n.srv.Machine().Image()
			if got.Version < min {
				return fmt.Errorf("member %d at version %d, want >= %d", n.id, got.Version, min)
			}
			js := imageJSON(c.t, got)
			if want == "" {
				want, img = js, got
			} else if js != want {
				return fmt.Errorf("member %d's image differs", n.id)
			}
		}
		return nil
	})
	return img
}
