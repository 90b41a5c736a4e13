package metastate

import (
	"sort"

	"strand.dev/client/wire"
)

// registerNode records a data node at its (new) incarnation. The record
// starts fenced, whatever the command says: the active controller unfences it
// once gossip sees it alive. Re-registering a node that was unfenced fences
// it, with the effects of set_node_fenced (a restarted process lost its
// in-memory state and must catch up before it leads or counts as in sync).
func (b *builder) registerNode(c *wire.RegisterNodeCmd) error {
	n := c.Node
	if old := b.node(n.ID); old != nil {
		if !old.Fenced && old.Addr != n.Addr {
			return wire.Errorf(wire.CodeDuplicateBrokerRegistration, "node %d is registered, live and unfenced at %s; %s cannot register with the same id", n.ID, old.Addr, n.Addr)
		}
		if n.Incarnation <= old.Incarnation {
			return wire.Errorf(wire.CodeStaleBrokerEpoch, "node %d: incarnation %d is not above the recorded incarnation %d", n.ID, n.Incarnation, old.Incarnation)
		}
		if !old.Fenced {
			b.fenceEverywhere(n.ID)
		}
	}
	n.Fenced = true
	b.putNode(&n)
	return nil
}

// setNodeFenced fences or unfences a registered node (controller only).
func (b *builder) setNodeFenced(c *wire.SetNodeFencedCmd) error {
	if err := b.checkController(c.ControllerEpoch); err != nil {
		return err
	}
	n := b.node(c.NodeID)
	if n == nil {
		return wire.Errorf(wire.CodeInvalidRequest, "node %d is not registered", c.NodeID)
	}
	if n.Fenced == c.Fenced {
		return nil
	}
	b.mutNode(c.NodeID).Fenced = c.Fenced
	if c.Fenced {
		b.fenceEverywhere(c.NodeID)
	}
	return nil
}

// fenceEverywhere removes node from every ISR and clears its leaderships.
// Each partition touched gets one partition epoch bump; one whose leader was
// the node also gets a leader epoch bump and leader -1.
//
// As in Kafka, the last member of an ISR stays in it: it holds every
// acknowledged record, so when it comes back it can lead again cleanly,
// while removing it would leave only an unclean election.
func (b *builder) fenceEverywhere(node int32) {
	for name, t := range b.img.Topics {
		for i, p := range t.Partitions {
			inISR := contains(p.ISR, node) && len(p.ISR) > 1
			if !inISR && p.Leader != node {
				continue
			}
			mp := b.mutPartition(name, int32(i))
			if mp.Leader == node {
				mp.Leader = -1
				mp.LeaderEpoch++
			}
			if inISR {
				mp.ISR = without(mp.ISR, node)
			}
			mp.PartitionEpoch++
		}
	}
}

// unregisterNode removes a node that replicates nothing (controller only).
func (b *builder) unregisterNode(c *wire.UnregisterNodeCmd) error {
	if err := b.checkController(c.ControllerEpoch); err != nil {
		return err
	}
	if b.node(c.NodeID) == nil {
		return wire.Errorf(wire.CodeInvalidRequest, "node %d is not registered", c.NodeID)
	}
	if where := b.replicaOf(c.NodeID); where != "" {
		return wire.Errorf(wire.CodeInvalidRequest, "node %d is still a replica of %s; move its replicas before unregistering it", c.NodeID, where)
	}
	b.removeNode(c.NodeID)
	return nil
}

// replicaOf names the first partition (in name order) the node replicates,
// leads or is in the ISR of, or "".
func (b *builder) replicaOf(node int32) string {
	var names []string
	for name, t := range b.img.Topics {
		for _, p := range t.Partitions {
			if p.Leader == node || contains(p.Replicas, node) || contains(p.ISR, node) {
				names = append(names, partitionName(name, p.Partition))
				break
			}
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return names[0]
}

// without returns a new slice of ids without id.
func without(ids []int32, id int32) []int32 {
	out := make([]int32, 0, len(ids))
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}
