package assign

import "strand.dev/client/wire"

// RoundRobin is Kafka's round-robin assignor: every subscribed partition, in
// topic then partition order, goes to the next member (in order, circularly)
// that subscribes to its topic.
type RoundRobin struct{}

// Name implements Assignor.
func (RoundRobin) Name() string { return wire.AssignorRoundRobin }

// Assign implements Assignor.
func (RoundRobin) Assign(in Input) Assignment {
	out := emptyAssignment(in.Members)
	members := sortedMembers(in.Members)
	if len(members) == 0 {
		return out
	}
	next := 0
	for _, topic := range subscribedTopics(in) {
		for p := int32(0); p < in.Partitions[topic]; p++ {
			// Some member subscribes to topic, so this ends within one lap.
			for !subscribes(members[next], topic) {
				next = (next + 1) % len(members)
			}
			m := members[next]
			out[m.ID] = append(out[m.ID], TopicPartition{Topic: topic, Partition: p})
			next = (next + 1) % len(members)
		}
	}
	return out.sortAll()
}
