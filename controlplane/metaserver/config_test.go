package metaserver

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"strand.dev/client/wire"
	"strand.dev/controlplane/raftnode"
)

func TestParseInitialCluster(t *testing.T) {
	cases := []struct {
		in   string
		want string // FormatInitialCluster of the result, or "error"
	}{
		{"1=127.0.0.1:7101@127.0.0.1:7001,2=127.0.0.1:7102@127.0.0.1:7002", "1=127.0.0.1:7101@127.0.0.1:7001,2=127.0.0.1:7102@127.0.0.1:7002"},
		{"2=h2:1, 1=h1:1", "1=h1:1@h1:1,2=h2:1@h2:1"},
		{"1=[::1]:7101@[::1]:7001", "1=[::1]:7101@[::1]:7001"},
		{"", "error"},
		{"1=h:1,1=h:2", "error"},
		{"0=h:1", "error"},
		{"x=h:1", "error"},
		{"1=h", "error"},
		{"1=h:1@nohost", "error"},
		{"1", "error"},
	}
	for _, tc := range cases {
		ms, err := ParseInitialCluster(tc.in)
		got := "error"
		if err == nil {
			got = FormatInitialCluster(ms)
		}
		if got != tc.want {
			t.Errorf("ParseInitialCluster(%q) = %s (%v), want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{ID: 1, ClusterID: "c", ListenAddr: "127.0.0.1:1", DataDir: "/tmp/x",
		InitialCluster: []raftnode.Member{{ID: 1, PeerAddr: "a:1", APIAddr: "a:1"}}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []func(*Config){
		func(c *Config) { c.ID = 0 },
		func(c *Config) { c.ID = 2 },
		func(c *Config) { c.ClusterID = "" },
		func(c *Config) { c.ListenAddr = "" },
		func(c *Config) { c.DataDir = "" },
		func(c *Config) { c.InitialCluster = nil },
		func(c *Config) { c.ElectionTick, c.HeartbeatTick = 2, 2 },
	}
	for i, mutate := range bad {
		c := good
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("case %d: accepted %+v", i, c)
		}
	}
}

// fakeClock is a settable monotonic clock.
type fakeClock struct{ now time.Time }

func (f *fakeClock) Now() time.Time          { return f.now }
func (f *fakeClock) advance(d time.Duration) { f.now = f.now.Add(d) }

func TestLeaseClock(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	l := newLeaseClock(clk.Now)
	lease := wire.ControllerLease{Holder: "a", Epoch: 1, LeaseMs: 1000, RenewedAt: 5}
	l.observe(lease)

	if _, left, ok := l.check(lease); ok || left != time.Second {
		t.Fatalf("fresh lease: ok=%v left=%v", ok, left)
	}
	clk.advance(999 * time.Millisecond)
	if _, _, ok := l.check(lease); ok {
		t.Fatal("lapsed before LeaseMs")
	}
	// A renewal restarts it.
	lease.RenewedAt = 9
	l.observe(lease)
	clk.advance(500 * time.Millisecond)
	if _, _, ok := l.check(lease); ok {
		t.Fatal("lapsed right after a renewal")
	}
	clk.advance(500 * time.Millisecond)
	at, _, ok := l.check(lease)
	if !ok || at != 9 {
		t.Fatalf("after LeaseMs without renewal: ok=%v lapsed at %d", ok, at)
	}
	// A new leader gives the holder a full lease again.
	l.becameLeader()
	if _, _, ok := l.check(lease); ok {
		t.Fatal("lapsed right after a leader change")
	}
	// A change seen only at check time counts from then (conservative).
	clk.advance(2 * time.Second)
	lease.RenewedAt = 12
	if _, _, ok := l.check(lease); ok {
		t.Fatal("a renewal first seen by check was treated as lapsed")
	}
}

func TestToWire(t *testing.T) {
	cases := []struct {
		err  error
		code wire.Code
	}{
		{raftnode.ErrNotLeader, wire.CodeNotLeader},
		{raftnode.ErrSuperseded, wire.CodeNotLeader},
		{fmt.Errorf("x: %w", raftnode.ErrDropped), wire.CodeNotLeader},
		{fmt.Errorf("%w: %w", raftnode.ErrOutcomeUnknown, raftnode.ErrStopped), wire.CodeRequestTimedOut},
		{context.DeadlineExceeded, wire.CodeRequestTimedOut},
		{raftnode.ErrStopped, wire.CodeShuttingDown},
		{raftnode.ErrTooLarge, wire.CodeMessageTooLarge},
		{raftnode.ErrMemberUnknown, wire.CodeMemberNotFound},
		{raftnode.ErrLastVoter, wire.CodePolicyViolation},
		{raftnode.ErrConfChangePending, wire.CodeRebalanceInProgress},
		{wire.Errorf(wire.CodeInvalidUpdateVersion, "cas"), wire.CodeInvalidUpdateVersion},
		{errors.New("disk on fire"), wire.CodeUnknown},
	}
	for _, tc := range cases {
		var we *wire.Error
		if !errors.As(toWire(tc.err), &we) || we.Code != tc.code {
			t.Errorf("toWire(%v) = %v, want %s", tc.err, toWire(tc.err), tc.code)
		}
	}
}
