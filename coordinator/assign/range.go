package assign

import "strand.dev/client/wire"

// Range is Kafka's range assignor: for each topic, the members subscribed to
// it (in order) get contiguous ranges of its partitions, the first members
// one more when the count does not divide evenly.
type Range struct{}

// Name implements Assignor.
func (Range) Name() string { return wire.AssignorRange }

// Assign implements Assignor.
func (Range) Assign(in Input) Assignment {
	out := emptyAssignment(in.Members)
	members := sortedMembers(in.Members)
	for _, topic := range subscribedTopics(in) {
		var subs []Member
		for _, m := range members {
			if subscribes(m, topic) {
				subs = append(subs, m)
			}
		}
		n := int32(len(subs))
		count := in.Partitions[topic]
		per, extra := count/n, count%n
		for i, m := range subs {
			i := int32(i)
			start := i*per + min(i, extra)
			length := per
			if i < extra {
				length++
			}
			for p := start; p < start+length; p++ {
				out[m.ID] = append(out[m.ID], TopicPartition{Topic: topic, Partition: p})
			}
		}
	}
	return out.sortAll()
}
