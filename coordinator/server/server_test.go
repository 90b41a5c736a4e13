package server

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
	"strand.dev/coordinator/group"
	"strand.dev/coordinator/offsets"
)

func TestCreatesOffsetsTopicAndServes(t *testing.T) {
	data := newFakeData(t)
	s, a, _ := startStandalone(t, data.addr, nil)
	data.mu.Lock()
	tp := data.topics[wire.OffsetsTopic]
	data.mu.Unlock()
	if tp == nil || len(tp.parts) != 4 || tp.configs["cleanup.policy"] != "compact" {
		t.Fatalf("offsets topic %+v", tp)
	}
	var fc wire.FindCoordinatorResponse
	if err := a.call(wire.PathGroupCoordinator+"?group=g1", nil, &fc); err != nil {
		t.Fatal(err)
	}
	if fc.Addr != s.Addr() || fc.Partition != wire.OffsetsPartitionFor("g1", 4) || fc.Epoch < 1 {
		t.Fatalf("find coordinator %+v", fc)
	}
	mustCode(t, a.call(wire.PathGroupCoordinator+"?group=", nil, nil), wire.CodeInvalidRequest)
	if err := a.call(wire.PathHealth, nil, nil); err != nil {
		t.Fatalf("healthz: %v", err)
	}
	r, err := a.hc.Get("http://" + s.Addr() + wire.PathMetrics)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("metrics: %v", err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !strings.Contains(string(body), "strand_coordinator_offsets_partitions") {
		t.Fatal("metrics lack the coordinator's gauges")
	}
}

// TestOffsetsTopicWaitsForRegisteredNodes: with data nodes registered but
// down (fenced), the coordinator waits for them before it creates
// __consumer_offsets, so the topic gets its full replication factor; when
// they stay down past OffsetsCreateWait it creates the topic with the live
// nodes only.
func TestOffsetsTopicWaitsForRegisteredNodes(t *testing.T) {
	fenced := []wire.NodeInfo{{ID: 2, Addr: "127.0.0.1:1", Fenced: true}, {ID: 3, Addr: "127.0.0.1:1", Fenced: true}}
	for _, tc := range []struct {
		name         string
		unfenceAfter int // metadata requests before nodes 2 and 3 come up; 0: never
		wait         time.Duration
		wantRF       int16
	}{
		{"nodes come up", 5, time.Minute, 3},
		{"nodes stay down", 0, 300 * time.Millisecond, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := newFakeData(t)
			data.mu.Lock()
			data.moreNodes = append([]wire.NodeInfo(nil), fenced...)
			data.unfenceAfter = tc.unfenceAfter
			data.mu.Unlock()
			start := time.Now()
			startStandalone(t, data.addr, func(c *Config) { c.OffsetsCreateWait = tc.wait })
			data.mu.Lock()
			rf, calls := data.createRF[wire.OffsetsTopic], data.metadataCalls
			data.mu.Unlock()
			if rf != tc.wantRF {
				t.Fatalf("offsets topic created with replication factor %d, want %d", rf, tc.wantRF)
			}
			if tc.unfenceAfter > 0 && calls < tc.unfenceAfter {
				t.Fatalf("created after %d metadata requests, before the nodes came up (%d)", calls, tc.unfenceAfter)
			}
			if tc.unfenceAfter == 0 && time.Since(start) < tc.wait {
				t.Fatalf("created after %v, before the wait of %v ran out", time.Since(start), tc.wait)
			}
		})
	}
}

