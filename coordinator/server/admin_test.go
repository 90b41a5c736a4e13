package server

import (
	"fmt"
	"testing"

	"strand.dev/client/wire"
)

// resetTo resets group g's offsets of topic t and returns them as
// "partition:offset" pairs.
func resetTo(t *testing.T, a *api, req wire.ResetOffsetsRequest) string {
	t.Helper()
	var rr wire.ResetOffsetsResponse
	if err := a.call(wire.PathGroupResetOffsets, req, &rr); err != nil {
		t.Fatalf("reset %+v: %v", req, err)
	}
	return offsetsString(rr.Offsets)
}

func offsetsString(offs []wire.CommittedOffset) string {
	s := ""
	for _, o := range offs {
		s += fmt.Sprintf("%d:%d ", o.Partition, o.Offset)
	}
	return s
}

// committedOf fetches a group's committed offsets of topic t.
func committedOf(t *testing.T, a *api, g, topic string) string {
	t.Helper()
	var of wire.OffsetFetchResponse
	if err := a.call(wire.PathGroupOffsetsFetch, wire.OffsetFetchRequest{GroupID: g, Topics: []wire.TopicPartitions{{Topic: topic}}}, &of); err != nil {
		t.Fatal(err)
	}
	return offsetsString(of.Offsets)
}

