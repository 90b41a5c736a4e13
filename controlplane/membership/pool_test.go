package membership

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// checkFor polls fn every 20 ms until it returns nil or the deadline passes.
func checkFor(t *testing.T, total time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", total, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("STRAND_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return nil
}

func startPool(t *testing.T, cfg Config) *Pool {
	t.Helper()
	if cfg.BindAddr == "" {
		cfg.BindAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s-%s): %v", cfg.Role, cfg.ID, err)
	}
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

func statusOf(p *Pool, name string) Status {
	for _, m := range p.Members() {
		if m.Name == name {
			return m.Status
		}
	}
	return ""
}

func waitStatus(t *testing.T, p *Pool, name string, want Status) {
	t.Helper()
	checkFor(t, 30*time.Second, func() error {
		if got := statusOf(p, name); got != want {
			return fmt.Errorf("%s sees %s as %q, want %q", p.Name(), name, got, want)
		}
		return nil
	})
}

// waitEvent reads p's events until one of type typ about name arrives.
func waitEvent(t *testing.T, p *Pool, typ EventType, name string, within time.Duration) Event {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case ev, ok := <-p.Events():
			if !ok {
				t.Fatalf("events closed while waiting for %v of %s", typ, name)
			}
			if ev.Type == typ && ev.Member.Name == name {
				return ev
			}
		case <-timeout:
			t.Fatalf("%s: no %v event for %s within %v", p.Name(), typ, name, within)
		}
	}
}

func TestPoolJoinTagsAndMembers(t *testing.T) {
	seed := startPool(t, Config{Role: RoleController, ID: "c1", APIAddr: "127.0.0.1:9000"})
	d1 := startPool(t, Config{Role: RoleData, ID: "1", APIAddr: "127.0.0.1:9001", Rack: "r1", Join: []string{seed.LocalAddr()}})
	co := startPool(t, Config{Role: RoleCoordinator, ID: "co-1", APIAddr: "127.0.0.1:9002", Join: []string{d1.LocalAddr()}})

	for _, p := range []*Pool{seed, d1, co} {
		checkFor(t, 30*time.Second, func() error {
			ms := p.Members()
			alive := 0
			for _, m := range ms {
				if m.Alive() {
					alive++
				}
			}
			if alive != 3 {
				return fmt.Errorf("%s sees %d alive members: %+v", p.Name(), alive, ms)
			}
			return nil
		})
	}
	byName := map[string]Member{}
	for _, m := range seed.Members() {
		byName[m.Name] = m
	}
	d := byName["data-1"]
	if d.Role != RoleData || d.ID != "1" || d.APIAddr != "127.0.0.1:9001" || d.Rack != "r1" || d.Addr != d1.LocalAddr() {
		t.Fatalf("data-1 as seen by the seed: %+v (its addr %s)", d, d1.LocalAddr())
	}
	if id, ok := d.DataNodeID(); !ok || id != 1 {
		t.Fatalf("DataNodeID = %d, %v", id, ok)
	}
	if _, ok := byName["controller-c1"].DataNodeID(); ok {
		t.Fatal("a controller has no data node id")
	}
	if c := byName["coordinator-co-1"]; c.Role != RoleCoordinator || c.APIAddr != "127.0.0.1:9002" {
		t.Fatalf("coordinator: %+v", c)
	}
	if lm := d1.LocalMember(); lm.Name != "data-1" || lm.Rack != "r1" {
		t.Fatalf("local member %+v", lm)
	}
	waitEvent(t, seed, EventJoin, "coordinator-co-1", 30*time.Second)
}

func TestPoolDetectsFailureAndLeave(t *testing.T) {
	a := startPool(t, Config{Role: RoleController, ID: "a"})
	b := startPool(t, Config{Role: RoleData, ID: "2", Join: []string{a.LocalAddr()}})
	c := startPool(t, Config{Role: RoleData, ID: "3", Join: []string{a.LocalAddr()}})
	waitStatus(t, a, "data-2", StatusAlive)
	waitStatus(t, a, "data-3", StatusAlive)

	// A crash: no leave message, the others must detect it.
	killed := time.Now()
	if err := b.Shutdown(); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, a, EventFailed, "data-2", 30*time.Second)
	t.Logf("member-failed %v after the shutdown (typical for this profile: %v)", ev.At.Sub(killed), DefaultTiming().TypicalDetection(3))
	if statusOf(a, "data-2") != StatusFailed {
		t.Fatalf("data-2 is %q after member-failed", statusOf(a, "data-2"))
	}

	// A graceful stop: a leave, seen at once.
	if err := c.Leave(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, EventLeave, "data-3", 30*time.Second)
	if st := statusOf(a, "data-3"); st != StatusLeft {
		t.Fatalf("data-3 is %q after leave", st)
	}
}

