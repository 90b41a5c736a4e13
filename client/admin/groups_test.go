package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"strand.dev/client/internal/fakecluster"
	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

// fakeCoord is a coordinator speaking the group admin paths from canned
// answers. owner is the address find-coordinator names; a coordinator that
// is not the owner answers NOT_COORDINATOR to everything else.
type fakeCoord struct {
	srv   *httptest.Server
	mu    sync.Mutex
	owner string
	calls map[string]int
	// answer answers a path (after find-coordinator); nil for the default.
	answer func(path string, r *http.Request, n int) (any, error)
}

func newFakeCoord(t *testing.T) *fakeCoord {
	f := &fakeCoord{calls: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCoord) addr() string { return f.srv.Listener.Addr().String() }

// set changes the owner (when not empty) and the answers (when not nil).
func (f *fakeCoord) set(owner string, answer func(path string, r *http.Request, n int) (any, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if owner != "" {
		f.owner = owner
	}
	if answer != nil {
		f.answer = answer
	}
}

func (f *fakeCoord) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[path]
}

func (f *fakeCoord) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls[r.URL.Path]++
	n := f.calls[r.URL.Path]
	owner, answer := f.owner, f.answer
	f.mu.Unlock()
	var out any
	var err error
	switch {
	case r.URL.Path == wire.PathGroupCoordinator:
		out = wire.FindCoordinatorResponse{GroupID: r.URL.Query().Get(wire.ParamGroup), CoordinatorID: "c", Addr: owner, Epoch: 1}
	case owner != f.addr():
		err = wire.Errorf(wire.CodeNotCoordinator, "not me")
	case answer != nil:
		out, err = answer(r.URL.Path, r, n)
	default:
		err = wire.Errorf(wire.CodeInvalidRequest, "no answer for %s", r.URL.Path)
	}
	w.Header().Set("Content-Type", wire.ContentTypeJSON)
	if err != nil {
		body, status := wire.MarshalError(err)
		w.WriteHeader(status)
		w.Write(body)
		return
	}
	json.NewEncoder(w).Encode(out)
}

// groupsFixture is a data plane with topic t (2 partitions, 7 records in
// partition 0) and two coordinators: a, which sends everyone to b, and b,
// the owner of every group.
func groupsFixture(t *testing.T) (*Admin, *fakeCoord, *fakeCoord) {
	fc := fakecluster.New(2, t.Cleanup)
	fc.CreateTopic("t", 2, nil)
	recs := make([]recordbatch.Record, 7)
	for i := range recs {
		recs[i] = recordbatch.Record{Value: []byte("v"), Timestamp: 1}
	}
	b, err := recordbatch.Encode(recs, recordbatch.EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fc.AppendStored("t", 0, b); err != nil {
		t.Fatal(err)
	}
	ca, cb := newFakeCoord(t), newFakeCoord(t)
	ca.set(cb.addr(), nil)
	cb.set(cb.addr(), nil)
	// A dead address first: the admin goes on to the next coordinator.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadAddr := dead.Listener.Addr().String()
	dead.Close()
	return newAdmin(t, fc, Coordinators(deadAddr, ca.addr()), DialTimeout(time.Second), RetryTimeout(10*time.Second)), ca, cb
}

func TestDescribeGroupFindsTheOwnerAndFillsLags(t *testing.T) {
	a, ca, cb := groupsFixture(t)
	cb.set("", func(path string, r *http.Request, n int) (any, error) {
		if path != wire.PathGroupDescribe {
			return nil, wire.Errorf(wire.CodeInvalidRequest, "unexpected %s", path)
		}
		switch g := r.URL.Query().Get(wire.ParamGroup); {
		case g == "nope":
			return nil, wire.Errorf(wire.CodeGroupIDNotFound, "group %q does not exist", g)
		case n == 1:
			return nil, wire.Errorf(wire.CodeCoordinatorLoadInProgress, "loading")
		}
		return wire.GroupDescription{GroupID: "g", State: wire.GroupStateStable, Generation: 3, Assignor: wire.AssignorRange,
			Members: []wire.MemberDescription{{MemberID: "m1", ClientID: "app", ClientHost: "10.0.0.1", Assigned: []wire.TopicPartitions{{Topic: "t", Partitions: []int32{0, 1}}}}},
			Offsets: []wire.PartitionLag{
				// The coordinator could not ask partition 0's leader.
				{CommittedOffset: wire.CommittedOffset{Topic: "t", Partition: 0, Offset: 3}, LogEndOffset: -1, Lag: -1, MemberID: "m1"},
				{CommittedOffset: wire.CommittedOffset{Topic: "t", Partition: 1, Offset: wire.NoOffset}, LogEndOffset: 0, Lag: -1, MemberID: "m1"},
			}}, nil
	})
	d, err := a.DescribeGroup(context.Background(), "g")
	if err != nil {
		t.Fatal(err)
	}
	if d.State != wire.GroupStateStable || len(d.Members) != 1 || d.Members[0].ClientHost != "10.0.0.1" {
		t.Fatalf("describe: %+v", d)
	}
	if o := d.Offsets[0]; o.LogEndOffset != 7 || o.Lag != 4 {
		t.Fatalf("partition 0: end %d lag %d, want 7 and 4", o.LogEndOffset, o.Lag)
	}
	if o := d.Offsets[1]; o.LogEndOffset != 0 || o.Lag != -1 {
		t.Fatalf("partition 1 (no commit): end %d lag %d", o.LogEndOffset, o.Lag)
	}
	if cb.count(wire.PathGroupDescribe) != 2 || ca.count(wire.PathGroupCoordinator) < 2 {
		t.Fatalf("calls: a %v b %v", ca.calls, cb.calls)
	}
	before := cb.count(wire.PathGroupDescribe)
	if _, err := a.DescribeGroup(context.Background(), "nope"); !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("unknown group: %v", err)
	}
	if n := cb.count(wire.PathGroupDescribe) - before; n != 1 {
		t.Fatalf("an unknown group was asked %d times", n)
	}
	if _, err := a.DescribeGroup(context.Background(), ""); !errors.Is(err, wire.ErrInvalidRequest) {
		t.Fatalf("empty group id: %v", err)
	}
}