// TestResetOffsets: every reset target, dry runs, partition subsets, the
// bad inputs, and the refusal while the group has members; describe then
// shows the offsets with their lag.
func TestResetOffsets(t *testing.T) {
	data := newFakeData(t)
	data.createTopic("t", 3, nil)
	data.appendRecords("t", 0, 10, 1000)
	data.appendRecords("t", 0, 10, 2000)
	data.appendRecords("t", 1, 5, 1000)
	_, a, _ := startStandalone(t, data.addr, nil)

	req := func(to string) wire.ResetOffsetsRequest {
		return wire.ResetOffsetsRequest{GroupID: "g", Topic: "t", To: to}
	}
	dry := req(wire.ResetToLatest)
	dry.DryRun = true
	if got := resetTo(t, a, dry); got != "0:20 1:5 2:0 " {
		t.Fatalf("dry run to latest: %s", got)
	}
	if got := committedOf(t, a, "g", "t"); got != "0:-1 1:-1 2:-1 " {
		t.Fatalf("a dry run committed: %s", got)
	}
	mustCode(t, a.call(wire.PathGroupDescribe+"?group=g", nil, nil), wire.CodeGroupIDNotFound)

	cases := []struct {
		name string
		req  wire.ResetOffsetsRequest
		want string // the reset's answer
		all  string // the committed offsets after it
	}{
		{"earliest", req(wire.ResetToEarliest), "0:0 1:0 2:0 ", "0:0 1:0 2:0 "},
		{"latest of one partition", wire.ResetOffsetsRequest{GroupID: "g", Topic: "t", To: wire.ResetToLatest, Partitions: []int32{1}}, "1:5 ", "0:0 1:5 2:0 "},
		{"offset", wire.ResetOffsetsRequest{GroupID: "g", Topic: "t", To: wire.ResetToOffset, Offset: 15, Partitions: []int32{0}}, "0:15 ", "0:15 1:5 2:0 "},
		{"offset clamped to the end", wire.ResetOffsetsRequest{GroupID: "g", Topic: "t", To: wire.ResetToOffset, Offset: 99}, "0:20 1:5 2:0 ", "0:20 1:5 2:0 "},
		// p0's first record at or after 1500 is 10; p1 has none (its end);
		// p2 is empty.
		{"datetime", wire.ResetOffsetsRequest{GroupID: "g", Topic: "t", To: wire.ResetToDatetime, TimestampMs: 1500}, "0:10 1:5 2:0 ", "0:10 1:5 2:0 "},
		{"datetime before everything", wire.ResetOffsetsRequest{GroupID: "g", Topic: "t", To: wire.ResetToDatetime, TimestampMs: 0, Partitions: []int32{1}}, "1:0 ", "0:10 1:0 2:0 "},
	}
	for _, c := range cases {
		if got := resetTo(t, a, c.req); got != c.want {
			t.Fatalf("%s: reset answered %s, want %s", c.name, got, c.want)
		}
		if got := committedOf(t, a, "g", "t"); got != c.all {
			t.Fatalf("%s: committed %s, want %s", c.name, got, c.all)
		}
	}

	bad := []struct {
		name string
		req  wire.ResetOffsetsRequest
		code wire.Code
	}{
		{"unknown topic", wire.ResetOffsetsRequest{GroupID: "g", Topic: "nope", To: wire.ResetToEarliest}, wire.CodeUnknownTopicOrPartition},
		{"partition out of range", wire.ResetOffsetsRequest{GroupID: "g", Topic: "t", To: wire.ResetToEarliest, Partitions: []int32{3}}, wire.CodeUnknownTopicOrPartition},
		{"negative partition", wire.ResetOffsetsRequest{GroupID: "g", Topic: "t", To: wire.ResetToEarliest, Partitions: []int32{-1}}, wire.CodeUnknownTopicOrPartition},
		{"unknown target", wire.ResetOffsetsRequest{GroupID: "g", Topic: "t", To: "yesterday"}, wire.CodeInvalidRequest},
		{"negative offset", wire.ResetOffsetsRequest{GroupID: "g", Topic: "t", To: wire.ResetToOffset, Offset: -1}, wire.CodeInvalidRequest},
		{"negative timestamp", wire.ResetOffsetsRequest{GroupID: "g", Topic: "t", To: wire.ResetToDatetime, TimestampMs: -1}, wire.CodeInvalidRequest},
		{"no group", wire.ResetOffsetsRequest{Topic: "t", To: wire.ResetToEarliest}, wire.CodeInvalidRequest},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			mustCode(t, a.call(wire.PathGroupResetOffsets, b.req, nil), b.code)
		})
	}
	if got := committedOf(t, a, "g", "t"); got != "0:10 1:0 2:0 " {
		t.Fatalf("bad resets changed the offsets: %s", got)
	}

	// Describe of the empty group: its offsets with log end and lag.
	var d wire.GroupDescription
	if err := a.call(wire.PathGroupDescribe+"?group=g", nil, &d); err != nil {
		t.Fatal(err)
	}
	lags := ""
	for _, o := range d.Offsets {
		lags += fmt.Sprintf("%d:%d/%d/%d ", o.Partition, o.Offset, o.LogEndOffset, o.Lag)
	}
	if d.State != wire.GroupStateEmpty || len(d.Members) != 0 || lags != "0:10/20/10 1:0/5/5 2:0/0/0 " {
		t.Fatalf("describe: state %s members %d offsets %s", d.State, len(d.Members), lags)
	}

	// With a member, resets are refused and change nothing.
	l := newLedger(t)
	m := newMember(t, a, l, "g", "m1", "t")
	if err := m.join(30000); err != nil {
		t.Fatal(err)
	}
	mustCode(t, a.call(wire.PathGroupResetOffsets, req(wire.ResetToLatest), nil), wire.CodeNonEmptyGroup)
	dry = req(wire.ResetToLatest)
	dry.DryRun = true
	mustCode(t, a.call(wire.PathGroupResetOffsets, dry, nil), wire.CodeNonEmptyGroup)
	mustCode(t, a.call(wire.PathGroupDelete, wire.DeleteGroupRequest{GroupID: "g"}, nil), wire.CodeNonEmptyGroup)
	if got := committedOf(t, a, "g", "t"); got != "0:10 1:0 2:0 " {
		t.Fatalf("a refused reset changed the offsets: %s", got)
	}
	if err := a.call(wire.PathGroupDescribe+"?group=g", nil, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Members) != 1 || d.Members[0].MemberID != "m1" || d.Members[0].ClientHost == "" {
		t.Fatalf("describe with a member: %+v", d.Members)
	}
	for _, o := range d.Offsets {
		if o.MemberID != "m1" {
			t.Fatalf("partition %d owned by %q, want m1", o.Partition, o.MemberID)
		}
	}
	if err := m.leave(); err != nil {
		t.Fatal(err)
	}
	if got := resetTo(t, a, req(wire.ResetToLatest)); got != "0:20 1:5 2:0 " {
		t.Fatalf("reset after the leave: %s", got)
	}
	var dr wire.DeleteGroupResponse
	if err := a.call(wire.PathGroupDelete, wire.DeleteGroupRequest{GroupID: "g"}, &dr); err != nil || dr.OffsetsDeleted != 3 {
		t.Fatalf("delete: %+v %v", dr, err)
	}
	var lg wire.ListGroupsResponse
	if err := a.call(wire.PathGroupList, nil, &lg); err != nil || len(lg.Groups) != 0 {
		t.Fatalf("list after delete: %+v %v", lg, err)
	}
}
