package election

import (
	"fmt"
	"reflect"
	"testing"

	"strand.dev/client/wire"
)

// part builds a partition record.
func part(n int32, replicas []int32, leader int32, isr []int32) *wire.PartitionRecord {
	return &wire.PartitionRecord{Partition: n, Replicas: replicas, Leader: leader, ISR: isr, LeaderEpoch: 3, PartitionEpoch: 7}
}

// image builds an image with nodes 1..n (fenced as listed) and one topic "t".
func image(n int32, fenced []int32, cfg map[string]string, parts ...*wire.PartitionRecord) *wire.Image {
	img := &wire.Image{Nodes: map[int32]*wire.NodeRecord{}, Topics: map[string]*wire.TopicRecord{}}
	for id := int32(1); id <= n; id++ {
		img.Nodes[id] = &wire.NodeRecord{ID: id}
	}
	for _, id := range fenced {
		img.Nodes[id].Fenced = true
	}
	img.Topics["t"] = &wire.TopicRecord{Name: "t", Configs: cfg, Partitions: parts}
	return img
}

func live(ids ...int32) map[int32]bool {
	m := map[int32]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func change(p, epoch, leader int32, isr []int32, bump bool) wire.PartitionChange {
	return wire.PartitionChange{Topic: "t", Partition: p, ExpectedPartitionEpoch: epoch, Leader: leader, ISR: isr, BumpLeaderEpoch: bump}
}

func ids(v ...int32) []int32 {
	if v == nil {
		return []int32{}
	}
	return v
}

func TestCompute(t *testing.T) {
	unclean := map[string]string{ConfigUncleanLeaderElection: "true"}
	noUnclean := map[string]string{ConfigUncleanLeaderElection: "false"}
	cases := []struct {
		name    string
		in      Input
		changes []wire.PartitionChange
		fence   []int32
		unfence []int32
		offline int
		stuck   int
		stats   Stats
	}{
		{name: "all healthy",
			in: Input{Image: image(3, nil, nil, part(0, ids(1, 2, 3), 1, ids(1, 2, 3))), Live: live(1, 2, 3), Rebalance: true}},
		{name: "dead leader: next in-sync replica in replica order",
			in:      Input{Image: image(3, nil, nil, part(0, ids(1, 3, 2), 1, ids(1, 2, 3))), Live: live(2, 3)},
			changes: []wire.PartitionChange{change(0, 7, 3, ids(2, 3), true)},
			fence:   ids(1), stats: Stats{Elections: 1}},
		{name: "dead follower: isr shrink only",
			in:      Input{Image: image(3, nil, nil, part(0, ids(1, 2, 3), 1, ids(1, 2, 3))), Live: live(1, 2)},
			changes: []wire.PartitionChange{change(0, 7, 1, ids(1, 2), false)},
			fence:   ids(3), stats: Stats{ISRShrinks: 1}},
		{name: "dead leader, out-of-sync replica not elected",
			in:      Input{Image: image(3, nil, nil, part(0, ids(1, 2, 3), 1, ids(1, 3))), Live: live(2, 3)},
			changes: []wire.PartitionChange{change(0, 7, 3, ids(3), true)},
			fence:   ids(1), stats: Stats{Elections: 1}},
		{name: "last isr member dead, unclean off: offline, isr kept",
			in:      Input{Image: image(3, nil, nil, part(0, ids(1, 2, 3), 1, ids(1))), Live: live(2, 3)},
			changes: []wire.PartitionChange{change(0, 7, -1, ids(1), true)},
			fence:   ids(1), offline: 1},
		{name: "every isr member dead: isr kept",
			in:      Input{Image: image(3, nil, nil, part(0, ids(1, 2, 3), 1, ids(1, 2))), Live: live(3)},
			changes: []wire.PartitionChange{change(0, 7, -1, ids(1, 2), true)},
			fence:   ids(1, 2), offline: 1},
		{name: "kept isr member returns: it leads",
			in:      Input{Image: image(3, ids(2), nil, part(0, ids(1, 2, 3), -1, ids(2))), Live: live(2, 3)},
			changes: []wire.PartitionChange{change(0, 7, 2, ids(2), true)},
			fence:   ids(1), unfence: ids(2), stats: Stats{Elections: 1}},
		{name: "single replica, isr emptied by fencing, back: it leads",
			in:      Input{Image: image(2, nil, nil, part(0, ids(2), -1, ids())), Live: live(1, 2)},
			changes: []wire.PartitionChange{change(0, 7, 2, ids(2), true)},
			stats:   Stats{Elections: 1}},
		{name: "single replica still dead: offline, nothing written",
			in:      Input{Image: image(2, ids(2), nil, part(0, ids(2), -1, ids())), Live: live(1)},
			offline: 1},
		{name: "three replicas, isr emptied by fencing: offline without unclean",
			in:      Input{Image: image(3, nil, nil, part(0, ids(1, 2, 3), -1, ids())), Live: live(1, 2, 3)},
			offline: 1},
		{name: "last isr member dead, topic allows unclean",
			in:      Input{Image: image(3, nil, unclean, part(0, ids(1, 2, 3), 1, ids(1))), Live: live(2, 3)},
			changes: []wire.PartitionChange{change(0, 7, 2, ids(2), true)},
			fence:   ids(1), stats: Stats{Elections: 1, Unclean: 1}},
		{name: "controller default unclean, topic says false",
			in:      Input{Image: image(3, nil, noUnclean, part(0, ids(1, 2, 3), 1, ids(1))), Live: live(2, 3), UncleanDefault: true},
			changes: []wire.PartitionChange{change(0, 7, -1, ids(1), true)},
			fence:   ids(1), offline: 1},
		{name: "controller default unclean applies",
			in:      Input{Image: image(3, nil, nil, part(0, ids(1, 2, 3), 1, ids(1))), Live: live(2, 3), UncleanDefault: true},
			changes: []wire.PartitionChange{change(0, 7, 2, ids(2), true)},
			fence:   ids(1), stats: Stats{Elections: 1, Unclean: 1}},
		{name: "offline partition: nothing more to do",
			in:      Input{Image: image(3, ids(1), nil, part(0, ids(1, 2, 3), -1, ids())), Live: live(2, 3)},
			offline: 1},
		{name: "leaderless partition, isr member alive: elected",
			in:      Input{Image: image(3, nil, nil, part(0, ids(1, 2, 3), -1, ids(2))), Live: live(1, 2, 3)},
			changes: []wire.PartitionChange{change(0, 7, 2, ids(2), true)},
			stats:   Stats{Elections: 1}},
		{name: "returning node is unfenced, not yet in sync: no move",
			in:      Input{Image: image(3, ids(1), nil, part(0, ids(1, 2, 3), 2, ids(2, 3))), Live: live(1, 2, 3), Rebalance: true},
			unfence: ids(1)},
		{name: "preferred replica back in sync: rebalanced",
			in:      Input{Image: image(3, nil, nil, part(0, ids(1, 2, 3), 2, ids(2, 3, 1))), Live: live(1, 2, 3), Rebalance: true},
			changes: []wire.PartitionChange{change(0, 7, 1, ids(2, 3, 1), true)},
			stats:   Stats{Rebalances: 1}},
		{name: "rebalance disabled",
			in: Input{Image: image(3, nil, nil, part(0, ids(1, 2, 3), 2, ids(2, 3, 1))), Live: live(1, 2, 3)}},
		{name: "controlled shutdown of a leader: moved to an in-sync replica",
			in:      Input{Image: image(3, nil, nil, part(0, ids(1, 2, 3), 1, ids(1, 2, 3)), part(1, ids(2, 1, 3), 2, ids(2, 1, 3))), Live: live(1, 2, 3), ShuttingDown: live(1), Rebalance: true},
			changes: []wire.PartitionChange{change(0, 7, 2, ids(1, 2, 3), true)},
			stats:   Stats{ShutdownMoves: 1}},
		{name: "controlled shutdown, sole in-sync replica: stuck, keeps leading",
			in:    Input{Image: image(3, nil, nil, part(0, ids(1, 2, 3), 1, ids(1))), Live: live(1, 2, 3), ShuttingDown: live(1)},
			stuck: 1},
		{name: "shutting-down node is not unfenced",
			in: Input{Image: image(3, ids(1), nil, part(0, ids(2, 3), 2, ids(2, 3))), Live: live(1, 2, 3), ShuttingDown: live(1)}},
		{name: "dead leader, only a shutting-down isr member left: it leads",
			in:      Input{Image: image(3, nil, unclean, part(0, ids(1, 2, 3), 1, ids(1, 2))), Live: live(2, 3), ShuttingDown: live(2)},
			changes: []wire.PartitionChange{change(0, 7, 2, ids(2), true)},
			fence:   ids(1), stuck: 1, stats: Stats{Elections: 1}},
		{name: "unregistered isr member dropped",
			in:      Input{Image: image(2, nil, nil, part(0, ids(1, 2, 9), 1, ids(1, 2, 9))), Live: live(1, 2, 9)},
			changes: []wire.PartitionChange{change(0, 7, 1, ids(1, 2), false)},
			stats:   Stats{ISRShrinks: 1}},
		{name: "gossip sees an unregistered node: ignored",
			in: Input{Image: image(1, nil, nil, part(0, ids(1), 1, ids(1))), Live: live(1, 5)}},
		{name: "already fenced dead node: no second fence",
			in: Input{Image: image(2, ids(2), nil, part(0, ids(1, 2), 1, ids(1))), Live: live(1)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := Compute(tc.in)
			if !reflect.DeepEqual(plan.Changes, tc.changes) {
				t.Errorf("changes\n got %+v\nwant %+v", plan.Changes, tc.changes)
			}
			if !reflect.DeepEqual(plan.Fence, tc.fence) || !reflect.DeepEqual(plan.Unfence, tc.unfence) {
				t.Errorf("fence %v unfence %v, want %v %v", plan.Fence, plan.Unfence, tc.fence, tc.unfence)
			}
			if len(plan.Offline) != tc.offline || len(plan.Stuck) != tc.stuck {
				t.Errorf("offline %v stuck %v, want %d %d", plan.Offline, plan.Stuck, tc.offline, tc.stuck)
			}
			if plan.Stats != tc.stats {
				t.Errorf("stats %+v, want %+v", plan.Stats, tc.stats)
			}
			if plan.Empty() != (len(tc.changes) == 0 && len(tc.fence) == 0 && len(tc.unfence) == 0) {
				t.Errorf("Empty() = %v", plan.Empty())
			}
		})
	}
}

func TestComputeDoesNotModifyImage(t *testing.T) {
	img := image(3, nil, nil, part(0, ids(1, 2, 3), 1, ids(1, 2, 3)))
	before := fmt.Sprintf("%+v", *img.Topics["t"].Partitions[0])
	plan := Compute(Input{Image: img, Live: live(2, 3)})
	plan.Changes[0].ISR[0] = 99
	if after := fmt.Sprintf("%+v", *img.Topics["t"].Partitions[0]); after != before {
		t.Fatalf("image changed: %s -> %s", before, after)
	}
	if empty := Compute(Input{}); !empty.Empty() {
		t.Fatal("nil image gives a plan")
	}
}

func TestCommandsOrderAndBatching(t *testing.T) {
	plan := Plan{Unfence: ids(4), Fence: ids(1, 2)}
	for i := 0; i < 1000; i++ {
		plan.Changes = append(plan.Changes, change(int32(i), 0, 3, ids(3), true))
	}
	cmds := plan.Commands(9, 300)
	var types []wire.CommandType
	total := 0
	for _, c := range cmds {
		types = append(types, c.Type)
		switch c.Type {
		case wire.CmdSetNodeFenced:
			if c.SetNodeFenced.ControllerEpoch != 9 {
				t.Fatal("epoch not carried")
			}
		case wire.CmdUpdatePartitions:
			if c.UpdatePartitions.ControllerEpoch != 9 || len(c.UpdatePartitions.Changes) > 300 {
				t.Fatalf("batch of %d at epoch %d", len(c.UpdatePartitions.Changes), c.UpdatePartitions.ControllerEpoch)
			}
			total += len(c.UpdatePartitions.Changes)
		}
	}
	want := []wire.CommandType{wire.CmdSetNodeFenced, wire.CmdUpdatePartitions, wire.CmdUpdatePartitions,
		wire.CmdUpdatePartitions, wire.CmdUpdatePartitions, wire.CmdSetNodeFenced, wire.CmdSetNodeFenced}
	if !reflect.DeepEqual(types, want) || total != 1000 {
		t.Fatalf("types %v total %d", types, total)
	}
	if cmds[0].SetNodeFenced.Fenced || !cmds[len(cmds)-1].SetNodeFenced.Fenced {
		t.Fatal("unfence first, fence last")
	}
	if n := len(plan.Commands(1, 0)); n != 4 {
		t.Fatalf("default batching gave %d commands", n)
	}
}
