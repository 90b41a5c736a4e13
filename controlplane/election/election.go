package election

import (
	"sort"
	"strconv"

	"strand.dev/client/wire"
)

// ConfigUncleanLeaderElection is the topic config that allows electing a
// replica outside the ISR (Kafka's name).
const ConfigUncleanLeaderElection = "unclean.leader.election.enable"

// DefaultMaxChangesPerCommand is how many partition changes Commands puts
// into one update_partitions command when asked for 0.
const DefaultMaxChangesPerCommand = 5000

// Input is what Compute decides from. Maps may be nil.
type Input struct {
	Image *wire.Image
	// Live are the data node ids gossip sees alive.
	Live map[int32]bool
	// ShuttingDown are the nodes in controlled shutdown: they lose their
	// leaderships where an in-sync replica can take over and are not
	// unfenced, but stay in the ISR until they leave.
	ShuttingDown map[int32]bool
	// Rebalance moves leadership back to preferred replicas that are in sync.
	Rebalance bool
	// UncleanDefault applies to topics that do not set
	// unclean.leader.election.enable (Kafka's default is false).
	UncleanDefault bool
}

// PartitionRef names a partition.
type PartitionRef struct {
	Topic     string
	Partition int32
}

// String renders topic-partition.
func (p PartitionRef) String() string { return p.Topic + "-" + strconv.Itoa(int(p.Partition)) }

// Stats counts what a plan does.
type Stats struct {
	// Elections are new leaders for partitions whose leader was dead,
	// missing or out of the ISR.
	Elections int
	// Unclean are elections of a replica outside the ISR (included in
	// Elections).
	Unclean int
	// ShutdownMoves are leaderships moved off nodes in controlled shutdown.
	ShutdownMoves int
	// Rebalances are leaderships moved back to preferred replicas.
	Rebalances int
	// ISRShrinks are changes that only drop dead nodes from an ISR.
	ISRShrinks int
}

// Plan is what the controller must write, in order: Unfence, Changes, Fence.
type Plan struct {
	Unfence []int32
	Changes []wire.PartitionChange
	Fence   []int32
	// Offline lists the partitions left without a leader.
	Offline []PartitionRef
	// Stuck lists partitions led by a node in controlled shutdown that no
	// in-sync replica can take over.
	Stuck []PartitionRef
	Stats Stats
}

// Empty reports whether the plan writes nothing.
func (p *Plan) Empty() bool {
	return len(p.Unfence) == 0 && len(p.Changes) == 0 && len(p.Fence) == 0
}

// Compute returns the plan for in. It does not modify the image.
func Compute(in Input) Plan {
	var plan Plan
	img := in.Image
	if img == nil {
		return plan
	}
	registered := func(id int32) bool { _, ok := img.Nodes[id]; return ok }
	alive := func(id int32) bool { return in.Live[id] && registered(id) }
	eligible := func(id int32) bool { return alive(id) && !in.ShuttingDown[id] }

	ids := make([]int32, 0, len(img.Nodes))
	for id := range img.Nodes {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		n := img.Nodes[id]
		switch {
		case n.Fenced && eligible(id):
			plan.Unfence = append(plan.Unfence, id)
		case !n.Fenced && !alive(id):
			plan.Fence = append(plan.Fence, id)
		}
	}

	names := make([]string, 0, len(img.Topics))
	for name := range img.Topics {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := img.Topics[name]
		unclean := in.UncleanDefault
		if v, ok := t.Configs[ConfigUncleanLeaderElection]; ok {
			unclean = v == "true"
		}
		for _, p := range t.Partitions {
			decide(&plan, name, p, in, alive, eligible, unclean)
		}
	}
	return plan
}