func TestNotCoordinatorGoesRoundAgain(t *testing.T) {
	a, ca, cb := groupsFixture(t)
	// a names itself first (a stale owner), then b.
	ca.set(ca.addr(), nil)
	cb.set("", func(path string, r *http.Request, n int) (any, error) {
		return wire.DeleteGroupResponse{GroupID: "g", OffsetsDeleted: 2}, nil
	})
	go func() {
		for ca.count(wire.PathGroupCoordinator) < 2 {
			time.Sleep(time.Millisecond)
		}
		ca.set(cb.addr(), nil)
	}()
	ca.set("", func(string, *http.Request, int) (any, error) {
		return nil, wire.Errorf(wire.CodeNotCoordinator, "moved")
	})
	n, err := a.DeleteGroup(context.Background(), "g")
	if err != nil || n != 2 {
		t.Fatalf("delete: %d %v", n, err)
	}
}

func TestDeleteAndResetErrors(t *testing.T) {
	a, _, cb := groupsFixture(t)
	var mu sync.Mutex
	var got []wire.ResetOffsetsRequest
	cb.set("", func(path string, r *http.Request, n int) (any, error) {
		switch path {
		case wire.PathGroupDelete:
			var req wire.DeleteGroupRequest
			json.NewDecoder(r.Body).Decode(&req)
			switch req.GroupID {
			case "busy":
				return nil, wire.Errorf(wire.CodeNonEmptyGroup, "group %q has 2 members", req.GroupID)
			case "slow":
				return nil, wire.Errorf(wire.CodeRequestTimedOut, "the write timed out")
			}
			return wire.DeleteGroupResponse{GroupID: req.GroupID}, nil
		case wire.PathGroupResetOffsets:
			var req wire.ResetOffsetsRequest
			json.NewDecoder(r.Body).Decode(&req)
			mu.Lock()
			got = append(got, req)
			mu.Unlock()
			if req.GroupID == "busy" {
				return nil, wire.Errorf(wire.CodeNonEmptyGroup, "group %q has members", req.GroupID)
			}
			return wire.ResetOffsetsResponse{GroupID: req.GroupID, Offsets: []wire.CommittedOffset{{Topic: req.Topic, Partition: 0, Offset: 7}}}, nil
		}
		return nil, wire.Errorf(wire.CodeInvalidRequest, "unexpected %s", path)
	})
	ctx := context.Background()
	if _, err := a.DeleteGroup(ctx, "busy"); !errors.Is(err, ErrGroupNotEmpty) {
		t.Fatalf("delete of a busy group: %v", err)
	}
	before := cb.count(wire.PathGroupDelete)
	if _, err := a.DeleteGroup(ctx, "slow"); !errors.Is(err, wire.ErrRequestTimedOut) {
		t.Fatalf("delete that timed out: %v", err)
	}
	if n := cb.count(wire.PathGroupDelete) - before; n != 1 {
		t.Fatalf("a delete that may have been applied was sent %d times", n)
	}

	bad := []struct {
		name string
		r    OffsetReset
		want error
	}{
		{"unknown topic", OffsetReset{Group: "g", Topic: "nope", To: wire.ResetToEarliest}, ErrUnknownTopic},
		{"partition out of range", OffsetReset{Group: "g", Topic: "t", To: wire.ResetToEarliest, Partitions: []int32{2}}, ErrUnknownTopic},
		{"partition twice", OffsetReset{Group: "g", Topic: "t", To: wire.ResetToEarliest, Partitions: []int32{1, 1}}, wire.ErrInvalidRequest},
		{"negative offset", OffsetReset{Group: "g", Topic: "t", To: wire.ResetToOffset, Offset: -2}, wire.ErrInvalidRequest},
		{"no time", OffsetReset{Group: "g", Topic: "t", To: wire.ResetToDatetime}, wire.ErrInvalidRequest},
		{"unknown target", OffsetReset{Group: "g", Topic: "t", To: "later"}, wire.ErrInvalidRequest},
		{"busy group", OffsetReset{Group: "busy", Topic: "t", To: wire.ResetToLatest}, ErrGroupNotEmpty},
	}
	for _, b := range bad {
		if _, err := a.ResetOffsets(ctx, b.r); !errors.Is(err, b.want) {
			t.Fatalf("%s: %v, want %v", b.name, err, b.want)
		}
	}
	mu.Lock()
	if len(got) != 1 {
		t.Fatalf("bad resets reached the coordinator: %+v", got)
	}
	got = nil
	mu.Unlock()

	at := time.UnixMilli(1_700_000_000_123)
	offs, err := a.ResetOffsets(ctx, OffsetReset{Group: "g", Topic: "t", To: wire.ResetToDatetime, Time: at, Partitions: []int32{0}, DryRun: true})
	if err != nil || len(offs) != 1 || offs[0].Offset != 7 {
		t.Fatalf("reset: %+v %v", offs, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if r := got[0]; r.TimestampMs != at.UnixMilli() || !r.DryRun || r.To != wire.ResetToDatetime || len(r.Partitions) != 1 {
		t.Fatalf("request sent: %+v", r)
	}
}

func TestListGroupsAsksAnyCoordinator(t *testing.T) {
	a, ca, _ := groupsFixture(t)
	ca.set(ca.addr(), nil)
	ca.set("", func(path string, r *http.Request, n int) (any, error) {
		return wire.ListGroupsResponse{Groups: []wire.GroupListing{{GroupID: "g", State: wire.GroupStateEmpty}}, Unreachable: []string{"c9:1"}}, nil
	})
	l, err := a.ListGroups(context.Background())
	if err != nil || len(l.Groups) != 1 || l.Groups[0].GroupID != "g" || len(l.Unreachable) != 1 {
		t.Fatalf("list: %+v %v", l, err)
	}
}

func TestNoCoordinatorInTheMetadata(t *testing.T) {
	// A cluster with a control plane (metadata version > 0): coordinators
	// may be starting, so the admin waits for one.
	fc := fakecluster.New(1, t.Cleanup)
	fc.CreateTopic("t", 1, nil)
	// The budget must outlast the first metadata fetch (slow under -race on
	// a loaded machine), so that it is spent waiting for a coordinator.
	a := newAdmin(t, fc, RetryTimeout(2*time.Second))
	if _, err := a.ListGroups(context.Background()); !errors.Is(err, ErrNoCoordinator) || !strings.Contains(err.Error(), "gave up") {
		t.Fatalf("list without coordinators: %v", err)
	}
	// A standalone data node (version 0, no strand-meta): no coordinator
	// will ever appear in its metadata; it says so at once.
	fc = fakecluster.New(1, t.Cleanup)
	a = newAdmin(t, fc, RetryTimeout(30*time.Second))
	start := time.Now()
	if _, err := a.DescribeGroup(context.Background(), "g"); !errors.Is(err, ErrNoCoordinator) || !strings.Contains(err.Error(), "standalone") {
		t.Fatalf("describe on a standalone data node: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the standalone case took %v", d)
	}
}
