package raftnode

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.etcd.io/raft/v3/raftpb"

	"strand.dev/client/wire"
)

// counter is a stand-in state machine: every command adds its length to a
// sum; a command "reject" is refused.
type counter struct {
	mu      sync.Mutex
	sum     uint64
	applied uint64
}

func (c *counter) Apply(index uint64, data []byte) (wire.ProposeResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if index <= c.applied {
		return wire.ProposeResponse{Version: c.sum}, nil
	}
	c.applied = index
	if string(data) == "reject" {
		return wire.ProposeResponse{}, wire.Errorf(wire.CodeInvalidRequest, "rejected")
	}
	c.sum += uint64(len(data))
	return wire.ProposeResponse{Version: c.sum}, nil
}

func (c *counter) Snapshot() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := binary.BigEndian.AppendUint64(nil, c.sum)
	return binary.BigEndian.AppendUint64(b, c.applied), nil
}

func (c *counter) Restore(b []byte) error {
	if len(b) != 16 {
		return errors.New("bad counter snapshot")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sum, c.applied = binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	return nil
}

func (c *counter) value() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sum
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runSingle starts a one-member node on dir with its transport served on a
// loopback listener.
func runSingle(t *testing.T, dir string, m *counter, mutate func(*Config)) (*Node, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{ID: 1, ClusterID: "c", Dir: dir, Machine: m, Logger: quiet(), TickInterval: 10 * time.Millisecond,
		InitialMembers: []Member{{ID: 1, PeerAddr: ln.Addr().String(), APIAddr: ln.Addr().String()}}}
	if mutate != nil {
		mutate(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: n.Handler}
	go srv.Serve(ln)
	ctx, cancel := context.WithCancel(context.Background())
	go n.Run(ctx)
	stop := func() {
		cancel()
		<-n.Done()
		srv.Shutdown()
	}
	deadline := time.Now().Add(20 * time.Second)
	for !n.IsLeader() {
		if time.Now().After(deadline) {
			stop()
			t.Fatal("no leader")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return n, stop
}

func TestSingleMemberProposeSnapshotRestart(t *testing.T) {
	dir := t.TempDir()
	m := &counter{}
	n, stop := runSingle(t, dir, m, func(c *Config) { c.SnapshotCount = 50; c.CatchUpEntries = 10 })
	ctx := context.Background()
	for i := 0; i < 120; i++ {
		if _, err := n.Propose(ctx, []byte("abc")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.Propose(ctx, []byte("reject")); err == nil {
		t.Fatal("the machine's rejection did not come back")
	}
	if err := n.ReadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := n.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.SnapshotIndex == 0 || st.FirstIndex <= 1 {
		t.Fatalf("no snapshot or compaction: %+v", st)
	}
	if _, err := n.Propose(ctx, make([]byte, DefaultMaxEntryBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized proposal: %v", err)
	}
	stop()
	if m.value() != 360 {
		t.Fatalf("sum %d", m.value())
	}

	// Restart: the machine comes back from the snapshot plus the log.
	m2 := &counter{}
	n2, stop2 := runSingle(t, dir, m2, nil)
	defer stop2()
	if err := n2.ReadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if m2.value() != 360 {
		t.Fatalf("sum after restart %d", m2.value())
	}
}

func TestIdentityChecks(t *testing.T) {
	dir := t.TempDir()
	if err := checkIdentity(dir, "a", 1); err != nil {
		t.Fatal(err)
	}
	if err := checkIdentity(dir, "a", 1); err != nil {
		t.Fatalf("same identity again: %v", err)
	}
	if err := checkIdentity(dir, "b", 1); !errors.Is(err, ErrForeignData) {
		t.Fatalf("other cluster: %v", err)
	}
	if err := checkIdentity(dir, "a", 2); !errors.Is(err, ErrForeignData) {
		t.Fatalf("other member: %v", err)
	}
	if err := markRemoved(dir); err != nil {
		t.Fatal(err)
	}
	if err := checkIdentity(dir, "a", 1); !errors.Is(err, ErrRemoved) {
		t.Fatalf("removed member: %v", err)
	}
	// Raft state without an identity is refused.
	d2 := t.TempDir()
	os.MkdirAll(filepath.Join(d2, "wal"), 0o755)
	os.WriteFile(filepath.Join(d2, "wal", "0000000000000000-0000000000000000.wal"), nil, 0o644)
	if err := checkIdentity(d2, "a", 1); !errors.Is(err, ErrForeignData) {
		t.Fatalf("state without identity: %v", err)
	}
	// The lock keeps a second process out.
	l1, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	if _, err := lockDir(dir); !errors.Is(err, ErrDataDirLocked) {
		t.Fatalf("second lock: %v", err)
	}
}

func TestEnvelope(t *testing.T) {
	b := encodeEnvelope(7, 1<<60+3, []byte(`{"type":"noop"}`))
	m, id, cmd, ok := decodeEnvelope(b)
	if !ok || m != 7 || id != 1<<60+3 || string(cmd) != `{"type":"noop"}` {
		t.Fatalf("round trip: %d %d %q %v", m, id, cmd, ok)
	}
	for _, bad := range [][]byte{nil, {}, {2, 0, 0}, make([]byte, 16)} {
		if _, _, _, ok := decodeEnvelope(bad); ok {
			t.Fatalf("decoded %v", bad)
		}
	}
}

func TestSnapshotFiles(t *testing.T) {
	s := &snapStore{dir: t.TempDir(), keep: 2}
	data, err := encodeSnapData(clusterState{Members: []Member{{ID: 1, PeerAddr: "a:1"}}, Removed: []uint64{9}}, []byte("machine"))
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 4; i++ {
		snap := &raftpb.Snapshot{Data: data, Metadata: &raftpb.SnapshotMetadata{Index: new(i * 10), Term: new(uint64(2)), ConfState: &raftpb.ConfState{Voters: []uint64{1}}}}
		if err := s.save(snap); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.purge(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.load(2, 10); err == nil {
		t.Fatal("purged snapshot still loads")
	}
	snap, err := s.load(2, 40)
	if err != nil {
		t.Fatal(err)
	}
	cs, machine, err := decodeSnapData(snap.GetData())
	if err != nil || string(machine) != "machine" || len(cs.Members) != 1 || cs.Removed[0] != 9 {
		t.Fatalf("decode: %v %q %+v", err, machine, cs)
	}
	// A flipped byte is caught.
	path := filepath.Join(s.dir, snapName(2, 40))
	b, _ := os.ReadFile(path)
	b[len(b)-1] ^= 1
	os.WriteFile(path, b, 0o644)
	if _, err := s.load(2, 40); !errors.Is(err, errSnapCorrupt) {
		t.Fatalf("corrupt snapshot: %v", err)
	}
	if _, _, err := decodeSnapData([]byte("nope")); !errors.Is(err, errSnapCorrupt) {
		t.Fatalf("bad payload: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{ID: 1, ClusterID: "c", Dir: "/x", Machine: &counter{}, InitialMembers: []Member{{ID: 1, PeerAddr: "a:1"}}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for i, mutate := range []func(*Config){
		func(c *Config) { c.ID = 0 },
		func(c *Config) { c.ClusterID = "" },
		func(c *Config) { c.Dir = "" },
		func(c *Config) { c.Machine = nil },
		func(c *Config) { c.InitialMembers = []Member{{ID: 2, PeerAddr: "a:1"}} },
		func(c *Config) { c.InitialMembers = append(c.InitialMembers, Member{ID: 1, PeerAddr: "b:1"}) },
		func(c *Config) { c.ElectionTick, c.HeartbeatTick = 3, 3 },
	} {
		c := good
		c.InitialMembers = append([]Member(nil), good.InitialMembers...)
		mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "") {
			t.Errorf("case %d accepted", i)
		}
	}
}
