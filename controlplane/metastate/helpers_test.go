package metastate

import (
	"errors"
	"fmt"
	"testing"

	"strand.dev/client/wire"
)

// Command builders for tests.

func noop() *wire.Command { return &wire.Command{Type: wire.CmdNoop} }

func register(id int32, addr string, inc int64) *wire.Command {
	return &wire.Command{Type: wire.CmdRegisterNode, RegisterNode: &wire.RegisterNodeCmd{Node: wire.NodeRecord{
		ID: id, Addr: addr, GossipAddr: "127.0.0.1:7946", Rack: "r1", Incarnation: inc,
	}}}
}

func fence(epoch int64, id int32, fenced bool) *wire.Command {
	return &wire.Command{Type: wire.CmdSetNodeFenced, SetNodeFenced: &wire.SetNodeFencedCmd{ControllerEpoch: epoch, NodeID: id, Fenced: fenced}}
}

func acquire(holder string, epoch int64, lapsed uint64) *wire.Command {
	return &wire.Command{Type: wire.CmdAcquireLease, AcquireLease: &wire.AcquireLeaseCmd{
		Holder: holder, Addr: "127.0.0.1:8000", Epoch: epoch, LeaseMs: 3000, LapsedRenewedAt: lapsed,
	}}
}

func release(holder string, epoch int64) *wire.Command {
	return &wire.Command{Type: wire.CmdReleaseLease, ReleaseLease: &wire.ReleaseLeaseCmd{Holder: holder, Epoch: epoch}}
}

func createTopic(epoch int64, name string, replicas ...[]int32) *wire.Command {
	t := wire.TopicRecord{Name: name}
	for i, r := range replicas {
		t.Partitions = append(t.Partitions, &wire.PartitionRecord{Partition: int32(i), Replicas: r})
	}
	return &wire.Command{Type: wire.CmdCreateTopic, CreateTopic: &wire.CreateTopicCmd{ControllerEpoch: epoch, Topic: t}}
}

func withConfigs(c *wire.Command, cfg map[string]string) *wire.Command {
	c.CreateTopic.Topic.Configs = cfg
	return c
}

func withID(c *wire.Command, id string) *wire.Command {
	c.CreateTopic.Topic.ID = id
	return c
}

func deleteTopic(epoch int64, name string) *wire.Command {
	return &wire.Command{Type: wire.CmdDeleteTopic, DeleteTopic: &wire.DeleteTopicCmd{ControllerEpoch: epoch, Name: name}}
}

func alterConfigs(epoch int64, name string, set map[string]string, del ...string) *wire.Command {
	return &wire.Command{Type: wire.CmdAlterTopicConfigs, AlterTopicConfigs: &wire.AlterTopicConfigsCmd{ControllerEpoch: epoch, Name: name, Set: set, Delete: del}}
}

func update(epoch int64, changes ...wire.PartitionChange) *wire.Command {
	return &wire.Command{Type: wire.CmdUpdatePartitions, UpdatePartitions: &wire.UpdatePartitionsCmd{ControllerEpoch: epoch, Changes: changes}}
}

func change(topic string, p, expected, leader int32, isr []int32) wire.PartitionChange {
	return wire.PartitionChange{Topic: topic, Partition: p, ExpectedPartitionEpoch: expected, Leader: leader, ISR: isr}
}

func alterISR(topic string, p, leader, leaderEpoch, expected int32, isr []int32) *wire.Command {
	return &wire.Command{Type: wire.CmdAlterISR, AlterISR: &wire.AlterISRCmd{
		Topic: topic, Partition: p, LeaderID: leader, LeaderEpoch: leaderEpoch, ExpectedPartitionEpoch: expected, ISR: isr,
	}}
}

func claim(p int32, coord string, expected int64) *wire.Command {
	return &wire.Command{Type: wire.CmdClaimOffsetsOwner, ClaimOffsetsOwner: &wire.ClaimOffsetsOwnerCmd{
		Partition: p, Coordinator: coord, Addr: "127.0.0.1:9100", ExpectedEpoch: expected,
	}}
}

func releaseOwner(p int32, coord string, epoch int64) *wire.Command {
	return &wire.Command{Type: wire.CmdReleaseOffsetsOwner, ReleaseOffsetsOwner: &wire.ReleaseOffsetsOwnerCmd{Partition: p, Coordinator: coord, Epoch: epoch}}
}

func allocate(n int64) *wire.Command {
	return &wire.Command{Type: wire.CmdAllocateProducerIDs, AllocateProducerIDs: &wire.AllocateProducerIDsCmd{Count: n}}
}

func unregister(epoch int64, id int32) *wire.Command {
	return &wire.Command{Type: wire.CmdUnregisterNode, UnregisterNode: &wire.UnregisterNodeCmd{ControllerEpoch: epoch, NodeID: id}}
}

func addr(id int32) string { return fmt.Sprintf("127.0.0.1:%d", 9000+id) }

// fixture is a machine with a base cluster:
//
//	nodes 1, 2, 3 registered and unfenced, node 4 registered and fenced
//	lease held by "c1" at epoch 1 (renewed at version 5)
//	topic "t": partition 0 replicas [1 2 3], partition 1 replicas [2 3 1]
//
// The base image is at version 9.
type fixture struct {
	t     *testing.T
	m     *Machine
	index uint64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, m: New("test-cluster")}
	for id := int32(1); id <= 4; id++ {
		f.mustApply(register(id, addr(id), 100))
	}
	f.mustApply(acquire("c1", 0, 0))
	for id := int32(1); id <= 3; id++ {
		f.mustApply(fence(1, id, false))
	}
	f.mustApply(createTopic(1, "t", []int32{1, 2, 3}, []int32{2, 3, 1}))
	if v := f.m.Image().Version; v != 9 {
		t.Fatalf("fixture image at version %d, want 9", v)
	}
	return f
}

// apply applies cmd at the next index.
func (f *fixture) apply(cmd *wire.Command) (wire.ProposeResponse, error) {
	f.index++
	return f.m.ApplyCommand(f.index, cmd)
}

func (f *fixture) mustApply(cmd *wire.Command) wire.ProposeResponse {
	f.t.Helper()
	resp, err := f.apply(cmd)
	if err != nil {
		f.t.Fatalf("apply %s: %v", cmd.Type, err)
	}
	return resp
}

func part(img *wire.Image, topic string, p int32) *wire.PartitionRecord {
	return img.Topics[topic].Partitions[p]
}

func codeOf(err error) wire.Code {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return ""
}

func sameIDs(a, b []int32) bool {
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
