package group

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"strand.dev/client/wire"
)

// sim drives a Group with simulated, well-behaved clients and an injected
// clock, and checks the invariants after every step.
type sim struct {
	t       *testing.T
	g       *Group
	now     time.Time
	clients map[string]*simClient
	nextID  int
	// revoked counts revocations per partition since the last reset.
	revoked map[TopicPartition]int
	// keep are partitions each client must hold throughout the current
	// settle (they do not move).
	keep map[string]tpSet
}

type simClient struct {
	id    string
	inst  string
	owned tpSet
	gen   int32
}

func newSim(t *testing.T, cfg Config) *sim {
	t.Helper()
	s := &sim{t: t, now: time.Unix(1_700_000_000, 0), clients: map[string]*simClient{}, revoked: map[TopicPartition]int{}}
	cfg.NewMemberID = func() string { s.nextID++; return fmt.Sprintf("gen-%d", s.nextID) }
	s.g = New("g", cfg, s.now)
	return s
}

func (s *sim) advance(d time.Duration) { s.now = s.now.Add(d) }

func (s *sim) topics(counts map[string]int32) { s.g.UpdateTopics(s.now, counts) }

func (s *sim) join(id, inst string, topics ...string) Assignment {
	s.t.Helper()
	a, err := s.g.Join(s.now, JoinArgs{JoinGroupRequest: wire.JoinGroupRequest{
		GroupID: "g", MemberID: id, GroupInstanceID: inst, Topics: topics,
		SessionTimeoutMs: 10000, RebalanceTimeoutMs: 30000,
	}})
	if err != nil {
		s.t.Fatalf("join %s: %v", id, err)
	}
	c := &simClient{id: a.MemberID, inst: inst, owned: tpSet{}}
	s.clients[a.MemberID] = c
	s.apply(c, a)
	s.check()
	return a
}

// apply acts on an answer like a correct client: commit and drop what is
// revoked, take what is assigned.
func (s *sim) apply(c *simClient, a Assignment) {
	s.t.Helper()
	rev := FromWire(a.Revoke)
	if len(rev) > 0 {
		owned := slices.DeleteFunc(slices.Clone(rev), func(tp TopicPartition) bool { return !c.owned.has(tp) })
		if err := s.g.CheckCommit(c.id, c.inst, c.gen, owned); err != nil {
			s.t.Fatalf("commit of revoked partitions %v by %s rejected: %v", owned, c.id, err)
		}
	}
	for _, tp := range rev {
		if k := s.keep[c.id]; k.has(tp) {
			s.t.Fatalf("%s was told to revoke %v, which does not move", c.id, tp)
		}
		if c.owned.has(tp) {
			s.revoked[tp]++
		}
		delete(c.owned, tp)
	}
	for _, tp := range FromWire(a.Assigned) {
		c.owned[tp] = struct{}{}
	}
	c.gen = a.Generation
}

func (s *sim) heartbeat(id string) (Assignment, error) {
	c := s.clients[id]
	a, err := s.g.Heartbeat(s.now, wire.HeartbeatRequest{
		GroupID: "g", MemberID: id, GroupInstanceID: c.inst, Generation: c.gen, Owned: ToWire(c.owned.sorted()),
	})
	if err == nil {
		s.apply(c, a)
	}
	s.check()
	return a, err
}