// TestGroupLifecycle: members join one at a time and leave one at a time
// over 12 partitions; no partition is ever held twice, and every generation
// settles with each partition held exactly once.
func TestGroupLifecycle(t *testing.T) {
	data := newFakeData(t)
	data.createTopic("t", 12, nil)
	_, a, _ := startStandalone(t, data.addr, nil)
	l := newLedger(t)
	var ms []*member
	settled := func(n int) {
		t.Helper()
		waitFor(t, 10*time.Second, fmt.Sprintf("%d members to share 12 partitions", n), func() bool {
			c := l.counts()
			if l.total() != 12 || len(c) != n {
				return false
			}
			lo, hi := 12, 0
			for _, v := range c {
				lo, hi = min(lo, v), max(hi, v)
			}
			return hi-lo <= 1
		})
	}
	for i := range 5 {
		m := newMember(t, a, l, "g", fmt.Sprintf("m%d", i), "t")
		start := time.Now()
		if err := m.join(5000); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
		settled(len(ms))
		t.Logf("join %d settled in %v", i, time.Since(start))
	}
	var d wire.GroupDescription
	if err := a.call(wire.PathGroupDescribe+"?group=g", nil, &d); err != nil {
		t.Fatal(err)
	}
	if d.State != wire.GroupStateStable || len(d.Members) != 5 || len(d.Offsets) != 12 {
		t.Fatalf("describe: state %s, %d members, %d offsets", d.State, len(d.Members), len(d.Offsets))
	}
	for _, o := range d.Offsets {
		if o.MemberID == "" {
			t.Fatalf("describe: %s-%d has no owner", o.Topic, o.Partition)
		}
	}
	var lg wire.ListGroupsResponse
	if err := a.call(wire.PathGroupList, nil, &lg); err != nil || len(lg.Groups) != 1 || lg.Groups[0].Members != 5 {
		t.Fatalf("list: %+v %v", lg, err)
	}
	mustCode(t, a.call(wire.PathGroupDelete, wire.DeleteGroupRequest{GroupID: "g"}, nil), wire.CodeNonEmptyGroup)
	mustCode(t, a.call(wire.PathGroupResetOffsets, wire.ResetOffsetsRequest{GroupID: "g", Topic: "t", To: wire.ResetToEarliest}, nil), wire.CodeNonEmptyGroup)
	for i, m := range ms[:4] {
		start := time.Now()
		if err := m.leave(); err != nil {
			t.Fatal(err)
		}
		settled(4 - i)
		t.Logf("leave %d settled in %v", i, time.Since(start))
	}
	for _, m := range ms[:4] {
		if err := m.lastErr(); err != nil {
			t.Fatalf("%s: %v", m.id, err)
		}
	}
	if err := ms[4].leave(); err != nil {
		t.Fatal(err)
	}
	// The revocations committed offsets; they survive the group emptying.
	var of wire.OffsetFetchResponse
	if err := a.call(wire.PathGroupOffsetsFetch, wire.OffsetFetchRequest{GroupID: "g"}, &of); err != nil || len(of.Offsets) == 0 {
		t.Fatalf("fetch: %+v %v", of, err)
	}
	var rr wire.ResetOffsetsResponse
	if err := a.call(wire.PathGroupResetOffsets, wire.ResetOffsetsRequest{GroupID: "g", Topic: "t", To: wire.ResetToOffset, Offset: 5}, &rr); err != nil {
		t.Fatal(err)
	}
	// The fake's partitions are empty: offset 5 is clamped to the end, 0.
	if len(rr.Offsets) != 12 || rr.Offsets[0].Offset != 0 {
		t.Fatalf("reset: %+v", rr)
	}
	var dr wire.DeleteGroupResponse
	if err := a.call(wire.PathGroupDelete, wire.DeleteGroupRequest{GroupID: "g"}, &dr); err != nil || dr.OffsetsDeleted != 12 {
		t.Fatalf("delete: %+v %v", dr, err)
	}
	mustCode(t, a.call(wire.PathGroupDescribe+"?group=g", nil, nil), wire.CodeGroupIDNotFound)
	mustCode(t, a.call(wire.PathGroupDelete, wire.DeleteGroupRequest{GroupID: "g"}, nil), wire.CodeGroupIDNotFound)
}

