package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"strand.dev/client/internal/fakecluster"
	"strand.dev/client/record"
	"strand.dev/client/wire"
)

func newGroupConsumer(t *testing.T, fc *fakecluster.Cluster, coord *fakeCoord, opts ...Option) *GroupConsumer {
	t.Helper()
	base := []Option{Bootstrap(fc.Addrs()...), Coordinators(coord.addr()), RetryBackoff(5*time.Millisecond, 50*time.Millisecond),
		FetchMaxWait(50 * time.Millisecond), AutoOffsetReset(ResetEarliest)}
	g, err := NewGroup("g", append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// pollUntil polls until cond holds over what was polled so far.
func pollUntil(t *testing.T, g *GroupConsumer, what string, cond func([]*record.Record) bool) []*record.Record {
	t.Helper()
	ctx := testCtx(t)
	var out []*record.Record
	for !cond(out) {
		pctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		recs, err := g.Poll(pctx)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: poll: %v", what, err)
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: not within the test's time (%d records)", what, len(out))
		}
		out = append(out, recs...)
	}
	return out
}

func atLeast(n int) func([]*record.Record) bool {
	return func(r []*record.Record) bool { return len(r) >= n }
}

// listener records the callbacks in order.
type recListener struct {
	mu     sync.Mutex
	events []string
	onRev  func([]TopicPartition)
}

func (l *recListener) OnPartitionsRevoked(_ context.Context, tps []TopicPartition) {
	if l.onRev != nil {
		l.onRev(tps)
	}
	l.mu.Lock()
	l.events = append(l.events, fmt.Sprint("revoked ", tps))
	l.mu.Unlock()
}

func (l *recListener) OnPartitionsAssigned(_ context.Context, tps []TopicPartition) {
	l.mu.Lock()
	l.events = append(l.events, fmt.Sprint("assigned ", tps))
	l.mu.Unlock()
}

func TestGroupConsumeCommitAndResume(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	fc.CreateTopic("t", 3, nil)
	for p := range int32(3) {
		produce(t, fc, "t", p, "a", 30)
	}
	fg := newFakeGroup(map[string]int32{"t": 3})
	coord := startFakeCoord(t, fg, "c1")

	g := newGroupConsumer(t, fc, coord, AutoCommit(false))
	l := &recListener{}
	if err := g.Subscribe([]string{"t"}, l); err != nil {
		t.Fatal(err)
	}
	recs := pollUntil(t, g, "90 records", atLeast(90))
	if len(recs) != 90 {
		t.Fatalf("got %d records, want 90", len(recs))
	}
	if err := g.CommitSync(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	fg.mu.Lock()
	for p := range int32(3) {
		if got := fg.committed[TopicPartition{"t", p}]; got != 30 {
			t.Errorf("partition %d committed %d, want 30", p, got)
		}
	}
	fg.mu.Unlock()
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	fg.mu.Lock()
	leaves, members := fg.leaves, len(fg.members)
	fg.mu.Unlock()
	if leaves != 1 || members != 0 {
		t.Fatalf("after Close: %d leaves, %d members", leaves, members)
	}
	if len(l.events) != 2 || l.events[0] != "assigned [t-0 t-1 t-2]" || l.events[1] != "revoked [t-0 t-1 t-2]" {
		t.Errorf("listener events %q", l.events)
	}
	if st := g.GroupStats(); st.Joins != 1 || st.Assigned != 3 || st.Commits != 1 || st.CommitFailures != 0 {
		t.Errorf("group stats %+v", st)
	}

	// A successor resumes at the committed offsets.
	for p := range int32(3) {
		produce(t, fc, "t", p, "b", 5)
	}
	g2 := newGroupConsumer(t, fc, coord)
	if err := g2.Subscribe([]string{"t"}, nil); err != nil {
		t.Fatal(err)
	}
	recs = pollUntil(t, g2, "15 new records", atLeast(15))
	for _, r := range recs {
		if r.Offset < 30 {
			t.Fatalf("successor read %s-%d@%d, below the committed offset 30", r.Topic, r.Partition, r.Offset)
		}
	}
	// Close with auto-commit commits the positions.
	if err := g2.Close(); err != nil {
		t.Fatal(err)
	}
	fg.mu.Lock()
	defer fg.mu.Unlock()
	for p := range int32(3) {
		if got := fg.committed[TopicPartition{"t", p}]; got != 35 {
			t.Errorf("after auto-commit on close, partition %d committed %d, want 35", p, got)
		}
	}
}

// A second member joins: the first revokes what moves (committing it in
// the listener, while commits are still accepted) before the second is
// granted it; the first keeps consuming what does not move.
func TestGroupCooperativeHandoff(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	fc.CreateTopic("t", 4, nil)
	for p := range int32(4) {
		produce(t, fc, "t", p, "a", 10)
	}
	fg := newFakeGroup(map[string]int32{"t": 4})
	coord := startFakeCoord(t, fg, "c1")
	g1 := newGroupConsumer(t, fc, coord, AutoCommit(false))
	var revokeErr error
	l1 := &recListener{}
	l1.onRev = func(tps []TopicPartition) {
		offs := map[TopicPartition]int64{}
		for _, tp := range tps {
			pos, _ := g1.Position(tp)
			offs[tp] = pos
		}
		revokeErr = g1.CommitOffsets(context.Background(), offs)
	}
	if err := g1.Subscribe([]string{"t"}, l1); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, g1, "40 records", atLeast(40))

	g2 := newGroupConsumer(t, fc, coord, AutoCommit(false))
	if err := g2.Subscribe([]string{"t"}, nil); err != nil {
		t.Fatal(err)
	}
	// Both poll until each consumes two partitions.
	ctx := testCtx(t)
	for len(g1.Assignment()) != 2 || len(g2.Assignment()) != 2 {
		for _, g := range []*GroupConsumer{g1, g2} {
			pctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			if _, err := g.Poll(pctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatal(err)
			}
			cancel()
		}
		if ctx.Err() != nil {
			t.Fatalf("no handoff: g1 %v, g2 %v", g1.Assignment(), g2.Assignment())
		}
	}
	if revokeErr != nil {
		t.Fatalf("commit in OnPartitionsRevoked: %v", revokeErr)
	}
	moved := g2.Assignment()
	fg.mu.Lock()
	for _, tp := range moved {
		if got := fg.committed[tp]; got != 10 {
			t.Errorf("%s committed %d on revocation, want 10", tp, got)
		}
	}
	fg.mu.Unlock()
	// g2 starts the moved partitions at the committed offset: nothing to read.
	for p := range int32(4) {
		produce(t, fc, "t", p, "b", 1)
	}
	recs := pollUntil(t, g2, "the new records", atLeast(2))
	for _, r := range recs {
		if r.Offset != 10 {
			t.Errorf("g2 read %s-%d@%d, want only offset 10", r.Topic, r.Partition, r.Offset)
		}
	}
	if l1.events[0] != "assigned [t-0 t-1 t-2 t-3]" || len(l1.events) != 2 {
		t.Errorf("g1 listener: %q", l1.events)
	}
}

// Commits go out one at a time in order, so a later one is never
// overwritten by an earlier one; callbacks come in order.
func TestGroupCommitAsyncOrder(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	fc.CreateTopic("t", 1, nil)
	produce(t, fc, "t", 0, "a", 1)
	fg := newFakeGroup(map[string]int32{"t": 1})
	coord := startFakeCoord(t, fg, "c1")
	g := newGroupConsumer(t, fc, coord, AutoCommit(false))
	if err := g.Subscribe([]string{"t"}, nil); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, g, "a record", atLeast(1))
	tp := TopicPartition{"t", 0}
	var mu sync.Mutex
	var got []int64
	var wg sync.WaitGroup
	for i := int64(1); i <= 200; i++ {
		wg.Add(1)
		g.CommitOffsetsAsync(map[TopicPartition]int64{tp: i}, func(offs map[TopicPartition]int64, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("commit %d: %v", i, err)
			}
			mu.Lock()
			got = append(got, i)
			mu.Unlock()
		})
		if i == 100 {
			if err := g.CommitOffsets(testCtx(t), map[TopicPartition]int64{tp: 1000}); err != nil {
				t.Fatal(err)
			}
		}
	}
	wg.Wait()
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			t.Fatalf("callbacks out of order: %v", got)
		}
	}
	fg.mu.Lock()
	defer fg.mu.Unlock()
	if fg.committed[tp] != 200 {
		t.Errorf("committed %d, want the last one, 200", fg.committed[tp])
	}
	// The order asked: 1..100, 1000 (synchronous), 101..200.
	rank := func(o int64) float64 {
		switch {
		case o == 1000:
			return 100.5
		default:
			return float64(o)
		}
	}
	last := 0.0
	for _, c := range fg.commitLog {
		if r := rank(c[tp]); r < last {
			t.Errorf("commit %d arrived after a later one", c[tp])
		} else {
			last = r
		}
	}
	if len(fg.commitLog) >= 201 {
		t.Errorf("%d commits sent for 201 asked: queued asynchronous commits were not merged", len(fg.commitLog))
	}
}