// settle heartbeats every client until the group is stable.
func (s *sim) settle() {
	s.t.Helper()
	for round := 0; round < 10; round++ {
		for _, id := range slices.Sorted(mapsKeys(s.clients)) {
			if _, err := s.heartbeat(id); err != nil {
				s.t.Fatalf("heartbeat %s: %v", id, err)
			}
		}
		if s.g.State() != wire.GroupStateReconciling {
			return
		}
	}
	s.t.Fatalf("group did not settle: %+v", s.g.Describe(s.now))
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// check asserts the safety invariants: no partition held by two clients, a
// client holds only what the coordinator gave it, and the target covers every
// partition exactly once. Clients the group expelled or fenced (zombies that
// have not heard yet) are left out: their commits are what CheckCommit
// refuses.
func (s *sim) check() {
	s.t.Helper()
	held := map[TopicPartition]string{}
	for id, c := range s.clients {
		if _, member := s.g.members[id]; !member {
			continue
		}
		for tp := range c.owned {
			if o, dup := held[tp]; dup {
				s.t.Fatalf("%v held by %s and %s", tp, o, id)
			}
			held[tp] = id
			if s.g.owner[tp] != id {
				s.t.Fatalf("%s holds %v but the coordinator says %q owns it", id, tp, s.g.owner[tp])
			}
		}
	}
	if len(s.g.members) == 0 {
		return
	}
	covered := map[TopicPartition]int{}
	for _, tpl := range s.g.target {
		for _, tp := range tpl {
			covered[tp]++
		}
	}
	for topic, n := range s.g.partitions {
		for p := int32(0); p < n; p++ {
			if c := covered[TopicPartition{Topic: topic, Partition: p}]; c != 1 {
				s.t.Fatalf("generation %d: %s-%d is in the target %d times", s.g.generation, topic, p, c)
			}
		}
	}
}

func (s *sim) counts() map[string]int {
	out := map[string]int{}
	for id, c := range s.clients {
		out[id] = len(c.owned)
	}
	return out
}

// TestJoinLeaveOneAtATime is the property: 12 partitions, members
// joining and leaving one at a time. In every generation the target covers
// each partition exactly once, no partition is ever held by two members,
// partitions that do not move are never revoked, and a join moves only the
// partitions the newcomer gets while a leave moves only the leaver's.
func TestJoinLeaveOneAtATime(t *testing.T) {
	for _, assignor := range []string{wire.AssignorCooperativeSticky, wire.AssignorRange, wire.AssignorRoundRobin} {
		t.Run(assignor, func(t *testing.T) {
			s := newSim(t, Config{MinSessionTimeout: time.Second})
			s.topics(map[string]int32{"t": 12})
			joinOne := func(id string) {
				before := s.snapshotOwned()
				a, err := s.g.Join(s.now, JoinArgs{JoinGroupRequest: wire.JoinGroupRequest{
					GroupID: "g", MemberID: id, Topics: []string{"t"}, Assignors: []string{assignor},
					SessionTimeoutMs: 10000, RebalanceTimeoutMs: 30000,
				}})
				if err != nil {
					t.Fatal(err)
				}
				s.clients[id] = &simClient{id: id, owned: tpSet{}}
				s.keepUnmoved(before)
				s.revoked = map[TopicPartition]int{}
				s.apply(s.clients[id], a)
				s.check()
				s.settle()
				if assignor == wire.AssignorCooperativeSticky {
					// Exactly the newcomer's partitions were revoked from others.
					if got, want := len(s.revoked), len(s.clients[id].owned); len(before) > 0 && got != want {
						t.Fatalf("join %s: %d partitions revoked, the newcomer holds %d", id, got, want)
					}
				}
				s.checkBalanced()
			}
			leaveOne := func(id string) {
				before := s.snapshotOwned()
				delete(before, id)
				if _, err := s.g.Leave(s.now, id, ""); err != nil {
					t.Fatal(err)
				}
				delete(s.clients, id)
				s.keepUnmoved(before)
				s.revoked = map[TopicPartition]int{}
				s.check()
				s.settle()
				if assignor == wire.AssignorCooperativeSticky && len(s.revoked) != 0 {
					t.Fatalf("leave %s: %d partitions revoked from the others, want 0", id, len(s.revoked))
				}
				s.checkBalanced()
			}
			for i := range 8 {
				joinOne(fmt.Sprintf("m%d", i))
			}
			for _, i := range []int{3, 0, 7, 5, 1, 2, 6} {
				leaveOne(fmt.Sprintf("m%d", i))
			}
			if got := len(s.clients["m4"].owned); got != 12 {
				t.Fatalf("the last member holds %d partitions, want 12", got)
			}
		})
	}
}

// snapshotOwned copies every client's holdings.
func (s *sim) snapshotOwned() map[string]tpSet {
	out := map[string]tpSet{}
	for id, c := range s.clients {
		out[id] = newSet(c.owned.sorted())
	}
	return out
}

// keepUnmoved records, per client, the partitions that the new target leaves
// with it: they must never be revoked while the group settles.
func (s *sim) keepUnmoved(before map[string]tpSet) {
	s.keep = map[string]tpSet{}
	for id, had := range before {
		target := newSet(s.g.target[id])
		k := tpSet{}
		for tp := range had {
			if target.has(tp) {
				k[tp] = struct{}{}
			}
		}
		s.keep[id] = k
	}
}

func (s *sim) checkBalanced() {
	s.t.Helper()
	lo, hi := 1<<30, 0
	for _, n := range s.counts() {
		lo, hi = min(lo, n), max(hi, n)
	}
	if hi-lo > 1 {
		s.t.Fatalf("unbalanced after settling: %v", s.counts())
	}
	if s.g.State() != wire.GroupStateStable {
		s.t.Fatalf("state %s after settling", s.g.State())
	}
}

// TestPartitionWaitsForRevocation: a partition that moves is not granted to
// its new owner until the old owner confirms the revocation.
func TestPartitionWaitsForRevocation(t *testing.T) {
	s := newSim(t, Config{MinSessionTimeout: time.Second})
	s.topics(map[string]int32{"t": 2})
	s.join("a", "", "t")
	if n := len(s.clients["a"].owned); n != 2 {
		t.Fatalf("a holds %d, want 2", n)
	}
	b := s.join("b", "", "t")
	if len(b.Assigned) != 0 {
		t.Fatalf("b was granted %v while a still holds everything", b.Assigned)
	}
	if !b.Reconciling {
		t.Fatal("answer does not say the group is reconciling")
	}
	// b heartbeats again before a revoked: still nothing.
	if a, _ := s.heartbeat("b"); len(a.Assigned) != 0 {
		t.Fatalf("b granted %v before a's revocation", a.Assigned)
	}
	// a is told to revoke one partition and keeps the other.
	c := s.clients["a"]
	ans, err := s.g.Heartbeat(s.now, wire.HeartbeatRequest{GroupID: "g", MemberID: "a", Generation: c.gen, Owned: ToWire(c.owned.sorted())})
	if err != nil {
		t.Fatal(err)
	}
	if got := FromWire(ans.Revoke); len(got) != 1 {
		t.Fatalf("a told to revoke %v, want one partition", got)
	}
	if got := FromWire(ans.Assigned); len(got) != 1 {
		t.Fatalf("a keeps %v, want one partition", got)
	}
	// Until a confirms, the revoked partition still belongs to a.
	moving := FromWire(ans.Revoke)[0]
	if s.g.Owner(moving) != "a" {
		t.Fatalf("owner of %v is %q before confirmation", moving, s.g.Owner(moving))
	}
	s.apply(c, ans)
	s.heartbeat("a") // confirms
	if o := s.g.Owner(moving); o != "" {
		t.Fatalf("owner of %v is %q after confirmation, want free", moving, o)
	}
	got, _ := s.heartbeat("b")
	if tps := FromWire(got.Assigned); len(tps) != 1 || tps[0] != moving {
		t.Fatalf("b assigned %v, want [%v]", tps, moving)
	}
	if s.g.State() != wire.GroupStateStable {
		t.Fatalf("state %s", s.g.State())
	}
}

func TestExpiry(t *testing.T) {
	t.Run("max.poll.interval reported by the member", func(t *testing.T) {
		s := newSim(t, Config{MinSessionTimeout: time.Second})
		s.topics(map[string]int32{"t": 4})
		s.join("a", "", "t")
		s.join("b", "", "t")
		s.settle()
		gen := s.g.Generation()
		// a keeps heartbeating (its heartbeat thread runs) but stops polling.
		for age := time.Duration(0); age <= 30*time.Second; age += 5 * time.Second {
			s.advance(5 * time.Second)
			c := s.clients["a"]
			_, err := s.g.Heartbeat(s.now, wire.HeartbeatRequest{GroupID: "g", MemberID: "a", Generation: c.gen, Owned: ToWire(c.owned.sorted()), PollAgeMs: (age + 5*time.Second).Milliseconds()})
			s.heartbeat("b")
			if age+5*time.Second <= 30*time.Second {
				if err != nil {
					t.Fatalf("poll age %v: %v", age+5*time.Second, err)
				}
				continue
			}
			if !errors.Is(err, wire.ErrUnknownMember) {
				t.Fatalf("poll age %v: err %v, want UNKNOWN_MEMBER_ID", age+5*time.Second, err)
			}
		}
		if _, ok := s.g.members["a"]; ok {
			t.Fatal("a is still a member")
		}
		if s.g.Generation() <= gen {
			t.Fatal("expulsion did not start a generation")
		}
		delete(s.clients, "a")
		s.settle()
		if n := len(s.clients["b"].owned); n != 4 {
			t.Fatalf("b holds %d after a's expulsion, want 4", n)
		}
	})
	t.Run("max.poll.interval seen by Tick between heartbeats", func(t *testing.T) {
		s := newSim(t, Config{MinSessionTimeout: time.Second})
		s.topics(map[string]int32{"t": 4})
		s.join("a", "", "t")
		s.advance(9 * time.Second)
		c := s.clients["a"]
		if _, err := s.g.Heartbeat(s.now, wire.HeartbeatRequest{GroupID: "g", MemberID: "a", Generation: c.gen, Owned: ToWire(c.owned.sorted()), PollAgeMs: 25000}); err != nil {
			t.Fatal(err)
		}
		s.advance(4 * time.Second)
		if ex := s.g.Tick(s.now); len(ex) != 0 {
			t.Fatalf("expelled %v at poll age 29s", ex)
		}
		s.advance(2 * time.Second)
		ex := s.g.Tick(s.now)
		if len(ex) != 1 || ex[0].MemberID != "a" || ex[0].Reason != "max.poll.interval.ms exceeded" {
			t.Fatalf("Tick = %+v", ex)
		}
		if s.g.State() != wire.GroupStateEmpty || s.g.EmptySince() != s.now {
			t.Fatalf("state %s, empty since %v", s.g.State(), s.g.EmptySince())
		}
	})
	t.Run("session timeout", func(t *testing.T) {
		s := newSim(t, Config{MinSessionTimeout: time.Second})
		s.topics(map[string]int32{"t": 4})
		s.join("a", "", "t")
		s.join("b", "", "t")
		s.settle()
		for range 3 {
			s.advance(4 * time.Second)
			s.heartbeat("b")
			if ex := s.g.Tick(s.now); len(ex) > 0 && s.now.Sub(time.Unix(1_700_000_000, 0)) <= 10*time.Second {
				t.Fatalf("expelled early: %+v", ex)
			}
		}
		if _, ok := s.g.members["a"]; ok {
			t.Fatal("a survived its session timeout")
		}
		if _, ok := s.g.members["b"]; !ok {
			t.Fatal("b was expelled")
		}
		if _, err := s.heartbeat("a"); !errors.Is(err, wire.ErrUnknownMember) {
			t.Fatalf("heartbeat of an expelled member: %v", err)
		}
	})
	t.Run("revocation not confirmed", func(t *testing.T) {
		s := newSim(t, Config{MinSessionTimeout: time.Second})
		s.topics(map[string]int32{"t": 4})
		s.join("a", "", "t")
		s.join("b", "", "t")
		// a is told to revoke but keeps reporting the partitions.
		stubborn := func() error {
			_, err := s.g.Heartbeat(s.now, wire.HeartbeatRequest{GroupID: "g", MemberID: "a", Generation: s.g.Generation(),
				Owned: []wire.TopicPartitions{{Topic: "t", Partitions: []int32{0, 1, 2, 3}}}})
			return err
		}
		for range 7 {
			if err := stubborn(); err != nil {
				t.Fatal(err)
			}
			s.heartbeat("b")
			s.g.Tick(s.now)
			s.advance(5 * time.Second)
		}
		s.g.Tick(s.now)
		if _, ok := s.g.members["a"]; ok {
			t.Fatal("a kept partitions past the rebalance timeout and was not expelled")
		}
	})
}

func TestStaticMembership(t *testing.T) {
	s := newSim(t, Config{MinSessionTimeout: time.Second})
	s.topics(map[string]int32{"t": 6})
	s.join("a1", "inst-a", "t")
	s.join("b", "", "t")
	s.settle()
	gen := s.g.Generation()
	had := s.clients["a1"].owned.sorted()
	old := s.clients["a1"]
	// The process restarts: a new member id with the same instance id.
	a := s.join("a2", "inst-a", "t")
	if s.g.Generation() != gen {
		t.Fatalf("a static restart started generation %d (was %d)", s.g.Generation(), gen)
	}
	if got := FromWire(a.Assigned); !slices.Equal(got, had) {
		t.Fatalf("restarted member got %v, the old one had %v", got, had)
	}
	// The old process is fenced everywhere (its view is dropped from the
	// simulation: the new process holds the partitions now).
	delete(s.clients, "a1")
	if _, err := s.g.Heartbeat(s.now, wire.HeartbeatRequest{GroupID: "g", MemberID: "a1", GroupInstanceID: "inst-a", Generation: old.gen}); !errors.Is(err, wire.ErrFencedInstanceID) {
		t.Fatalf("old member heartbeat: %v, want FENCED_INSTANCE_ID", err)
	}
	if err := s.g.CheckCommit("a1", "inst-a", old.gen, had); !errors.Is(err, wire.ErrFencedInstanceID) {
		t.Fatalf("old member commit: %v, want FENCED_INSTANCE_ID", err)
	}
	if err := s.g.CheckCommit("a2", "inst-a", s.g.Generation(), had); err != nil {
		t.Fatalf("new member commit: %v", err)
	}
	if _, err := s.g.Leave(s.now, "a1", "inst-a"); !errors.Is(err, wire.ErrFencedInstanceID) {
		t.Fatalf("old member leave: %v", err)
	}
	s.check()
}

func TestCommitChecks(t *testing.T) {
	s := newSim(t, Config{MinSessionTimeout: time.Second})
	s.topics(map[string]int32{"t": 4})
	s.join("a", "", "t")
	genA := s.clients["a"].gen
	t0 := TopicPartition{Topic: "t", Partition: 0}
	if err := s.g.CheckCommit("", "", -1, []TopicPartition{t0}); !errors.Is(err, wire.ErrUnknownMember) {
		t.Fatalf("outside commit into a non-empty group: %v", err)
	}
	s.join("b", "", "t")
	s.settle()
	ownerOf0 := s.g.Owner(t0)
	other := "a"
	if ownerOf0 == "a" {
		other = "b"
	}
	tests := []struct {
		name   string
		member string
		inst   string
		gen    int32
		tps    []TopicPartition
		want   error
	}{
		{"owner at current generation", ownerOf0, "", s.g.Generation(), []TopicPartition{t0}, nil},
		{"owner at its join generation", "a", "", genA, FromWire(ToWire(s.clients["a"].owned.sorted())), nil},
		{"partition owned by another member", other, "", s.g.Generation(), []TopicPartition{t0}, wire.ErrIllegalGeneration},
		{"future generation", ownerOf0, "", s.g.Generation() + 1, []TopicPartition{t0}, wire.ErrIllegalGeneration},
		{"before the member joined", "b", "", genA, nil, wire.ErrIllegalGeneration},
		{"unknown member", "zombie", "", s.g.Generation(), []TopicPartition{t0}, wire.ErrUnknownMember},
		{"no generation from a member", "a", "", -1, nil, wire.ErrIllegalGeneration},
		{"instance id of nobody", "a", "inst", s.g.Generation(), nil, wire.ErrFencedInstanceID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.g.CheckCommit(tt.member, tt.inst, tt.gen, tt.tps)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("CheckCommit = %v, want %v", err, tt.want)
			}
		})
	}
	// After both leave, an outside commit is accepted.
	s.g.Leave(s.now, "a", "")
	s.g.Leave(s.now, "b", "")
	if err := s.g.CheckCommit("", "", -1, []TopicPartition{t0}); err != nil {
		t.Fatalf("outside commit into an empty group: %v", err)
	}
}