func TestPoolDuplicateIDRejected(t *testing.T) {
	a := startPool(t, Config{Role: RoleController, ID: "a"})
	orig := startPool(t, Config{Role: RoleData, ID: "7", Join: []string{a.LocalAddr()}})
	waitStatus(t, a, "data-7", StatusAlive)

	_, err := New(Config{Role: RoleData, ID: "7", BindAddr: "127.0.0.1:0", Join: []string{a.LocalAddr()}, Logger: testLogger(t)})
	if !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("second data-7: err = %v, want ErrDuplicateID", err)
	}
	if !strings.Contains(err.Error(), "data-7") {
		t.Fatalf("error does not name the member: %v", err)
	}
	// The original is still the one registered, and alive.
	for _, m := range a.Members() {
		if m.Name == "data-7" && (m.Addr != orig.LocalAddr() || !m.Alive()) {
			t.Fatalf("data-7 as seen by a: %+v, original at %s", m, orig.LocalAddr())
		}
	}
	// The same id with another role is a different member.
	startPool(t, Config{Role: RoleCoordinator, ID: "7", Join: []string{a.LocalAddr()}})
	waitStatus(t, a, "coordinator-7", StatusAlive)
}

func TestPoolRestartOnNewAddressRejoins(t *testing.T) {
	a := startPool(t, Config{Role: RoleController, ID: "a"})
	b := startPool(t, Config{Role: RoleData, ID: "4", Join: []string{a.LocalAddr()}})
	waitStatus(t, a, "data-4", StatusAlive)
	old := b.LocalAddr()
	_ = b.Shutdown()
	waitStatus(t, a, "data-4", StatusFailed)

	var b2 *Pool
	checkFor(t, 30*time.Second, func() error {
		p, err := New(Config{Role: RoleData, ID: "4", BindAddr: "127.0.0.1:0", Join: []string{a.LocalAddr()}, Logger: testLogger(t)})
		if err != nil {
			return err
		}
		b2 = p
		return nil
	})
	t.Cleanup(func() { _ = b2.Shutdown() })
	checkFor(t, 30*time.Second, func() error {
		for _, m := range a.Members() {
			if m.Name == "data-4" {
				if m.Alive() && m.Addr == b2.LocalAddr() {
					return nil
				}
				return fmt.Errorf("data-4 is %s at %s (old %s, new %s)", m.Status, m.Addr, old, b2.LocalAddr())
			}
		}
		return errors.New("data-4 not listed")
	})
}

func TestPoolFalselyFailedMemberRejoins(t *testing.T) {
	a := startPool(t, Config{Role: RoleController, ID: "a"})
	startPool(t, Config{Role: RoleData, ID: "1", Join: []string{a.LocalAddr()}})
	var cut *cutTransport
	victim := startPool(t, Config{Role: RoleData, ID: "2", Join: []string{a.LocalAddr()},
		transport: func(inner transportCore) transportCore { cut = newCutTransport(inner); return cut }})
	waitStatus(t, a, "data-2", StatusAlive)
	waitStatus(t, victim, "data-1", StatusAlive)

	// Cut data-2 off: the others declare it failed although it runs.
	cut.cut.Store(true)
	waitEvent(t, a, EventFailed, "data-2", 30*time.Second)

	// Heal: data-2 learns it was declared dead, refutes, and rejoins.
	cut.cut.Store(false)
	waitEvent(t, a, EventJoin, "data-2", 60*time.Second)
	waitStatus(t, a, "data-2", StatusAlive)
	waitStatus(t, victim, "controller-a", StatusAlive)
	waitStatus(t, victim, "data-1", StatusAlive)
}

