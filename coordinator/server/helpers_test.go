package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"strand.dev/client/wire"
	"strand.dev/coordinator/group"
)

// api is a minimal client of the group API for tests.
type api struct {
	addr string
	hc   *http.Client
}

func newAPI(addr string) *api { return &api{addr: addr, hc: &http.Client{Timeout: 30 * time.Second}} }

// call posts (or gets, with a nil body) and decodes the answer; a wire
// error comes back as *wire.Error.
func (a *api) call(path string, req, resp any) error {
	var r *http.Response
	var err error
	if req == nil {
		r, err = a.hc.Get("http://" + a.addr + path)
	} else {
		b, _ := json.Marshal(req)
		r, err = a.hc.Post("http://"+a.addr+path, wire.ContentTypeJSON, bytes.NewReader(b))
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

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testLogger logs to stderr at warn unless STRAND_TEST_LOG=debug.
func testLogger() *slog.Logger {
	lv := slog.LevelWarn
	if os.Getenv("STRAND_TEST_LOG") == "debug" {
		lv = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
}

// startStandaloneB is startStandalone for benchmarks.
func startStandaloneB(b *testing.B, data string) (*Server, *api, context.CancelFunc) {
	return startStandalone(b, data, func(c *Config) { c.Logger = slog.New(slog.DiscardHandler) })
}

// startStandalone runs a standalone coordinator against data.
func startStandalone(t testing.TB, data string, mod func(*Config)) (*Server, *api, context.CancelFunc) {
	t.Helper()
	cfg := Config{
		ID: "c1", Listen: "127.0.0.1:0", Standalone: true, DataAddrs: []string{data},
		OffsetsPartitions: 4, TickInterval: 10 * time.Millisecond,
		Group:  group.Config{MinSessionTimeout: 50 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond},
		Logger: testLogger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Run did not return")
		}
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(stop) })
	a := newAPI(s.Addr())
	a.hc.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
	// Serving once every partition answers something other than load in
	// progress / not coordinator.
	waitFor(t, 20*time.Second, "the coordinator to serve", func() bool {
		s.mu.RLock()
		defer s.mu.RUnlock()
		n := 0
		for _, pt := range s.parts {
			pt.mu.Lock()
			if pt.state == stateServing {
				n++
			}
			pt.mu.Unlock()
		}
		return n == int(s.numPartitions()) && n > 0
	})
	return s, a, func() { once.Do(stop) }
}

// member is a simulated well-behaved consumer: it long-polls heartbeats,
// commits in OnPartitionsRevoked, drops revoked partitions and takes
// assigned ones. Every change of what it holds goes through the shared
// ledger, which fails the test if two members ever hold one partition.
type member struct {
	t      *testing.T
	a      *api
	group  string
	id     string
	inst   string
	topics []string
	ledger *ledger

	mu    sync.Mutex
	owned map[group.TopicPartition]bool
	gen   int32
	err   error

	stop   chan struct{}
	done   chan struct{}
	polled func() time.Time // last poll; nil means now
	waitMs int32            // long-poll wait of heartbeats (default 200)
}

// ledger is who holds what, across members.
type ledger struct {
	t       *testing.T
	mu      sync.Mutex
	holder  map[group.TopicPartition]string
	changes int
}

func newLedger(t *testing.T) *ledger {
	return &ledger{t: t, holder: map[group.TopicPartition]string{}}
}

func (l *ledger) take(id string, tp group.TopicPartition) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.holder[tp]; ok && h != id {
		l.t.Errorf("%v taken by %s while %s holds it", tp, id, h)
	}
	l.holder[tp] = id
	l.changes++
}

func (l *ledger) drop(id string, tp group.TopicPartition) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holder[tp] == id {
		delete(l.holder, tp)
	}
	l.changes++
}

func (l *ledger) counts() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for _, id := range l.holder {
		out[id]++
	}
	return out
}

func (l *ledger) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.holder)
}