// TestBadJoins: clear errors, group state unchanged.
func TestBadJoins(t *testing.T) {
	s := newSim(t, Config{MinSessionTimeout: time.Second, MaxSessionTimeout: time.Minute, MaxMembers: 2})
	s.topics(map[string]int32{"t": 4})
	s.join("a", "", "t")
	tests := []struct {
		name string
		req  wire.JoinGroupRequest
		want error
	}{
		{"unsupported assignor", wire.JoinGroupRequest{Topics: []string{"t"}, Assignors: []string{"sticky-ish"}}, wire.ErrInconsistentGroupProtocol},
		{"assignor the group does not use", wire.JoinGroupRequest{Topics: []string{"t"}, Assignors: []string{wire.AssignorRange}}, wire.ErrInconsistentGroupProtocol},
		{"no topics", wire.JoinGroupRequest{}, wire.ErrInvalidRequest},
		{"bad topic name", wire.JoinGroupRequest{Topics: []string{"a b"}}, &wire.Error{Code: wire.CodeInvalidTopic}},
		{"session timeout too short", wire.JoinGroupRequest{Topics: []string{"t"}, SessionTimeoutMs: 10}, wire.ErrInvalidRequest},
		{"session timeout too long", wire.JoinGroupRequest{Topics: []string{"t"}, SessionTimeoutMs: 3_600_000}, wire.ErrInvalidRequest},
		{"negative rebalance timeout", wire.JoinGroupRequest{Topics: []string{"t"}, RebalanceTimeoutMs: -1}, wire.ErrInvalidRequest},
		{"known member changes instance id", wire.JoinGroupRequest{MemberID: "a", GroupInstanceID: "x", Topics: []string{"t"}}, wire.ErrFencedInstanceID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, v := s.g.Snapshot(), s.g.Version()
			tt.req.GroupID = "g"
			_, err := s.g.Join(s.now, JoinArgs{JoinGroupRequest: tt.req})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Join = %v, want %v", err, tt.want)
			}
			if s.g.Version() != v || fmt.Sprint(s.g.Snapshot()) != fmt.Sprint(before) {
				t.Fatal("a rejected join changed the group")
			}
		})
	}
	s.join("b", "", "t")
	if _, err := s.g.Join(s.now, JoinArgs{JoinGroupRequest: wire.JoinGroupRequest{GroupID: "g", Topics: []string{"t"}}}); !errors.Is(err, wire.ErrInvalidRequest) {
		t.Fatalf("join into a full group: %v", err)
	}
}

