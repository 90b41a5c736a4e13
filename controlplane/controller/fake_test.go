package controller

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"strand.dev/client/wire"
	"strand.dev/controlplane/controller/metafake"
	"strand.dev/controlplane/membership"
)

// fakeMeta is metafake.Meta with test helpers.
type fakeMeta struct{ *metafake.Meta }

type appliedCmd = metafake.Applied

func newFakeMeta(t *testing.T, nodes ...wire.NodeRecord) *fakeMeta {
	f := &fakeMeta{metafake.New("test-cluster")}
	for _, n := range nodes {
		if n.Addr == "" {
			n.Addr = "127.0.0.1:1"
		}
		if n.GossipAddr == "" {
			n.GossipAddr = "127.0.0.1:2"
		}
		if n.Incarnation == 0 {
			n.Incarnation = 1
		}
		if _, err := f.Propose(context.Background(), &wire.Command{Type: wire.CmdRegisterNode, RegisterNode: &wire.RegisterNodeCmd{Node: n}}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fakeMeta) image() *wire.Image { return f.Current() }

func (f *fakeMeta) appliedCmds() []appliedCmd { return f.Applied() }

// applyAs applies a command outside any controller (a data node's AlterISR).
func (f *fakeMeta) applyAs(t *testing.T, cmd *wire.Command) {
	t.Helper()
	if _, err := f.Propose(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
}

// pausable wraps a MetaAPI: while paused every call blocks until resumed,
// the way a SIGSTOPped process's requests do.
type pausable struct {
	inner  MetaAPI
	paused atomic.Bool
	mu     sync.Mutex
	gate   chan struct{}
}

func newPausable(inner MetaAPI) *pausable {
	g := make(chan struct{})
	close(g)
	return &pausable{inner: inner, gate: g}
}

func (p *pausable) pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused.CompareAndSwap(false, true) {
		p.gate = make(chan struct{})
	}
}

func (p *pausable) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused.CompareAndSwap(true, false) {
		close(p.gate)
	}
}

func (p *pausable) wait() {
	p.mu.Lock()
	g := p.gate
	p.mu.Unlock()
	<-g
}

func (p *pausable) Image(ctx context.Context, stale bool) (*wire.Image, error) {
	p.wait()
	return p.inner.Image(ctx, stale)
}

func (p *pausable) Watch(ctx context.Context, after uint64) (*wire.Image, error) {
	p.wait()
	return p.inner.Watch(ctx, after)
}

func (p *pausable) Propose(ctx context.Context, cmd *wire.Command) (*wire.ProposeResponse, error) {
	p.wait()
	// A paused process does not notice its deadline passing: the
	// request goes out as it was.
	return p.inner.Propose(context.WithoutCancel(ctx), cmd)
}

// fakeGossip is a gossip pool whose membership the test sets.
type fakeGossip struct {
	mu      sync.Mutex
	members map[string]membership.Member
	events  chan membership.Event
}

func newFakeGossip(dataNodes ...int32) *fakeGossip {
	g := &fakeGossip{members: map[string]membership.Member{}, events: make(chan membership.Event, 64)}
	for _, id := range dataNodes {
		g.set(id, membership.StatusAlive, true)
	}
	return g
}

func (g *fakeGossip) Events() <-chan membership.Event { return g.events }

func (g *fakeGossip) Members() []membership.Member {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]membership.Member, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, m)
	}
	return out
}

// set changes data node id's status, sending the event unless silent.
func (g *fakeGossip) set(id int32, st membership.Status, silent bool) {
	m := membership.Member{Name: membership.MemberName(membership.RoleData, itoa(id)), Role: membership.RoleData, ID: itoa(id), Status: st}
	g.mu.Lock()
	g.members[m.Name] = m
	g.mu.Unlock()
	if silent {
		return
	}
	typ := membership.EventJoin
	switch st {
	case membership.StatusFailed:
		typ = membership.EventFailed
	case membership.StatusLeft:
		typ = membership.EventLeave
	}
	select {
	case g.events <- membership.Event{Type: typ, Member: m, At: time.Now()}:
	default:
	}
}

func itoa(id int32) string { return wireItoa(int64(id)) }
