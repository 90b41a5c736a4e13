package clusteragent

import (
	"maps"
	"slices"

	"strand.dev/client/wire"
)

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Assignment is what the metadata image says about one partition this node
// is a replica of: the replica layer makes the node lead it (Leader is this
// node), follow Leader, or hold it without a leader (Leader -1).
type Assignment struct {
	Topic     string
	TopicID   string
	Partition int32
	// Configs are the topic's configs (Kafka's names).
	Configs  map[string]string
	Replicas []int32
	ISR      []int32
	// Leader is the leader's node id, -1 while there is none; LeaderAddr its
	// data-plane API address when known.
	Leader         int32
	LeaderAddr     string
	LeaderEpoch    int32
	PartitionEpoch int32
	// Version is the image version the assignment was read from.
	Version uint64
}

// Key names the assignment's partition.
func (a *Assignment) Key() TopicPartition { return TopicPartition{a.Topic, a.Partition} }

// same reports whether a and b say the same (whatever their versions).
func (a *Assignment) same(b *Assignment) bool {
	return a.Topic == b.Topic && a.TopicID == b.TopicID && a.Partition == b.Partition &&
		a.Leader == b.Leader && a.LeaderAddr == b.LeaderAddr && a.LeaderEpoch == b.LeaderEpoch &&
		a.PartitionEpoch == b.PartitionEpoch && slices.Equal(a.Replicas, b.Replicas) &&
		slices.Equal(a.ISR, b.ISR) && maps.Equal(a.Configs, b.Configs)
}

// Replicas is this node's replica layer as the agent drives it. Its methods
// are called from the agent's apply goroutine, one at a time.
type Replicas interface {
	// Apply makes this node's replica of the partition match a (creating
	// its log when the node has none).
	Apply(a Assignment) error
	// Remove stops serving the partition and deletes its data; removing a
	// partition the node does not have is not an error.
	Remove(topic string, partition int32) error
	// Local lists the partitions this node has data or state for.
	Local() []TopicPartition
}

// assignments lists what img asks of node: every partition it is a replica
// of (or, in a moment of reassignment, leads), by partition.
func assignments(img *wire.Image, node int32) map[TopicPartition]Assignment {
	out := make(map[TopicPartition]Assignment)
	for name, t := range img.Topics {
		for _, p := range t.Partitions {
			if !slices.Contains(p.Replicas, node) && p.Leader != node {
				continue
			}
			a := Assignment{
				Topic: name, TopicID: t.ID, Partition: p.Partition, Configs: t.Configs,
				Replicas: p.Replicas, ISR: p.ISR, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
				PartitionEpoch: p.PartitionEpoch, Version: img.Version,
			}
			if n := img.Nodes[p.Leader]; n != nil {
				a.LeaderAddr = n.Addr
			}
			out[a.Key()] = a
		}
	}
	return out
}
