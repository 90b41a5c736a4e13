package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"strand.dev/client/internal/fakecluster"
	"strand.dev/client/wire"
)

func TestGroupUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"group"},
		{"group", "frobnicate"},
		{"group", "describe"},
		{"group", "describe", "a", "b"},
		{"group", "delete"},
		{"group", "list", "extra"},
		{"group", "reset-offsets", "g", "--to-earliest"},
		{"group", "reset-offsets", "--topic", "t", "--to-earliest"},
		{"group", "reset-offsets", "g", "--topic", "t"},
		{"group", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--to-latest"},
		{"group", "reset-offsets", "g", "--topic", "t", "--to-offset", "-3"},
		{"group", "reset-offsets", "g", "--topic", "t", "--to-offset", "soon"},
		{"group", "reset-offsets", "g", "--topic", "t", "--to-datetime", "yesterday"},
		{"group", "reset-offsets", "g", "--topic", "t", "--to-latest", "--partitions", "0,x"},
		{"group", "reset-offsets", "g", "--topic", "t", "--to-latest", "--partitions", "-1"},
		{"group", "reset-offsets", "g", "--topic", "t", "--to-latest", "--partitions", "1,1"},
		{"group", "reset-offsets", "g", "--topic", "t", "--to-latest", "--partitions", ""},
	} {
		code, _, stderr := runCLI(t, "", args...)
		if code != exitUsage {
			t.Errorf("strand %s: exit %d, want 2 (stderr %q)", strings.Join(args, " "), code, stderr)
		}
	}
}

func TestParseDatetime(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	for in, want := range map[string]int64{
		"2026-01-02T15:04:05Z":      time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC).UnixMilli(),
		"2026-01-02T15:04:05+02:00": time.Date(2026, 1, 2, 13, 4, 5, 0, time.UTC).UnixMilli(),
		"2026-01-02T15:04:05.250":   time.Date(2026, 1, 2, 14, 4, 5, 250e6, time.UTC).UnixMilli(),
		"2026-01-02T15:04:05":       time.Date(2026, 1, 2, 14, 4, 5, 0, time.UTC).UnixMilli(),
		"2026-01-02 15:04:05":       time.Date(2026, 1, 2, 14, 4, 5, 0, time.UTC).UnixMilli(),
		"2026-01-02":                time.Date(2026, 1, 1, 23, 0, 0, 0, time.UTC).UnixMilli(),
	} {
		got, err := parseDatetime(in, loc)
		if err != nil || got.UnixMilli() != want {
			t.Errorf("parseDatetime(%q) = %v (%d), %v; want %d", in, got, got.UnixMilli(), err, want)
		}
	}
}

// cannedCoordinator serves the group paths from canned answers: groups
// "g" (one member, offsets and lag) and "busy" (members: no delete, no
// reset); every other group is unknown. Resets it receives are recorded.
type cannedCoordinator struct {
	mu     sync.Mutex
	resets []wire.ResetOffsetsRequest
}

func (cc *cannedCoordinator) start(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(cc.serve))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func (cc *cannedCoordinator) serve(w http.ResponseWriter, r *http.Request) {
	group := r.URL.Query().Get(wire.ParamGroup)
	var body struct {
		GroupID string `json:"group_id"`
	}
	var reset wire.ResetOffsetsRequest
	if r.Method == http.MethodPost {
		json.NewDecoder(r.Body).Decode(&reset)
		body.GroupID = reset.GroupID
		group = reset.GroupID
	}
	answer := func(v any) {
		w.Header().Set("Content-Type", wire.ContentTypeJSON)
		json.NewEncoder(w).Encode(v)
	}
	fail := func(err *wire.Error) {
		b, status := wire.MarshalError(err)
		w.WriteHeader(status)
		w.Write(b)
	}
	switch r.URL.Path {
	case wire.PathGroupCoordinator:
		answer(wire.FindCoordinatorResponse{GroupID: group, CoordinatorID: "c1", Addr: r.Host})
		return
	case wire.PathGroupList:
		answer(wire.ListGroupsResponse{Groups: []wire.GroupListing{
			{GroupID: "busy", State: wire.GroupStateStable, Members: 2, Assignor: wire.AssignorRange, Coordinator: r.Host},
			{GroupID: "g", State: wire.GroupStateStable, Members: 1, Assignor: wire.AssignorCooperativeSticky, Coordinator: r.Host},
		}})
		return
	}
	if group != "g" && group != "busy" {
		fail(wire.Errorf(wire.CodeGroupIDNotFound, "group %q does not exist", group))
		return
	}
	switch r.URL.Path {
	case wire.PathGroupDescribe:
		answer(wire.GroupDescription{GroupID: group, State: wire.GroupStateStable, Generation: 4, Assignor: wire.AssignorCooperativeSticky,
			Coordinator: "c1", CoordinatorAddr: r.Host,
			Members: []wire.MemberDescription{{MemberID: "m-1", ClientID: "billing", ClientHost: "10.1.2.3", Topics: []string{"t"},
				Assigned: []wire.TopicPartitions{{Topic: "t", Partitions: []int32{1, 0}}}, LastHeartbeatAgoMs: 1200}},
			Offsets: []wire.PartitionLag{
				{CommittedOffset: wire.CommittedOffset{Topic: "t", Partition: 0, Offset: 40}, LogEndOffset: 50, Lag: 10, MemberID: "m-1"},
				{CommittedOffset: wire.CommittedOffset{Topic: "t", Partition: 1, Offset: wire.NoOffset}, LogEndOffset: 0, Lag: -1, MemberID: "m-1"},
			}})
	case wire.PathGroupDelete:
		if group == "busy" {
			fail(wire.Errorf(wire.CodeNonEmptyGroup, "group %q has 2 members; only an empty group can be deleted", group))
			return
		}
		answer(wire.DeleteGroupResponse{GroupID: group, OffsetsDeleted: 2})
	case wire.PathGroupOffsetsFetch:
		answer(wire.OffsetFetchResponse{GroupID: group, Offsets: []wire.CommittedOffset{{Topic: "t", Partition: 0, Offset: 40}, {Topic: "t", Partition: 1, Offset: wire.NoOffset}}})
	case wire.PathGroupResetOffsets:
		if group == "busy" {
			fail(wire.Errorf(wire.CodeNonEmptyGroup, "group %q has members; offsets can be reset only while it is empty", group))
			return
		}
		cc.mu.Lock()
		cc.resets = append(cc.resets, reset)
		cc.mu.Unlock()
		answer(wire.ResetOffsetsResponse{GroupID: group, Offsets: []wire.CommittedOffset{{Topic: reset.Topic, Partition: 0, Offset: 12}}})
	default:
		fail(wire.Errorf(wire.CodeInvalidRequest, "no path %s", r.URL.Path))
	}
}