// TestRebalanceIsFastWithLongPolls: a join reaches a long-polling member at
// once, not at its next heartbeat interval.
func TestRebalanceIsFastWithLongPolls(t *testing.T) {
	data := newFakeData(t)
	data.createTopic("t", 100, nil)
	_, a, _ := startStandalone(t, data.addr, func(c *Config) {
		c.MaxHeartbeatWait = 5 * time.Second
		c.Group.HeartbeatInterval = 3 * time.Second
	})
	l := newLedger(t)
	first := newMember(t, a, l, "g", "a", "t")
	first.waitMs = 5000 // without wake-ups, a change would wait this long
	if err := first.join(30000); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a to own everything", func() bool { return l.total() == 100 })
	second := newMember(t, a, l, "g", "b", "t")
	start := time.Now()
	if err := second.join(30000); err != nil {
		t.Fatal(err)
	}
	// Long polls propagate the join at once; the heartbeat interval (3 s)
	// would be the floor without them. The bound is loose because the
	// machine may be loaded; BenchmarkRebalance10x100 measures.
	waitFor(t, 10*time.Second, "b to get half", func() bool { return l.counts()["b"] == 50 && l.total() == 100 })
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Fatalf("rebalance took %v, not faster than one heartbeat interval", d)
	}
	t.Logf("rebalance took %v", time.Since(start))
}

func TestCommitValidation(t *testing.T) {
	data := newFakeData(t)
	data.createTopic("t", 3, nil)
	_, a, _ := startStandalone(t, data.addr, func(c *Config) { c.MaxOffsetMetadataBytes = 16 })
	l := newLedger(t)
	m := newMember(t, a, l, "g", "a", "t")
	if err := m.join(30000); err != nil {
		t.Fatal(err)
	}
	gen := m.gen
	commit := func(offs ...wire.OffsetCommit) error {
		return a.call(wire.PathGroupCommit, wire.OffsetCommitRequest{GroupID: "g", MemberID: "a", Generation: gen, Offsets: offs}, nil)
	}
	ok := wire.OffsetCommit{Topic: "t", Partition: 0, Offset: 7, LeaderEpoch: -1, Metadata: "m"}
	if err := commit(ok); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		offs []wire.OffsetCommit
		code wire.Code
	}{
		{"unknown topic", []wire.OffsetCommit{ok, {Topic: "nope", Offset: 1}}, wire.CodeUnknownTopicOrPartition},
		{"partition out of range", []wire.OffsetCommit{ok, {Topic: "t", Partition: 3, Offset: 1}}, wire.CodeUnknownTopicOrPartition},
		{"oversized metadata", []wire.OffsetCommit{{Topic: "t", Partition: 1, Offset: 1, Metadata: strings.Repeat("x", 17)}}, wire.CodeOffsetMetadataTooLarge},
		{"negative offset", []wire.OffsetCommit{{Topic: "t", Partition: 1, Offset: -5}}, wire.CodeInvalidRequest},
		{"twice in one commit", []wire.OffsetCommit{ok, ok}, wire.CodeInvalidRequest},
		{"nothing", nil, wire.CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustCode(t, commit(tt.offs...), tt.code)
		})
	}
	// Group state unchanged: the first commit is what is there.
	var of wire.OffsetFetchResponse
	if err := a.call(wire.PathGroupOffsetsFetch, wire.OffsetFetchRequest{GroupID: "g", Topics: []wire.TopicPartitions{{Topic: "t"}}}, &of); err != nil {
		t.Fatal(err)
	}
	want := []wire.CommittedOffset{{Topic: "t", Partition: 0, Offset: 7, LeaderEpoch: -1, Metadata: "m"}, {Topic: "t", Partition: 1, Offset: -1, LeaderEpoch: -1}, {Topic: "t", Partition: 2, Offset: -1, LeaderEpoch: -1}}
	for i := range of.Offsets {
		of.Offsets[i].CommitTimestampMs = 0
	}
	if fmt.Sprint(of.Offsets) != fmt.Sprint(want) {
		t.Fatalf("fetch %+v, want %+v", of.Offsets, want)
	}
	// Zombies: an unknown member, a stale generation from outside.
	mustCode(t, a.call(wire.PathGroupCommit, wire.OffsetCommitRequest{GroupID: "g", MemberID: "zombie", Generation: gen, Offsets: []wire.OffsetCommit{ok}}, nil), wire.CodeUnknownMember)
	mustCode(t, a.call(wire.PathGroupCommit, wire.OffsetCommitRequest{GroupID: "g", Generation: -1, Offsets: []wire.OffsetCommit{ok}}, nil), wire.CodeUnknownMember)
	mustCode(t, a.call(wire.PathGroupCommit, wire.OffsetCommitRequest{GroupID: "g", MemberID: "a", Generation: gen + 5, Offsets: []wire.OffsetCommit{ok}}, nil), wire.CodeIllegalGeneration)
	// Bad joins.
	mustCode(t, a.call(wire.PathGroupJoin, wire.JoinGroupRequest{GroupID: "g", Topics: []string{"t"}, Assignors: []string{"bogus"}}, nil), wire.CodeInconsistentGroupProtocol)
	mustCode(t, a.call(wire.PathGroupJoin, map[string]any{"group_id": "g", "topics": "t"}, nil), wire.CodeInvalidRequest)
	mustCode(t, a.call(wire.PathGroupJoin, wire.JoinGroupRequest{GroupID: strings.Repeat("g", 300), Topics: []string{"t"}}, nil), wire.CodeInvalidRequest)
	mustCode(t, a.call(wire.PathGroupHeartbeat, wire.HeartbeatRequest{GroupID: "nope", MemberID: "x"}, nil), wire.CodeUnknownMember)
	mustCode(t, a.call(wire.PathGroupDescribe+"?group=nope", nil, nil), wire.CodeGroupIDNotFound)
}

