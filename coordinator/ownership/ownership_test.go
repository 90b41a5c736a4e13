package ownership

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"strand.dev/client/wire"
	"strand.dev/controlplane/controller/metafake"
)

// recorder is a Listener that tracks what a coordinator serves.
type recorder struct {
	mu         sync.Mutex
	serving    map[int32]int64
	serveAfter map[int32]time.Time
	waits      int
}

func newRecorder() *recorder {
	return &recorder{serving: map[int32]int64{}, serveAfter: map[int32]time.Time{}}
}

func (r *recorder) Gained(p int32, epoch int64, after time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.serving[p] = epoch
	r.serveAfter[p] = after
}

func (r *recorder) Lost(p int32, _ int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.serving, p)
	delete(r.serveAfter, p)
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type cluster struct {
	t     *testing.T
	meta  *metafake.Meta
	clk   *clock
	live  map[string]bool
	mgrs  map[string]*Manager
	recs  map[string]*recorder
	n     int32
	lease time.Duration
}

func newCluster(t *testing.T, n int32) *cluster {
	return &cluster{t: t, meta: metafake.New("test"), clk: &clock{now: time.Unix(1000, 0)}, live: map[string]bool{},
		mgrs: map[string]*Manager{}, recs: map[string]*recorder{}, n: n, lease: 2 * time.Second}
}

func (c *cluster) peers() []Peer {
	var out []Peer
	for id, ok := range c.live {
		if ok {
			out = append(out, Peer{ID: id, Addr: id + ":1"})
		}
	}
	return out
}

func (c *cluster) start(id string) {
	rec := newRecorder()
	m, err := New(Config{ID: id, Addr: id + ":1", Partitions: func() int32 { return c.n }, Lease: c.lease,
		Meta: c.meta, Peers: c.peers, Listener: rec, Now: c.clk.Now})
	if err != nil {
		c.t.Fatal(err)
	}
	c.live[id] = true
	c.mgrs[id], c.recs[id] = m, rec
}

func (c *cluster) step(id string) error { return c.mgrs[id].Step(context.Background()) }

// checkExclusive: no partition is valid at two coordinators at once, and
// what the image says matches.
func (c *cluster) checkExclusive() {
	c.t.Helper()
	for p := range c.n {
		var holders []string
		for id, m := range c.mgrs {
			if _, ok := m.Valid(p); ok {
				holders = append(holders, id)
			}
		}
		if len(holders) > 1 {
			c.t.Fatalf("partition %d valid at %v", p, holders)
		}
	}
}

func (c *cluster) owned(id string) int {
	n := 0
	for p := range c.n {
		if _, ok := c.mgrs[id].Valid(p); ok {
			n++
		}
	}
	return n
}

func TestDesiredSpreadsAndMovesLittle(t *testing.T) {
	peers := []Peer{{ID: "c1"}, {ID: "c2"}, {ID: "c3"}}
	count := map[string]int{}
	before := map[int32]string{}
	for p := range int32(50) {
		d, _ := Desired(peers, p)
		count[d.ID]++
		before[p] = d.ID
	}
	for id, n := range count {
		if n < 8 || n > 26 {
			t.Fatalf("%s gets %d of 50 partitions: %v", id, n, count)
		}
	}
	peers = append(peers, Peer{ID: "c4"})
	for p := range int32(50) {
		d, _ := Desired(peers, p)
		if d.ID != before[p] && d.ID != "c4" {
			t.Fatalf("partition %d moved from %s to %s when c4 joined", p, before[p], d.ID)
		}
	}
	if _, ok := Desired(nil, 0); ok {
		t.Fatal("Desired with no peers")
	}
}