// The coordinator moves: NOT_COORDINATOR and COORDINATOR_LOAD_IN_PROGRESS
// make the consumer find it again; consuming and committing go on.
func TestGroupCoordinatorMoves(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	fc.CreateTopic("t", 2, nil)
	produce(t, fc, "t", 0, "a", 5)
	fg := newFakeGroup(map[string]int32{"t": 2})
	c1 := startFakeCoord(t, fg, "c1")
	startFakeCoord(t, fg, "c2")
	g := newGroupConsumer(t, fc, c1, AutoCommit(false))
	if err := g.Subscribe([]string{"t"}, nil); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, g, "5 records", atLeast(5))
	fg.mu.Lock()
	fg.owner = "c2"
	fg.fail[wire.PathGroupCommit] = []wire.Code{wire.CodeCoordinatorLoadInProgress, wire.CodeCoordinatorLoadInProgress}
	fg.mu.Unlock()
	if err := g.CommitSync(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	fg.mu.Lock()
	got := fg.committed[TopicPartition{"t", 0}]
	fg.mu.Unlock()
	if got != 5 {
		t.Fatalf("committed %d through the new coordinator, want 5", got)
	}
	produce(t, fc, "t", 1, "b", 3)
	pollUntil(t, g, "3 more records", atLeast(3))
}

