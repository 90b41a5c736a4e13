package metastate

import "strand.dev/client/wire"

// updatePartitions applies the controller's leader elections, ISR changes
// and reassignments. The command as a whole needs the current controller
// epoch; then each change is applied or rejected on its own, in order (a
// later change of the same partition sees the earlier one applied).
func (b *builder) updatePartitions(c *wire.UpdatePartitionsCmd) ([]wire.RejectedChange, error) {
	if err := b.checkController(c.ControllerEpoch); err != nil {
		return nil, err
	}
	var rejected []wire.RejectedChange
	for i := range c.Changes {
		ch := &c.Changes[i]
		if we := b.checkChange(ch); we != nil {
			rejected = append(rejected, wire.RejectedChange{Topic: ch.Topic, Partition: ch.Partition, Code: we.Code, Message: we.Message})
			continue
		}
		mp := b.mutPartition(ch.Topic, ch.Partition)
		if ch.Replicas != nil {
			mp.Replicas = append([]int32{}, ch.Replicas...)
		}
		mp.ISR = append([]int32{}, ch.ISR...)
		if ch.BumpLeaderEpoch || ch.Leader != mp.Leader {
			mp.LeaderEpoch++
		}
		mp.Leader = ch.Leader
		mp.PartitionEpoch++
	}
	return rejected, nil
}

// checkChange decides whether one partition change can be applied: nil, or
// the reason it cannot.
func (b *builder) checkChange(ch *wire.PartitionChange) *wire.Error {
	name := partitionName(ch.Topic, ch.Partition)
	p := b.partition(ch.Topic, ch.Partition)
	if p == nil {
		return wire.Errorf(wire.CodeUnknownTopicOrPartition, "partition %s does not exist", name)
	}
	if p.PartitionEpoch != ch.ExpectedPartitionEpoch {
		return wire.Errorf(wire.CodeInvalidUpdateVersion, "partition %s is at partition epoch %d, not %d", name, p.PartitionEpoch, ch.ExpectedPartitionEpoch)
	}
	replicas := p.Replicas
	if ch.Replicas != nil {
		replicas = ch.Replicas
		for _, r := range replicas {
			if b.node(r) == nil {
				return wire.Errorf(wire.CodeInvalidRequest, "partition %s: replica %d is not a registered node", name, r)
			}
		}
	}
	for _, r := range ch.ISR {
		if !contains(replicas, r) {
			return wire.Errorf(wire.CodeInvalidRequest, "partition %s: isr member %d is not a replica %v", name, r, replicas)
		}
		if n := b.node(r); n == nil || n.Fenced {
			return wire.Errorf(wire.CodeInvalidRequest, "partition %s: isr member %d is fenced or unregistered", name, r)
		}
	}
	if ch.Leader != -1 && !contains(ch.ISR, ch.Leader) {
		return wire.Errorf(wire.CodeInvalidRequest, "partition %s: leader %d is not in the new isr %v", name, ch.Leader, ch.ISR)
	}
	return nil
}

// alterISR applies a partition leader's ISR shrink or expand.
func (b *builder) alterISR(c *wire.AlterISRCmd) error {
	name := partitionName(c.Topic, c.Partition)
	p := b.partition(c.Topic, c.Partition)
	if p == nil {
		return wire.Errorf(wire.CodeUnknownTopicOrPartition, "partition %s does not exist", name)
	}
	switch {
	case c.LeaderEpoch < p.LeaderEpoch:
		return leaderErr(wire.CodeFencedLeaderEpoch, p, "alter_isr of %s at leader epoch %d: the partition is at leader epoch %d", name, c.LeaderEpoch, p.LeaderEpoch)
	case c.LeaderEpoch > p.LeaderEpoch:
		return leaderErr(wire.CodeUnknownLeaderEpoch, p, "alter_isr of %s at leader epoch %d: the partition is only at leader epoch %d", name, c.LeaderEpoch, p.LeaderEpoch)
	case c.LeaderID != p.Leader:
		return leaderErr(wire.CodeNotLeaderOrFollower, p, "alter_isr of %s by node %d: the leader is %d", name, c.LeaderID, p.Leader)
	case c.ExpectedPartitionEpoch != p.PartitionEpoch:
		return wire.Errorf(wire.CodeInvalidUpdateVersion, "partition %s is at partition epoch %d, not %d", name, p.PartitionEpoch, c.ExpectedPartitionEpoch)
	}
	for _, r := range c.ISR {
		if !contains(p.Replicas, r) {
			return wire.Errorf(wire.CodeInvalidRequest, "partition %s: isr member %d is not a replica %v", name, r, p.Replicas)
		}
		if contains(p.ISR, r) {
			continue
		}
		if n := b.node(r); n == nil || n.Fenced {
			return wire.Errorf(wire.CodeInvalidRequest, "partition %s: node %d is fenced or unregistered and cannot join the isr", name, r)
		}
	}
	mp := b.mutPartition(c.Topic, c.Partition)
	mp.ISR = append([]int32{}, c.ISR...)
	mp.PartitionEpoch++
	return nil
}

// leaderErr is a *wire.Error naming the partition's current leader.
func leaderErr(code wire.Code, p *wire.PartitionRecord, format string, args ...any) error {
	e := wire.Errorf(code, format, args...)
	leader, epoch := p.Leader, p.LeaderEpoch
	e.Leader, e.LeaderEpoch = &leader, &epoch
	return e
}