// decide appends partition p's change, if any, to the plan.
func decide(plan *Plan, topic string, p *wire.PartitionRecord, in Input, alive, eligible func(int32) bool, unclean bool) {
	ref := PartitionRef{Topic: topic, Partition: p.Partition}
	isr := make([]int32, 0, len(p.ISR))
	for _, r := range p.ISR {
		if alive(r) {
			isr = append(isr, r)
		}
	}
	if len(isr) == 0 && len(p.ISR) > 0 {
		// Every in-sync replica is dead: the ISR is kept as it is
		// (Kafka's rule), so the first of them to return can lead
		// without losing acknowledged records.
		isr = append(isr, p.ISR...)
	}
	if len(isr) == 0 && len(p.Replicas) == 1 && eligible(p.Replicas[0]) {
		// A single replica is always the last one in sync, even once
		// fencing has emptied the ISR record.
		isr = append(isr, p.Replicas[0])
	}
	leader := p.Leader
	kind := ""
	leaderOK := leader >= 0 && alive(leader) && contains(isr, leader)
	switch {
	case !leaderOK || in.ShuttingDown[leader]:
		next := firstOf(p.Replicas, func(r int32) bool { return contains(isr, r) && eligible(r) })
		switch {
		case next >= 0:
			if leaderOK {
				kind = "shutdown"
			} else {
				kind = "election"
			}
			leader = next
		case leaderOK:
			// In controlled shutdown with no in-sync replica to take
			// over: it keeps leading until it leaves.
			plan.Stuck = append(plan.Stuck, ref)
		case firstOf(p.Replicas, func(r int32) bool { return contains(isr, r) && alive(r) }) >= 0:
			// Only in-sync replicas in controlled shutdown are left:
			// one of them leads rather than losing data to an
			// unclean election or going offline.
			leader = firstOf(p.Replicas, func(r int32) bool { return contains(isr, r) && alive(r) })
			kind = "election"
			plan.Stuck = append(plan.Stuck, ref)
		case unclean:
			if u := firstOf(p.Replicas, eligible); u >= 0 {
				leader, isr, kind = u, []int32{u}, "unclean"
			} else {
				leader = -1
			}
		default:
			leader = -1
		}
	case in.Rebalance && len(p.Replicas) > 0 && p.Replicas[0] != leader:
		if pref := p.Replicas[0]; contains(isr, pref) && eligible(pref) {
			leader, kind = pref, "rebalance"
		}
	}
	if leader < 0 {
		plan.Offline = append(plan.Offline, ref)
	}
	if leader == p.Leader && equal(isr, p.ISR) {
		return
	}
	switch kind {
	case "election":
		plan.Stats.Elections++
	case "unclean":
		plan.Stats.Elections++
		plan.Stats.Unclean++
	case "shutdown":
		plan.Stats.ShutdownMoves++
	case "rebalance":
		plan.Stats.Rebalances++
	default:
		if leader == p.Leader {
			plan.Stats.ISRShrinks++
		}
	}
	plan.Changes = append(plan.Changes, wire.PartitionChange{
		Topic:                  topic,
		Partition:              p.Partition,
		ExpectedPartitionEpoch: p.PartitionEpoch,
		Leader:                 leader,
		ISR:                    isr,
		BumpLeaderEpoch:        leader != p.Leader,
	})
}

// Commands turns the plan into the commands to propose, in order: one
// set_node_fenced per node to unfence, the partition changes in
// update_partitions commands of at most maxChanges changes
// (DefaultMaxChangesPerCommand when maxChanges < 1), one set_node_fenced per
// node to fence. Each carries the controller epoch.
func (p *Plan) Commands(controllerEpoch int64, maxChanges int) []*wire.Command {
	if maxChanges < 1 {
		maxChanges = DefaultMaxChangesPerCommand
	}
	var out []*wire.Command
	fence := func(id int32, fenced bool) *wire.Command {
		return &wire.Command{Type: wire.CmdSetNodeFenced, SetNodeFenced: &wire.SetNodeFencedCmd{
			ControllerEpoch: controllerEpoch, NodeID: id, Fenced: fenced,
		}}
	}
	for _, id := range p.Unfence {
		out = append(out, fence(id, false))
	}
	for start := 0; start < len(p.Changes); start += maxChanges {
		end := min(start+maxChanges, len(p.Changes))
		out = append(out, &wire.Command{Type: wire.CmdUpdatePartitions, UpdatePartitions: &wire.UpdatePartitionsCmd{
			ControllerEpoch: controllerEpoch, Changes: p.Changes[start:end],
		}})
	}
	for _, id := range p.Fence {
		out = append(out, fence(id, true))
	}
	return out
}

func firstOf(ids []int32, ok func(int32) bool) int32 {
	for _, id := range ids {
		if ok(id) {
			return id
		}
	}
	return -1
}

func contains(ids []int32, id int32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func equal(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