func newMember(t *testing.T, a *api, l *ledger, groupID, id string, topics ...string) *member {
	return &member{t: t, a: a, group: groupID, id: id, topics: topics, ledger: l,
		owned: map[group.TopicPartition]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
}

func (m *member) ownedWire() []wire.TopicPartitions {
	var tps []group.TopicPartition
	for tp := range m.owned {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool { return tps[i].Compare(tps[j]) < 0 })
	return group.ToWire(tps)
}

// apply acts on an answer: commit what is revoked, drop it, take what is
// assigned.
func (m *member) apply(ans wire.MemberAssignment) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen = ans.Generation
	if len(ans.Revoke) > 0 {
		var offs []wire.OffsetCommit
		for _, tp := range group.FromWire(ans.Revoke) {
			if m.owned[tp] {
				offs = append(offs, wire.OffsetCommit{Topic: tp.Topic, Partition: tp.Partition, Offset: int64(100 + tp.Partition), LeaderEpoch: -1})
			}
		}
		if len(offs) > 0 {
			var cr wire.OffsetCommitResponse
			if err := m.a.call(wire.PathGroupCommit, wire.OffsetCommitRequest{GroupID: m.group, MemberID: m.id, GroupInstanceID: m.inst, Generation: m.gen, Offsets: offs}, &cr); err != nil {
				m.t.Errorf("%s: commit in OnPartitionsRevoked: %v", m.id, err)
			}
		}
		for _, tp := range group.FromWire(ans.Revoke) {
			if m.owned[tp] {
				delete(m.owned, tp)
				m.ledger.drop(m.id, tp)
			}
		}
	}
	for _, tp := range group.FromWire(ans.Assigned) {
		if !m.owned[tp] {
			m.owned[tp] = true
			m.ledger.take(m.id, tp)
		}
	}
}

// join joins and starts the heartbeat loop.
func (m *member) join(sessionMs int32) error {
	var ans wire.MemberAssignment
	err := m.a.call(wire.PathGroupJoin, wire.JoinGroupRequest{GroupID: m.group, MemberID: m.id, GroupInstanceID: m.inst, Topics: m.topics,
		SessionTimeoutMs: sessionMs, RebalanceTimeoutMs: 10000}, &ans)
	if err != nil {
		return err
	}
	m.id = ans.MemberID
	m.apply(ans)
	go m.loop()
	return nil
}

func (m *member) loop() {
	defer close(m.done)
	for {
		select {
		case <-m.stop:
			return
		default:
		}
		m.mu.Lock()
		req := wire.HeartbeatRequest{GroupID: m.group, MemberID: m.id, GroupInstanceID: m.inst, Generation: m.gen, Owned: m.ownedWire(), MaxWaitMs: 200}
		if m.waitMs > 0 {
			req.MaxWaitMs = m.waitMs
		}
		if m.polled != nil {
			req.PollAgeMs = time.Since(m.polled()).Milliseconds()
		}
		m.mu.Unlock()
		var ans wire.MemberAssignment
		if err := m.a.call(wire.PathGroupHeartbeat, req, &ans); err != nil {
			m.mu.Lock()
			m.err = err
			for tp := range m.owned {
				delete(m.owned, tp)
				m.ledger.drop(m.id, tp)
			}
			m.mu.Unlock()
			return
		}
		m.apply(ans)
	}
}

// leave stops the loop and leaves the group.
func (m *member) leave() error {
	close(m.stop)
	<-m.done
	m.mu.Lock()
	for tp := range m.owned {
		delete(m.owned, tp)
		m.ledger.drop(m.id, tp)
	}
	m.mu.Unlock()
	return m.a.call(wire.PathGroupLeave, wire.LeaveGroupRequest{GroupID: m.group, MemberID: m.id, GroupInstanceID: m.inst, Reason: "test"}, nil)
}

// halt stops heartbeating without leaving (a crash).
func (m *member) halt() {
	close(m.stop)
	<-m.done
}

func (m *member) lastErr() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

func isCode(err error, c wire.Code) bool { return errors.Is(err, &wire.Error{Code: c}) }

func mustCode(t *testing.T, err error, c wire.Code) {
	t.Helper()
	if !isCode(err, c) {
		t.Fatalf("error %v, want %s", err, c)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