func TestAssignorChoice(t *testing.T) {
	s := newSim(t, Config{MinSessionTimeout: time.Second})
	s.topics(map[string]int32{"t": 4})
	j := func(id string, as ...string) error {
		_, err := s.g.Join(s.now, JoinArgs{JoinGroupRequest: wire.JoinGroupRequest{GroupID: "g", MemberID: id, Topics: []string{"t"}, Assignors: as}})
		return err
	}
	if err := j("a", wire.AssignorRange, wire.AssignorCooperativeSticky); err != nil {
		t.Fatal(err)
	}
	if s.g.Assignor() != wire.AssignorRange {
		t.Fatalf("assignor %s", s.g.Assignor())
	}
	if err := j("b", wire.AssignorCooperativeSticky); err != nil {
		t.Fatal(err)
	}
	if s.g.Assignor() != wire.AssignorCooperativeSticky {
		t.Fatalf("assignor %s, want the one both support", s.g.Assignor())
	}
	if err := j("c", wire.AssignorRange); !errors.Is(err, wire.ErrInconsistentGroupProtocol) {
		t.Fatalf("join with range only: %v", err)
	}
}

func TestTopicGrowthRebalances(t *testing.T) {
	s := newSim(t, Config{MinSessionTimeout: time.Second})
	s.topics(map[string]int32{"t": 2})
	s.join("a", "", "t", "u") // u does not exist yet
	s.join("b", "", "t", "u")
	s.settle()
	gen := s.g.Generation()
	if changed := s.g.UpdateTopics(s.now, map[string]int32{"t": 2, "other": 9}); changed {
		t.Fatal("an unsubscribed topic started a generation")
	}
	if changed := s.g.UpdateTopics(s.now, map[string]int32{"t": 2, "u": 4}); !changed || s.g.Generation() != gen+1 {
		t.Fatal("a new subscribed topic did not start a generation")
	}
	s.settle()
	if total := s.counts()["a"] + s.counts()["b"]; total != 6 {
		t.Fatalf("%d partitions held after growth, want 6", total)
	}
	// The topic is deleted: its partitions are revoked.
	s.g.UpdateTopics(s.now, map[string]int32{"t": 2})
	s.settle()
	if total := s.counts()["a"] + s.counts()["b"]; total != 2 {
		t.Fatalf("%d partitions held after deletion, want 2", total)
	}
}