// A heartbeat answered FENCED_INSTANCE_ID (another process took the
// group.instance.id) stops the consumer: Poll says so.
func TestGroupFencedInstance(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	fc.CreateTopic("t", 1, nil)
	fg := newFakeGroup(map[string]int32{"t": 1})
	coord := startFakeCoord(t, fg, "c1")
	g := newGroupConsumer(t, fc, coord, GroupInstanceID("i-1"))
	if err := g.Subscribe([]string{"t"}, nil); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	for len(g.Assignment()) == 0 {
		pctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		g.Poll(pctx)
		cancel()
	}
	fg.mu.Lock()
	fg.fail[wire.PathGroupHeartbeat] = []wire.Code{wire.CodeFencedInstanceID}
	fg.mu.Unlock()
	for {
		pctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		_, err := g.Poll(pctx)
		cancel()
		if errors.Is(err, ErrFenced) && errors.Is(err, wire.ErrFencedInstanceID) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no fencing error from Poll; last %v", err)
		}
	}
	if a := g.Assignment(); len(a) != 0 {
		t.Errorf("a fenced consumer still consumes %v", a)
	}
}

// Bad options and calls are refused clearly.
func TestGroupBadInput(t *testing.T) {
	if _, err := NewGroup("", Bootstrap("127.0.0.1:1")); err == nil {
		t.Error("an empty group id was accepted")
	}
	if _, err := NewGroup("g", Bootstrap("127.0.0.1:1"), Assignors("sticky-ish")); err == nil {
		t.Error("an unknown assignor was accepted")
	}
	if _, err := NewGroup("g", Bootstrap("127.0.0.1:1"), SessionTimeout(time.Millisecond)); err == nil {
		t.Error("a 1 ms session timeout was accepted")
	}
	g, err := NewGroup("g", Bootstrap("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.Poll(context.Background()); !errors.Is(err, ErrNotSubscribed) {
		t.Errorf("Poll before Subscribe: %v", err)
	}
	if err := g.Subscribe(nil, nil); err == nil {
		t.Error("a subscription to nothing was accepted")
	}
}

// lostListener records losses too.
type lostListener struct {
	recListener
}

func (l *lostListener) OnPartitionsLost(_ context.Context, tps []TopicPartition) {
	l.mu.Lock()
	l.events = append(l.events, fmt.Sprint("lost ", tps))
	l.mu.Unlock()
}

// Auto-commit commits, every interval, what earlier Polls returned.
func TestGroupAutoCommit(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	fc.CreateTopic("t", 1, nil)
	produce(t, fc, "t", 0, "a", 20)
	fg := newFakeGroup(map[string]int32{"t": 1})
	coord := startFakeCoord(t, fg, "c1")
	g := newGroupConsumer(t, fc, coord, AutoCommitInterval(20*time.Millisecond))
	if err := g.Subscribe([]string{"t"}, nil); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, g, "20 records", atLeast(20))
	tp := TopicPartition{"t", 0}
	pollUntil(t, g, "the auto-commit of offset 20", func([]*record.Record) bool {
		fg.mu.Lock()
		defer fg.mu.Unlock()
		return fg.committed[tp] == 20
	})
}