// TestExpelledMemberIsFenced: a member that stops heartbeating is expelled
// after its session timeout, its partitions go to the others, and its late
// commit is refused.
func TestExpelledMemberIsFenced(t *testing.T) {
	data := newFakeData(t)
	data.createTopic("t", 6, nil)
	_, a, _ := startStandalone(t, data.addr, nil)
	l := newLedger(t)
	x := newMember(t, a, l, "g", "x", "t")
	y := newMember(t, a, l, "g", "y", "t")
	if err := x.join(300); err != nil {
		t.Fatal(err)
	}
	if err := y.join(300); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a 3/3 split", func() bool { c := l.counts(); return c["x"] == 3 && c["y"] == 3 })
	x.mu.Lock()
	xs := x.ownedWire()
	gen := x.gen
	x.mu.Unlock()
	x.halt()
	// Forget x's holdings in the ledger: x is a zombie now.
	for _, tp := range group.FromWire(xs) {
		l.drop("x", tp)
	}
	waitFor(t, 5*time.Second, "y to own everything", func() bool { return l.counts()["y"] == 6 })
	var offs []wire.OffsetCommit
	for _, tp := range group.FromWire(xs) {
		offs = append(offs, wire.OffsetCommit{Topic: tp.Topic, Partition: tp.Partition, Offset: 999, LeaderEpoch: -1})
	}
	mustCode(t, a.call(wire.PathGroupCommit, wire.OffsetCommitRequest{GroupID: "g", MemberID: "x", Generation: gen, Offsets: offs}, nil), wire.CodeUnknownMember)
}