func TestPoolWrongKeyRejected(t *testing.T) {
	keyA := []byte("0123456789abcdef")
	keyB := []byte("fedcba9876543210")
	a := startPool(t, Config{Role: RoleController, ID: "a", Keys: [][]byte{keyA}})
	good := startPool(t, Config{Role: RoleData, ID: "1", Keys: [][]byte{keyA}, Join: []string{a.LocalAddr()}})
	waitStatus(t, a, "data-1", StatusAlive)
	_ = good

	for name, keys := range map[string][][]byte{"wrong key": {keyB}, "no key": nil} {
		t.Run(name, func(t *testing.T) {
			_, err := New(Config{Role: RoleData, ID: "9", BindAddr: "127.0.0.1:0", Keys: keys, Join: []string{a.LocalAddr()},
				Logger: testLogger(t), Timing: fastJoinTiming()})
			if err == nil {
				t.Fatal("join with a mismatched key succeeded")
			}
			if statusOf(a, "data-9") != "" {
				t.Fatalf("data-9 got registered: %q", statusOf(a, "data-9"))
			}
		})
	}

	// Rotation: a member whose primary key is B but that still knows A
	// joins a pool that knows both.
	if _, err := a.serf.KeyManager().InstallKey(EncodeKey(keyB)); err != nil {
		t.Fatal(err)
	}
	startPool(t, Config{Role: RoleData, ID: "3", Keys: [][]byte{keyB, keyA}, Join: []string{a.LocalAddr()}})
	waitStatus(t, a, "data-3", StatusAlive)
}

func fastJoinTiming() Timing {
	tm := DefaultTiming()
	tm.TCPTimeout = 2 * time.Second
	return tm
}

func TestPoolEventsDroppedAreCounted(t *testing.T) {
	slow := startPool(t, Config{Role: RoleController, ID: "slow", EventBuffer: 1})
	for i := 1; i <= 3; i++ {
		startPool(t, Config{Role: RoleData, ID: fmt.Sprint(i), Join: []string{slow.LocalAddr()}})
	}
	checkFor(t, 30*time.Second, func() error {
		if got := testutil.ToFloat64(slow.metrics.dropped); got < 1 {
			return fmt.Errorf("dropped = %v", got)
		}
		return nil
	})
	// The snapshot still has everyone: reconcile from Members.
	checkFor(t, 30*time.Second, func() error {
		var names []string
		for _, m := range slow.Members() {
			if m.Alive() {
				names = append(names, m.Name)
			}
		}
		sort.Strings(names)
		if strings.Join(names, ",") != "controller-slow,data-1,data-2,data-3" {
			return fmt.Errorf("members %v", names)
		}
		return nil
	})
}

func TestPoolShutdownClosesEvents(t *testing.T) {
	p := startPool(t, Config{Role: RoleData, ID: "1"})
	if err := p.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
	for range p.Events() {
	}
}

func TestKeyringFile(t *testing.T) {
	dir := t.TempDir()
	keys := [][]byte{[]byte("0123456789abcdef0123456789abcdef"), []byte("0123456789abcdef")}
	path := filepath.Join(dir, "keyring.json")
	if err := WriteKeyringFile(path, keys); err != nil {
		t.Fatal(err)
	}
	got, err := LoadKeyringFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0]) != string(keys[0]) || string(got[1]) != string(keys[1]) {
		t.Fatalf("keys %q", got)
	}
	for name, content := range map[string]string{
		"not json":   "abc",
		"empty":      "[]",
		"bad base64": `["%%%"]`,
		"short key":  `["` + EncodeKey([]byte("short")) + `"]`,
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKeyringFile(p); !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: err = %v, want ErrBadKey", name, err)
		}
	}
	if _, err := LoadKeyringFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestPoolRetryJoinInAnyOrder(t *testing.T) {
	// Reserve an address for the seed, start the joiner first.
	seedProbe := startPool(t, Config{Role: RoleController, ID: "probe"})
	seedAddr := seedProbe.LocalAddr()
	_ = seedProbe.Shutdown()

	joiner := startPool(t, Config{Role: RoleData, ID: "1", Join: []string{seedAddr}, RetryJoin: 50 * time.Millisecond})
	if _, err := New(Config{Role: RoleData, ID: "2", BindAddr: "127.0.0.1:0", Join: []string{seedAddr}, Logger: testLogger(t)}); err == nil {
		t.Fatal("a join without retry to a dead seed succeeded")
	}
	var seed *Pool
	checkFor(t, 30*time.Second, func() error {
		p, err := New(Config{Role: RoleController, ID: "seed", BindAddr: seedAddr, Logger: testLogger(t)})
		if err != nil {
			return err
		}
		seed = p
		return nil
	})
	t.Cleanup(func() { _ = seed.Shutdown() })
	waitStatus(t, seed, "data-1", StatusAlive)
	waitStatus(t, joiner, "controller-seed", StatusAlive)
}