// An expelled member (the coordinator no longer knows it) drops its
// partitions as lost, joins again with a new member id, and resumes at the
// committed offsets.
func TestGroupExpelledMemberRejoins(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	fc.CreateTopic("t", 2, nil)
	produce(t, fc, "t", 0, "a", 10)
	fg := newFakeGroup(map[string]int32{"t": 2})
	coord := startFakeCoord(t, fg, "c1")
	g := newGroupConsumer(t, fc, coord, AutoCommit(false))
	l := &lostListener{}
	if err := g.Subscribe([]string{"t"}, l); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, g, "10 records", atLeast(10))
	if err := g.CommitSync(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	first := g.MemberID()
	fg.mu.Lock()
	fg.remove(first)
	fg.mu.Unlock()
	pollUntil(t, g, "the rejoin", func([]*record.Record) bool {
		id := g.MemberID()
		return id != "" && id != first && len(g.Assignment()) == 2
	})
	produce(t, fc, "t", 0, "b", 5)
	recs := pollUntil(t, g, "5 new records after the rejoin", atLeast(5))
	for _, r := range recs {
		if r.Offset < 10 {
			t.Errorf("read %d again after the rejoin; 10 was committed", r.Offset)
		}
	}
	if id := g.MemberID(); id == first || id == "" {
		t.Errorf("member id after the rejoin %q (was %q)", id, first)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	want := []string{"assigned [t-0 t-1]", "lost [t-0 t-1]", "assigned [t-0 t-1]"}
	if fmt.Sprint(l.events) != fmt.Sprint(want) {
		t.Errorf("listener events %q, want %q", l.events, want)
	}
	if st := g.GroupStats(); st.Joins != 2 || st.Lost != 2 {
		t.Errorf("group stats %+v", st)
	}
}