func TestExtraPartitionsAreRevoked(t *testing.T) {
	s := newSim(t, Config{MinSessionTimeout: time.Second})
	s.topics(map[string]int32{"t": 2})
	s.join("a", "", "t")
	a, err := s.g.Heartbeat(s.now, wire.HeartbeatRequest{GroupID: "g", MemberID: "a", Generation: s.g.Generation(),
		Owned: []wire.TopicPartitions{{Topic: "t", Partitions: []int32{0, 1}}, {Topic: "x", Partitions: []int32{5}}}})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a.Revoke) != fmt.Sprint([]wire.TopicPartitions{{Topic: "x", Partitions: []int32{5}}}) {
		t.Fatalf("revoke %v, want x-5", a.Revoke)
	}
}

func TestSnapshotRestore(t *testing.T) {
	s := newSim(t, Config{MinSessionTimeout: time.Second})
	s.topics(map[string]int32{"t": 6})
	s.join("a", "inst-a", "t")
	s.join("b", "", "t")
	s.settle()
	s.join("c", "", "t") // mid-rebalance: a and b have revocations pending
	snap := s.g.Snapshot()
	r := Restore(snap, Config{MinSessionTimeout: time.Second}, s.now)
	if fmt.Sprint(r.Snapshot()) != fmt.Sprint(snap) {
		t.Fatalf("restore is not faithful:\n%+v\n%+v", r.Snapshot(), snap)
	}
	r.UpdateTopics(s.now, map[string]int32{"t": 6})
	if r.Generation() != snap.Generation {
		t.Fatal("restoring with the same topics started a generation")
	}
	s.g = r
	s.settle()
	s.checkBalanced()
	if err := r.CheckCommit("a", "inst-a", r.Generation(), s.clients["a"].owned.sorted()); err != nil {
		t.Fatalf("commit after restore: %v", err)
	}
}

