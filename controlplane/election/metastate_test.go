package election

import (
	"testing"
	"time"

	"strand.dev/client/wire"
	"strand.dev/controlplane/metastate"
)

// cluster is a metastate machine driven the way strand-meta drives it.
type cluster struct {
	t     *testing.T
	m     *metastate.Machine
	index uint64
	epoch int64
}

func newCluster(t *testing.T, nodes int32) *cluster {
	c := &cluster{t: t, m: metastate.New("test")}
	for id := int32(1); id <= nodes; id++ {
		c.apply(&wire.Command{Type: wire.CmdRegisterNode, RegisterNode: &wire.RegisterNodeCmd{Node: wire.NodeRecord{
			ID: id, Addr: "127.0.0.1:1", GossipAddr: "127.0.0.1:2", Incarnation: 1,
		}}})
	}
	resp := c.apply(&wire.Command{Type: wire.CmdAcquireLease, AcquireLease: &wire.AcquireLeaseCmd{Holder: "c1", Addr: "127.0.0.1:3", LeaseMs: 3000}})
	c.epoch = resp.Epoch
	return c
}

func (c *cluster) apply(cmd *wire.Command) wire.ProposeResponse {
	c.t.Helper()
	c.index++
	resp, err := c.m.ApplyCommand(c.index, cmd)
	if err != nil {
		c.t.Fatalf("apply %s: %v", cmd.Type, err)
	}
	if len(resp.Rejected) > 0 {
		c.t.Fatalf("apply %s: %d changes rejected, first %+v", cmd.Type, len(resp.Rejected), resp.Rejected[0])
	}
	return resp
}

// reconcile computes a plan for live and applies it; it returns the plan
// and how long Compute took.
func (c *cluster) reconcile(in Input) (Plan, time.Duration) {
	in.Image = c.m.Image()
	start := time.Now()
	plan := Compute(in)
	took := time.Since(start)
	for _, cmd := range plan.Commands(c.epoch, 0) {
		c.apply(cmd)
	}
	in.Image = c.m.Image()
	if again := Compute(in); !again.Empty() {
		c.t.Fatalf("plan not idempotent: after applying, another plan: unfence %v fence %v, %d changes, first %+v",
			again.Unfence, again.Fence, len(again.Changes), again.Changes)
	}
	return plan, took
}

// TestThousandElectionsOnMetastate fails the node leading 1,000 partitions,
// applies the plan through the real state machine, brings the node back and
// rebalances, checking each step and that a second computation is empty.
func TestThousandElectionsOnMetastate(t *testing.T) {
	c := newCluster(t, 4)
	all := Input{Live: live(1, 2, 3, 4)}
	if plan, _ := c.reconcile(all); len(plan.Unfence) != 4 {
		t.Fatalf("unfence %v", plan.Unfence)
	}
	const n = 1000
	topic := wire.TopicRecord{Name: "big"}
	followers := [][]int32{{2, 3}, {3, 4}, {4, 2}}
	for i := 0; i < n; i++ {
		topic.Partitions = append(topic.Partitions, &wire.PartitionRecord{Partition: int32(i), Replicas: append([]int32{1}, followers[i%3]...)})
	}
	c.apply(&wire.Command{Type: wire.CmdCreateTopic, CreateTopic: &wire.CreateTopicCmd{ControllerEpoch: c.epoch, Topic: topic}})
	before := c.m.Image().Topics["big"]

	// Node 1 fails.
	failed := Input{Live: live(2, 3, 4), Rebalance: true}
	start := time.Now()
	plan, took := c.reconcile(failed)
	applied := time.Since(start)
	t.Logf("1,000 elections: compute %v, compute+apply through metastate %v, %d commands", took, applied, len(plan.Commands(c.epoch, 0)))
	if plan.Stats.Elections != n || len(plan.Fence) != 1 || plan.Fence[0] != 1 {
		t.Fatalf("stats %+v fence %v", plan.Stats, plan.Fence)
	}
	if took > time.Second {
		t.Fatalf("computing 1,000 elections took %v", took)
	}
	img := c.m.Image()
	if !img.Nodes[1].Fenced {
		t.Fatal("node 1 not fenced")
	}
	for i, p := range img.Topics["big"].Partitions {
		old := before.Partitions[i]
		if p.Leader != old.Replicas[1] {
			t.Fatalf("partition %d: leader %d, want the next replica %d of %v", i, p.Leader, old.Replicas[1], old.Replicas)
		}
		if p.LeaderEpoch != old.LeaderEpoch+1 || len(p.ISR) != 2 {
			t.Fatalf("partition %d: %+v (was %+v)", i, p, old)
		}
	}

	// Node 1 comes back: unfenced; leaders stay until it is in sync.
	if plan, _ := c.reconcile(Input{Live: live(1, 2, 3, 4), Rebalance: true}); len(plan.Unfence) != 1 || len(plan.Changes) != 0 {
		t.Fatalf("return: unfence %v, %d changes", plan.Unfence, len(plan.Changes))
	}
	// Its replicas catch up; the leaders add it back to the ISR.
	for i, p := range c.m.Image().Topics["big"].Partitions {
		c.apply(&wire.Command{Type: wire.CmdAlterISR, AlterISR: &wire.AlterISRCmd{
			Topic: "big", Partition: int32(i), LeaderID: p.Leader, LeaderEpoch: p.LeaderEpoch,
			ExpectedPartitionEpoch: p.PartitionEpoch, ISR: append(append([]int32{}, p.ISR...), 1),
		}})
	}
	plan, _ = c.reconcile(Input{Live: live(1, 2, 3, 4), Rebalance: true})
	if plan.Stats.Rebalances != n {
		t.Fatalf("rebalances %d", plan.Stats.Rebalances)
	}
	for i, p := range c.m.Image().Topics["big"].Partitions {
		if p.Leader != 1 {
			t.Fatalf("partition %d: leader %d after rebalancing", i, p.Leader)
		}
	}

	// A controlled shutdown of node 1 moves every leadership away again.
	plan, _ = c.reconcile(Input{Live: live(1, 2, 3, 4), ShuttingDown: live(1), Rebalance: true})
	if plan.Stats.ShutdownMoves != n {
		t.Fatalf("shutdown moves %d", plan.Stats.ShutdownMoves)
	}
	for i, p := range c.m.Image().Topics["big"].Partitions {
		if p.Leader == 1 || len(p.ISR) != 3 {
			t.Fatalf("partition %d after controlled shutdown: %+v", i, p)
		}
	}
}

// BenchmarkCompute1000 measures the election decision for 1,000 partitions
// of one failed node.
func BenchmarkCompute1000(b *testing.B) {
	img := &wire.Image{Nodes: map[int32]*wire.NodeRecord{}, Topics: map[string]*wire.TopicRecord{}}
	for id := int32(1); id <= 4; id++ {
		img.Nodes[id] = &wire.NodeRecord{ID: id}
	}
	t := &wire.TopicRecord{Name: "big"}
	for i := 0; i < 1000; i++ {
		t.Partitions = append(t.Partitions, &wire.PartitionRecord{Partition: int32(i), Replicas: []int32{1, 2, 3}, Leader: 1, ISR: []int32{1, 2, 3}})
	}
	img.Topics["big"] = t
	in := Input{Image: img, Live: live(2, 3, 4), Rebalance: true}
	for b.Loop() {
		p := Compute(in)
		if p.Stats.Elections != 1000 {
			b.Fatal(p.Stats)
		}
	}
}