func TestGroupCommands(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	fc.CreateTopic("t", 2, nil)
	cc := &cannedCoordinator{}
	coord := cc.start(t)
	group := func(args ...string) (int, string, string) {
		return runCLI(t, "", append([]string{"group", "-b", fc.Bootstrap(), "--coordinator", coord, "--request-timeout", "5s"}, args...)...)
	}

	code, out, stderr := group("list")
	if code != 0 || !strings.Contains(out, "GROUP") || !strings.Contains(out, "cooperative-sticky") || strings.Index(out, "busy") > strings.Index(out, "g ") {
		t.Fatalf("list: %d %q %q", code, out, stderr)
	}
	// --coordinator also after the subcommand.
	if code, out2, stderr := runCLI(t, "", "group", "list", "-b", fc.Bootstrap(), "--coordinator", coord, "-o", "json"); code != 0 || !strings.Contains(out2, `"busy"`) {
		t.Fatalf("list with --coordinator after list: %d %q %q", code, out2, stderr)
	}
	t.Logf("strand group list:\n%s", out)
	code, out, stderr = group("describe", "g")
	t.Logf("strand group describe g:\n%s", out)
	for _, want := range []string{"state Stable", "total lag 10", "10.1.2.3", "billing", "t:0,1", "1.2s ago"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("describe lacks %q: %d %q %q", want, code, out, stderr)
		}
	}
	code, out, _ = group("describe", "g", "-o", "json")
	var d wire.GroupDescription
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil || len(d.Offsets) != 2 || d.Offsets[0].Lag != 10 {
		t.Fatalf("describe json: %d %q", code, out)
	}

	code, _, stderr = group("describe", "nope")
	if code != exitFailure || !strings.Contains(stderr, `group "nope" does not exist`) {
		t.Fatalf("describe of an unknown group: %d %q", code, stderr)
	}
	code, _, stderr = group("delete", "busy")
	if code != exitFailure || !strings.Contains(stderr, "NON_EMPTY_GROUP") || !strings.Contains(stderr, "stop or close its consumers") {
		t.Fatalf("delete of a busy group: %d %q", code, stderr)
	}
	code, out, _ = group("delete", "g")
	if code != 0 || !strings.Contains(out, "deleted group g and its 2 committed offsets") {
		t.Fatalf("delete: %d %q", code, out)
	}

	code, _, stderr = group("reset-offsets", "g", "--topic", "nope", "--to-earliest")
	if code != exitFailure || !strings.Contains(stderr, `topic "nope" does not exist`) {
		t.Fatalf("reset of an unknown topic: %d %q", code, stderr)
	}
	code, _, stderr = group("reset-offsets", "g", "--topic", "t", "--to-earliest", "--partitions", "0,5")
	if code != exitFailure || !strings.Contains(stderr, "partitions 0 to 1, not 5") {
		t.Fatalf("reset of a partition out of range: %d %q", code, stderr)
	}
	code, _, stderr = group("reset-offsets", "busy", "--topic", "t", "--to-earliest")
	if code != exitFailure || !strings.Contains(stderr, "NON_EMPTY_GROUP") {
		t.Fatalf("reset of a busy group: %d %q", code, stderr)
	}
	code, out, stderr = group("reset-offsets", "g", "--topic", "t", "--to-datetime", "2026-01-02T15:04:05Z", "--partitions", "0", "--dry-run")
	if code != 0 || !strings.Contains(out, "NEW-OFFSET") || !strings.Contains(out, "dry run") {
		t.Fatalf("reset: %d %q %q", code, out, stderr)
	}
	if fields := strings.Fields(strings.Split(out, "\n")[1]); strings.Join(fields, " ") != "g t 0 40 12" {
		t.Fatalf("reset row %q", fields)
	}
	cc.mu.Lock()
	r := cc.resets[0]
	cc.mu.Unlock()
	if r.To != wire.ResetToDatetime || r.TimestampMs != time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC).UnixMilli() || !r.DryRun || len(r.Partitions) != 1 {
		t.Fatalf("reset sent %+v", r)
	}
	code, out, _ = group("reset-offsets", "g", "--topic", "t", "--to-offset", "12", "-o", "json")
	var jr struct {
		Group   string     `json:"group"`
		DryRun  bool       `json:"dry_run"`
		Offsets []resetRow `json:"offsets"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &jr) != nil || jr.Group != "g" || jr.DryRun || len(jr.Offsets) != 1 || jr.Offsets[0].Previous != 40 || jr.Offsets[0].Offset != 12 {
		t.Fatalf("reset json: %d %q", code, out)
	}
}