func TestRestoreRepairsDoubleOwnership(t *testing.T) {
	tp := TopicPartition{Topic: "t", Partition: 0}
	snap := Snapshot{GroupID: "g", Assignor: wire.AssignorCooperativeSticky, Generation: 3, Partitions: map[string]int32{"t": 1},
		Members: []MemberSnapshot{
			{MemberID: "a", Topics: []string{"t"}, Assignors: []string{wire.AssignorCooperativeSticky}, SessionTimeoutMs: 10000, RebalanceTimeoutMs: 10000, JoinGeneration: 1, Owned: []TopicPartition{tp}, Target: []TopicPartition{tp}},
			{MemberID: "b", Topics: []string{"t"}, Assignors: []string{wire.AssignorCooperativeSticky}, SessionTimeoutMs: 10000, RebalanceTimeoutMs: 10000, JoinGeneration: 2, Owned: []TopicPartition{tp}},
		}}
	g := Restore(snap, Config{}, time.Unix(0, 0))
	if g.Owner(tp) != "a" {
		t.Fatalf("owner %q", g.Owner(tp))
	}
	a, err := g.Heartbeat(time.Unix(0, 0), wire.HeartbeatRequest{GroupID: "g", MemberID: "b", Generation: 3, Owned: ToWire([]TopicPartition{tp})})
	if err != nil || len(a.Revoke) != 1 {
		t.Fatalf("b answer %+v %v, want t-0 revoked", a, err)
	}
}