// TestMaxPollIntervalExpels: a member whose application stops polling is
// expelled after max.poll.interval.ms even though it keeps heartbeating.
func TestMaxPollIntervalExpels(t *testing.T) {
	data := newFakeData(t)
	data.createTopic("t", 2, nil)
	_, a, _ := startStandalone(t, data.addr, nil)
	l := newLedger(t)
	m := newMember(t, a, l, "g", "slow", "t")
	last := time.Now()
	m.polled = func() time.Time { return last }
	var ans wire.MemberAssignment
	if err := a.call(wire.PathGroupJoin, wire.JoinGroupRequest{GroupID: "g", MemberID: "slow", Topics: []string{"t"}, SessionTimeoutMs: 10000, RebalanceTimeoutMs: 500}, &ans); err != nil {
		t.Fatal(err)
	}
	m.apply(ans)
	go m.loop()
	waitFor(t, 10*time.Second, "the member to be expelled", func() bool { return m.lastErr() != nil })
	if d := time.Since(last); d < 500*time.Millisecond {
		t.Fatalf("expelled after %v, before max.poll.interval", d)
	}
	mustCode(t, m.lastErr(), wire.CodeUnknownMember)
}

// TestRestartRebuildsGroups: a new coordinator over the same partition
// resumes the group (same member ids and assignment, no rebalance) and the
// committed offsets.
func TestRestartRebuildsGroups(t *testing.T) {
	data := newFakeData(t)
	data.createTopic("t", 4, nil)
	_, a, stop := startStandalone(t, data.addr, nil)
	l := newLedger(t)
	m := newMember(t, a, l, "g", "a", "t")
	n := newMember(t, a, l, "g", "b", "t")
	if err := m.join(30000); err != nil {
		t.Fatal(err)
	}
	if err := n.join(30000); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a 2/2 split", func() bool { c := l.counts(); return c["a"] == 2 && c["b"] == 2 })
	m.mu.Lock()
	gen := m.gen
	aOwned := m.ownedWire()
	m.mu.Unlock()
	var offs []wire.OffsetCommit
	for _, tp := range group.FromWire(aOwned) {
		offs = append(offs, wire.OffsetCommit{Topic: tp.Topic, Partition: tp.Partition, Offset: 42, LeaderEpoch: 3, Metadata: "meta"})
	}
	if err := a.call(wire.PathGroupCommit, wire.OffsetCommitRequest{GroupID: "g", MemberID: "a", Generation: gen, Offsets: offs}, nil); err != nil {
		t.Fatal(err)
	}
	m.halt()
	n.halt()
	stop()

	_, a2, _ := startStandalone(t, data.addr, nil)
	var d wire.GroupDescription
	if err := a2.call(wire.PathGroupDescribe+"?group=g", nil, &d); err != nil {
		t.Fatal(err)
	}
	if d.Generation != gen || len(d.Members) != 2 || d.State != wire.GroupStateStable {
		t.Fatalf("after restart: generation %d (want %d), %d members, %s", d.Generation, gen, len(d.Members), d.State)
	}
	// a heartbeats to the new coordinator with what it owns: no change.
	var ans wire.MemberAssignment
	if err := a2.call(wire.PathGroupHeartbeat, wire.HeartbeatRequest{GroupID: "g", MemberID: "a", Generation: gen, Owned: aOwned}, &ans); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ans.Assigned) != fmt.Sprint(aOwned) || len(ans.Revoke) != 0 || ans.Generation != gen {
		t.Fatalf("heartbeat after restart: %+v, owned %v", ans, aOwned)
	}
	var of wire.OffsetFetchResponse
	if err := a2.call(wire.PathGroupOffsetsFetch, wire.OffsetFetchRequest{GroupID: "g", Topics: []wire.TopicPartitions{{Topic: "t"}}}, &of); err != nil {
		t.Fatal(err)
	}
	committed := 0
	for _, o := range of.Offsets {
		if o.Offset == 42 && o.LeaderEpoch == 3 && o.Metadata == "meta" {
			committed++
		}
	}
	if committed != len(offs) {
		t.Fatalf("%d of %d committed offsets survived the restart: %+v", committed, len(offs), of.Offsets)
	}
}

