package assign

import (
	"cmp"
	"slices"

	"strand.dev/client/wire"
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Compare orders partitions by topic, then partition number.
func (tp TopicPartition) Compare(o TopicPartition) int {
	if c := cmp.Compare(tp.Topic, o.Topic); c != 0 {
		return c
	}
	return cmp.Compare(tp.Partition, o.Partition)
}

// Member is a group member as an assignor sees it.
type Member struct {
	// ID is the member id.
	ID string
	// InstanceID is the group.instance.id of a static member; when set it
	// orders the member instead of ID (so that a restarted static member
	// keeps its place in range and round-robin assignment).
	InstanceID string
	// Topics is the member's subscription.
	Topics []string
}

// sortKey orders members deterministically.
func (m Member) sortKey() string {
	if m.InstanceID != "" {
		return "0" + m.InstanceID
	}
	return "1" + m.ID
}

// Input is what an assignor works from. It is not modified.
type Input struct {
	// Members of the group; ids are unique.
	Members []Member
	// Partitions is each known topic's partition count. Subscribed topics
	// absent from it get no partitions.
	Partitions map[string]int32
	// Previous is the last assignment by member id (sticky assignors keep
	// what they can of it; others ignore it).
	Previous map[string][]TopicPartition
}

// Assignment maps every member id of the Input to its partitions, sorted.
type Assignment map[string][]TopicPartition

// Assignor computes assignments. Implementations are pure and safe for
// concurrent use.
type Assignor interface {
	// Name is the assignor's protocol name (wire.Assignor...).
	Name() string
	// Assign returns the new assignment: every partition of every subscribed
	// topic goes to exactly one member subscribed to that topic, and every
	// member of in.Members has an entry (possibly empty).
	Assign(in Input) Assignment
}

// ByName returns the assignor with the given protocol name.
func ByName(name string) (Assignor, bool) {
	switch name {
	case wire.AssignorRange:
		return Range{}, true
	case wire.AssignorRoundRobin:
		return RoundRobin{}, true
	case wire.AssignorCooperativeSticky:
		return CooperativeSticky{}, true
	}
	return nil, false
}

// Names lists the supported assignors, in the default order of preference.
func Names() []string {
	return []string{wire.AssignorCooperativeSticky, wire.AssignorRange, wire.AssignorRoundRobin}
}

// sortedMembers returns the members in their deterministic order.
func sortedMembers(ms []Member) []Member {
	out := slices.Clone(ms)
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.sortKey(), b.sortKey()) })
	return out
}

// subscribedTopics returns the sorted set of topics some member subscribes to
// that have partitions.
func subscribedTopics(in Input) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range in.Members {
		for _, t := range m.Topics {
			if !seen[t] && in.Partitions[t] > 0 {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	slices.Sort(out)
	return out
}

// subscribes reports whether m subscribes to topic.
func subscribes(m Member, topic string) bool { return slices.Contains(m.Topics, topic) }

// emptyAssignment has an empty entry per member.
func emptyAssignment(ms []Member) Assignment {
	out := make(Assignment, len(ms))
	for _, m := range ms {
		out[m.ID] = []TopicPartition{}
	}
	return out
}

// sortAll sorts every member's partitions.
func (a Assignment) sortAll() Assignment {
	for id := range a {
		slices.SortFunc(a[id], TopicPartition.Compare)
	}
	return a
}

// Owners inverts the assignment: the owner of each partition.
func (a Assignment) Owners() map[TopicPartition]string {
	out := map[TopicPartition]string{}
	for id, tps := range a {
		for _, tp := range tps {
			out[tp] = id
		}
	}
	return out
}