func TestPlan(t *testing.T) {
	live := []Peer{{ID: "a"}, {ID: "b"}}
	var pa, pb int32 = -1, -1 // a partition desired for a, one for b
	for p := range int32(20) {
		d, _ := Desired(live, p)
		if d.ID == "a" && pa < 0 {
			pa = p
		}
		if d.ID == "b" && pb < 0 {
			pb = p
		}
	}
	owner := func(c string, e int64) *wire.OffsetsOwner { return &wire.OffsetsOwner{Coordinator: c, Epoch: e} }
	tests := []struct {
		name   string
		owners map[int32]*wire.OffsetsOwner
		p      int32 // the partition the case is about
		want   []Action
	}{
		{"never owned", map[int32]*wire.OffsetsOwner{}, pa, []Action{{Type: Claim, Partition: pa}}},
		{"released", map[int32]*wire.OffsetsOwner{pa: owner("", 4)}, pa, []Action{{Type: Claim, Partition: pa, Epoch: 4}}},
		{"owner dead", map[int32]*wire.OffsetsOwner{pa: owner("zombie", 3)}, pa, []Action{{Type: Claim, Partition: pa, Epoch: 3, Wait: true}}},
		{"owner alive elsewhere: wait for its release", map[int32]*wire.OffsetsOwner{pa: owner("b", 3)}, pa, nil},
		{"held here, belongs elsewhere", map[int32]*wire.OffsetsOwner{pb: owner("a", 5)}, pb, []Action{{Type: Release, Partition: pb, Epoch: 5, To: "b"}}},
		{"not ours, held by its desired owner", map[int32]*wire.OffsetsOwner{pb: owner("b", 5)}, pb, nil},
		{"not ours, never owned", map[int32]*wire.OffsetsOwner{}, pb, nil},
		{"held here, belongs here", map[int32]*wire.OffsetsOwner{pa: owner("a", 5)}, pa, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := filter(Plan("a", 20, tt.owners, live), tt.p)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("Plan = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func filter(as []Action, p int32) []Action {
	var out []Action
	for _, a := range as {
		if a.Partition == p {
			out = append(out, a)
		}
	}
	return out
}

func TestHandoffOnJoinIsExclusive(t *testing.T) {
	c := newCluster(t, 50)
	c.start("c1")
	if err := c.step("c1"); err != nil {
		t.Fatal(err)
	}
	if got := c.owned("c1"); got != 50 {
		t.Fatalf("c1 owns %d, want 50", got)
	}
	for p, after := range c.recs["c1"].serveAfter {
		if after.After(c.clk.Now()) {
			t.Fatalf("partition %d never owned but serving waits until %v", p, after)
		}
	}
	c.start("c2")
	// c2 steps first: the partitions are c1's and c1 is alive: nothing.
	if err := c.step("c2"); err != nil {
		t.Fatal(err)
	}
	c.checkExclusive()
	if got := c.owned("c2"); got != 0 {
		t.Fatalf("c2 took %d partitions from a live owner", got)
	}
	if err := c.step("c1"); err != nil { // releases c2's share
		t.Fatal(err)
	}
	c.checkExclusive()
	if err := c.step("c2"); err != nil { // claims them, no wait
		t.Fatal(err)
	}
	c.checkExclusive()
	n1, n2 := c.owned("c1"), c.owned("c2")
	if n1+n2 != 50 || n2 == 0 || n1 == 0 {
		t.Fatalf("owned c1 %d c2 %d", n1, n2)
	}
	for p, after := range c.recs["c2"].serveAfter {
		if after.After(c.clk.Now()) {
			t.Fatalf("partition %d was released but serving waits", p)
		}
	}
	// Steady state: further steps change nothing.
	for range 3 {
		c.clk.Add(500 * time.Millisecond)
		if err := errors.Join(c.step("c1"), c.step("c2")); err != nil {
			t.Fatal(err)
		}
		c.checkExclusive()
	}
	if c.owned("c1") != n1 || c.owned("c2") != n2 {
		t.Fatal("ownership changed in a steady state")
	}
}

func TestTakeoverWaitsOutTheLease(t *testing.T) {
	c := newCluster(t, 10)
	c.start("c1")
	c.start("c2")
	for range 2 {
		if err := errors.Join(c.step("c1"), c.step("c2")); err != nil {
			t.Fatal(err)
		}
	}
	had := c.owned("c1")
	if had == 0 {
		t.Fatal("c1 owns nothing")
	}
	// c1 is paused: gossip declares it failed; it does not step any more.
	c.live["c1"] = false
	c.clk.Add(100 * time.Millisecond)
	if err := c.step("c2"); err != nil {
		t.Fatal(err)
	}
	if got := c.owned("c2"); got != 10 {
		t.Fatalf("c2 owns %d after c1 failed, want 10", got)
	}
	// c1 still believes it owns its partitions until its lease runs out,
	// and c2 may serve them only after that.
	for p, after := range c.recs["c2"].serveAfter {
		if c.recs["c1"].serving[p] == 0 {
			continue
		}
		if _, ok := c.mgrs["c1"].Valid(p); !ok {
			t.Fatalf("c1's lease of %d ended early", p)
		}
		c1Until := c.mgrs["c1"].held[p].validUntil
		if after.Before(c1Until) {
			t.Fatalf("c2 serves %d from %v, before c1's lease ends at %v", p, after, c1Until)
		}
	}
	c.clk.Add(2 * time.Second)
	for p := range int32(10) {
		if _, ok := c.mgrs["c1"].Valid(p); ok {
			t.Fatalf("c1's lease of %d outlived its term", p)
		}
	}
	// c1 wakes up: its next step sees the new owners and drops everything.
	if err := c.step("c1"); err != nil {
		t.Fatal(err)
	}
	if len(c.recs["c1"].serving) != 0 {
		t.Fatalf("c1 still serves %v", c.recs["c1"].serving)
	}
}

func TestMetaUnreachableExpiresLeases(t *testing.T) {
	c := newCluster(t, 4)
	c.start("c1")
	if err := c.step("c1"); err != nil {
		t.Fatal(err)
	}
	c.meta.SetDown(true)
	c.clk.Add(time.Second)
	if err := c.step("c1"); err == nil {
		t.Fatal("step succeeded with strand-meta down")
	}
	if c.owned("c1") != 4 {
		t.Fatal("leases ended before their term")
	}
	c.clk.Add(1100 * time.Millisecond)
	c.step("c1")
	if c.owned("c1") != 0 || len(c.recs["c1"].serving) != 0 {
		t.Fatalf("still serving %v with strand-meta unreachable past the lease", c.recs["c1"].serving)
	}
	// strand-meta comes back: c1 claims again, waiting out its own old lease.
	c.meta.SetDown(false)
	if err := c.step("c1"); err != nil {
		t.Fatal(err)
	}
	if c.owned("c1") != 4 {
		t.Fatalf("c1 owns %d after strand-meta returned", c.owned("c1"))
	}
	for p, after := range c.recs["c1"].serveAfter {
		if !after.After(c.clk.Now()) {
			t.Fatalf("re-claim of %d does not wait a lease", p)
		}
	}
}

func TestReleaseAll(t *testing.T) {
	c := newCluster(t, 6)
	c.start("c1")
	c.start("c2")
	for range 2 {
		c.step("c1")
		c.step("c2")
	}
	if err := c.mgrs["c1"].ReleaseAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.live["c1"] = false
	if len(c.recs["c1"].serving) != 0 {
		t.Fatal("c1 serves after ReleaseAll")
	}
	if err := c.step("c2"); err != nil {
		t.Fatal(err)
	}
	if c.owned("c2") != 6 {
		t.Fatalf("c2 owns %d", c.owned("c2"))
	}
	for p, after := range c.recs["c2"].serveAfter {
		if after.After(c.clk.Now()) {
			t.Fatalf("released partition %d waits a lease", p)
		}
	}
}