// TestWriteFailureIsRetriable: when the data plane refuses writes, commits
// and joins fail with a retriable error and the state is not advanced; once
// it recovers, they succeed.
func TestWriteFailureIsRetriable(t *testing.T) {
	data := newFakeData(t)
	data.createTopic("t", 2, nil)
	_, a, _ := startStandalone(t, data.addr, func(c *Config) { c.WriteTimeout = 300 * time.Millisecond })
	data.setFailWrites(true)
	err := a.call(wire.PathGroupCommit, wire.OffsetCommitRequest{GroupID: "g", Generation: -1, Offsets: []wire.OffsetCommit{{Topic: "t", Offset: 1}}}, nil)
	var we *wire.Error
	if err == nil || !errorsAs(err, &we) || !we.Retriable() {
		t.Fatalf("commit with writes failing: %v", err)
	}
	data.setFailWrites(false)
	if err := a.call(wire.PathGroupCommit, wire.OffsetCommitRequest{GroupID: "g", Generation: -1, Offsets: []wire.OffsetCommit{{Topic: "t", Offset: 1}}}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestOffsetsRetention: offsets of an empty group expire after
// offsets.retention.minutes (tombstones written); a group with members keeps
// the offsets of topics it subscribes to.
func TestOffsetsRetention(t *testing.T) {
	data := newFakeData(t)
	data.createTopic("t", 2, nil)
	data.createTopic("u", 1, nil)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	_, a, _ := startStandalone(t, data.addr, func(c *Config) {
		c.Now = clock
		c.OffsetsRetention = time.Minute
		c.RetentionCheckInterval = 10 * time.Millisecond
	})
	commit := func(groupID, member string, gen int32, topic string) {
		t.Helper()
		if err := a.call(wire.PathGroupCommit, wire.OffsetCommitRequest{GroupID: groupID, MemberID: member, Generation: gen,
			Offsets: []wire.OffsetCommit{{Topic: topic, Partition: 0, Offset: 5, LeaderEpoch: -1}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	fetch := func(groupID string) int {
		var of wire.OffsetFetchResponse
		if err := a.call(wire.PathGroupOffsetsFetch, wire.OffsetFetchRequest{GroupID: groupID}, &of); err != nil {
			t.Fatal(err)
		}
		return len(of.Offsets)
	}
	commit("lonely", "", -1, "t")
	// A live group whose member subscribes to t.
	var ans wire.MemberAssignment
	if err := a.call(wire.PathGroupJoin, wire.JoinGroupRequest{GroupID: "live", MemberID: "m", Topics: []string{"t"}, SessionTimeoutMs: 1_800_000, RebalanceTimeoutMs: 3_600_000}, &ans); err != nil {
		t.Fatal(err)
	}
	commit("live", "m", ans.Generation, "t")
	advance(30 * time.Second)
	time.Sleep(100 * time.Millisecond)
	if fetch("lonely") != 1 || fetch("live") != 1 {
		t.Fatal("offsets expired before the retention")
	}
	advance(31 * time.Second)
	waitFor(t, 10*time.Second, "the lonely group's offsets to expire", func() bool { return fetch("lonely") == 0 })
	if fetch("live") != 1 {
		t.Fatal("a live group's offset of a subscribed topic expired")
	}
	mustCode(t, a.call(wire.PathGroupDescribe+"?group=lonely", nil, nil), wire.CodeGroupIDNotFound)
	// The tombstone is in the log.
	data.mu.Lock()
	found := false
	for _, l := range data.topics[wire.OffsetsTopic].parts {
		for _, b := range l.batches {
			recs, err := recordbatch.Decode(b, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if k, err := offsets.DecodeKey(r.Key); err == nil && k.Group == "lonely" && r.Value == nil {
					found = true
				}
			}
		}
	}
	data.mu.Unlock()
	if !found {
		t.Fatal("no tombstone for the expired offset")
	}
}
