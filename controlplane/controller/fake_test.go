package controller

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"strand.dev/client/wire"
	"strand.dev/controlplane/membership"
	"strand.dev/controlplane/metastate"
)

// fakeMeta is strand-meta in memory: the real state machine, a watch, and
// the raft leader's lease rule (a takeover is refused until no renewal was
// applied for LeaseMs on this clock).
type fakeMeta struct {
	mu          sync.Mutex
	m           *metastate.Machine
	index       uint64
	changed     chan struct{}
	lastRenewal time.Time
	// applied records every accepted controller command with its epoch
	// and the version it produced.
	applied []appliedCmd
}

type appliedCmd struct {
	typ     wire.CommandType
	epoch   int64
	version uint64
}

func newFakeMeta(t *testing.T, nodes ...wire.NodeRecord) *fakeMeta {
	f := &fakeMeta{m: metastate.New("test-cluster"), changed: make(chan struct{})}
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

func (f *fakeMeta) Image(ctx context.Context, stale bool) (*wire.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m.Image(), nil
}

func (f *fakeMeta) Watch(ctx context.Context, after uint64) (*wire.Image, error) {
	timeout := time.After(500 * time.Millisecond)
	for {
		f.mu.Lock()
		img, ch := f.m.Image(), f.changed
		f.mu.Unlock()
		if img.Version > after {
			return img, nil
		}
		select {
		case <-ch:
		case <-timeout:
			return img, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (f *fakeMeta) Propose(ctx context.Context, cmd *wire.Command) (*wire.ProposeResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, wire.Errorf(wire.CodeRequestTimedOut, "%v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	img := f.m.Image()
	if cmd.Type == wire.CmdAcquireLease && metastate.IsLeaseTakeover(img.Controller, cmd.AcquireLease) &&
		time.Since(f.lastRenewal) < time.Duration(img.Controller.LeaseMs)*time.Millisecond {
		return nil, wire.Errorf(wire.CodeInvalidUpdateVersion, "the lease of %s has not lapsed", img.Controller.Holder)
	}
	f.index++
	resp, err := f.m.ApplyCommand(f.index, cmd)
	if err != nil {
		return nil, err
	}
	if cmd.Type == wire.CmdAcquireLease {
		f.lastRenewal = time.Now()
	}
	if epoch := controllerEpoch(cmd); epoch != 0 {
		f.applied = append(f.applied, appliedCmd{typ: cmd.Type, epoch: epoch, version: resp.Version})
	}
	close(f.changed)
	f.changed = make(chan struct{})
	return &resp, nil
}

func controllerEpoch(cmd *wire.Command) int64 {
	switch {
	case cmd.SetNodeFenced != nil:
		return cmd.SetNodeFenced.ControllerEpoch
	case cmd.UpdatePartitions != nil:
		return cmd.UpdatePartitions.ControllerEpoch
	case cmd.CreateTopic != nil:
		return cmd.CreateTopic.ControllerEpoch
	case cmd.DeleteTopic != nil:
		return cmd.DeleteTopic.ControllerEpoch
	case cmd.AlterTopicConfigs != nil:
		return cmd.AlterTopicConfigs.ControllerEpoch
	}
	return 0
}

func (f *fakeMeta) image() *wire.Image {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m.Image()
}

func (f *fakeMeta) appliedCmds() []appliedCmd {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]appliedCmd(nil), f.applied...)
}

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
