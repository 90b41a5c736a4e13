package group

import (
	"slices"

	"strand.dev/client/wire"
	"strand.dev/coordinator/assign"
)

// TopicPartition names one partition.
type TopicPartition = assign.TopicPartition

// tpSet is a set of partitions.
type tpSet map[TopicPartition]struct{}

func newSet(tps []TopicPartition) tpSet {
	s := make(tpSet, len(tps))
	for _, tp := range tps {
		s[tp] = struct{}{}
	}
	return s
}

func (s tpSet) has(tp TopicPartition) bool { _, ok := s[tp]; return ok }

// sorted lists the set in order.
func (s tpSet) sorted() []TopicPartition {
	out := make([]TopicPartition, 0, len(s))
	for tp := range s {
		out = append(out, tp)
	}
	slices.SortFunc(out, TopicPartition.Compare)
	return out
}

// FromWire flattens wire partition lists.
func FromWire(in []wire.TopicPartitions) []TopicPartition {
	var out []TopicPartition
	for _, t := range in {
		for _, p := range t.Partitions {
			out = append(out, TopicPartition{Topic: t.Topic, Partition: p})
		}
	}
	return out
}

// ToWire groups sorted partitions by topic. It never returns nil.
func ToWire(tps []TopicPartition) []wire.TopicPartitions {
	out := []wire.TopicPartitions{}
	for _, tp := range tps {
		if n := len(out); n > 0 && out[n-1].Topic == tp.Topic {
			out[n-1].Partitions = append(out[n-1].Partitions, tp.Partition)
			continue
		}
		out = append(out, wire.TopicPartitions{Topic: tp.Topic, Partitions: []int32{tp.Partition}})
	}
	return out
}
