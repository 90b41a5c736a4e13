package assign

import (
	"cmp"
	"slices"

	"strand.dev/client/wire"
)

// CooperativeSticky balances partitions over the members while keeping as
// much of the previous assignment as balance allows (Kafka's
// cooperative-sticky strategy; the incremental, cooperative part is the
// group's reconciliation).
//
// When every member has the same subscription the result is exactly balanced
// (member counts differ by at most one) and moves the fewest partitions
// possible: each member keeps min(what it had, its quota), and the members
// that held the most are the ones given the larger quotas. With differing
// subscriptions it keeps what it can, gives orphaned partitions to the least
// loaded eligible member, then moves partitions from a member to an eligible
// one holding at least two fewer until no such move remains.
type CooperativeSticky struct{}

// Name implements Assignor.
func (CooperativeSticky) Name() string { return wire.AssignorCooperativeSticky }

// Assign implements Assignor.
func (CooperativeSticky) Assign(in Input) Assignment {
	out := emptyAssignment(in.Members)
	if len(in.Members) == 0 {
		return out
	}
	members := sortedMembers(in.Members)
	all := allPartitions(in)
	kept := keepPrevious(in, members)
	if sameSubscriptions(members) {
		return constrained(members, all, kept)
	}
	return general(members, all, kept)
}

// allPartitions lists every subscribed partition, sorted.
func allPartitions(in Input) []TopicPartition {
	var out []TopicPartition
	for _, t := range subscribedTopics(in) {
		for p := int32(0); p < in.Partitions[t]; p++ {
			out = append(out, TopicPartition{Topic: t, Partition: p})
		}
	}
	return out
}

// keepPrevious returns, per member, the sorted partitions of its previous
// assignment that are still valid: the partition exists, the member still
// subscribes to its topic, and no earlier member (in order) claimed it.
func keepPrevious(in Input, members []Member) Assignment {
	kept := make(Assignment, len(members))
	claimed := map[TopicPartition]bool{}
	for _, m := range members {
		var tps []TopicPartition
		for _, tp := range in.Previous[m.ID] {
			if tp.Partition < 0 || tp.Partition >= in.Partitions[tp.Topic] || !subscribes(m, tp.Topic) || claimed[tp] {
				continue
			}
			claimed[tp] = true
			tps = append(tps, tp)
		}
		slices.SortFunc(tps, TopicPartition.Compare)
		kept[m.ID] = tps
	}
	return kept
}

// sameSubscriptions reports whether every member subscribes to the same set.
func sameSubscriptions(members []Member) bool {
	first := slices.Sorted(slices.Values(members[0].Topics))
	first = slices.Compact(first)
	for _, m := range members[1:] {
		s := slices.Compact(slices.Sorted(slices.Values(m.Topics)))
		if !slices.Equal(first, s) {
			return false
		}
	}
	return true
}

// constrained assigns when all members share one subscription: exact quotas,
// fewest moves.
func constrained(members []Member, all []TopicPartition, kept Assignment) Assignment {
	n := len(members)
	minQ, numMax := len(all)/n, len(all)%n
	// The members holding the most get the larger quotas.
	order := slices.Clone(members)
	slices.SortStableFunc(order, func(a, b Member) int { return cmp.Compare(len(kept[b.ID]), len(kept[a.ID])) })
	quota := make(map[string]int, n)
	for i, m := range order {
		quota[m.ID] = minQ
		if i < numMax {
			quota[m.ID] = minQ + 1
		}
	}
	out := make(Assignment, n)
	owned := map[TopicPartition]bool{}
	for _, m := range members {
		k := kept[m.ID]
		if len(k) > quota[m.ID] {
			k = k[:quota[m.ID]]
		}
		out[m.ID] = slices.Clone(k)
		for _, tp := range k {
			owned[tp] = true
		}
	}
	// Fill each member up to its quota with the unowned partitions, the
	// emptiest members first.
	var free []TopicPartition
	for _, tp := range all {
		if !owned[tp] {
			free = append(free, tp)
		}
	}
	for len(free) > 0 {
		var best *Member
		for i := range members {
			m := &members[i]
			if len(out[m.ID]) >= quota[m.ID] {
				continue
			}
			if best == nil || len(out[m.ID]) < len(out[best.ID]) {
				best = m
			}
		}
		if best == nil {
			panic("assign: quotas do not cover every partition")
		}
		out[best.ID] = append(out[best.ID], free[0])
		free = free[1:]
	}
	for _, m := range members {
		if out[m.ID] == nil {
			out[m.ID] = []TopicPartition{}
		}
	}
	return out.sortAll()
}

// general assigns when subscriptions differ.
func general(members []Member, all []TopicPartition, kept Assignment) Assignment {
	out := make(Assignment, len(members))
	owner := map[TopicPartition]string{}
	for _, m := range members {
		out[m.ID] = slices.Clone(kept[m.ID])
		for _, tp := range kept[m.ID] {
			owner[tp] = m.ID
		}
	}
	eligible := func(topic string) []Member {
		var es []Member
		for _, m := range members {
			if subscribes(m, topic) {
				es = append(es, m)
			}
		}
		return es
	}
	// Orphans, the partitions with the fewest eligible members first.
	var free []TopicPartition
	for _, tp := range all {
		if _, ok := owner[tp]; !ok {
			free = append(free, tp)
		}
	}
	elig := map[string][]Member{}
	for _, tp := range all {
		if _, ok := elig[tp.Topic]; !ok {
			elig[tp.Topic] = eligible(tp.Topic)
		}
	}
	slices.SortStableFunc(free, func(a, b TopicPartition) int {
		return cmp.Compare(len(elig[a.Topic]), len(elig[b.Topic]))
	})
	leastLoaded := func(es []Member) string {
		best := es[0].ID
		for _, m := range es[1:] {
			if len(out[m.ID]) < len(out[best]) {
				best = m.ID
			}
		}
		return best
	}
	for _, tp := range free {
		id := leastLoaded(elig[tp.Topic])
		out[id] = append(out[id], tp)
		owner[tp] = id
	}
	// Balance: move a partition to an eligible member holding at least two
	// fewer. Each move lowers the sum of squared counts, so this ends; the
	// bound guards the invariant.
	for range len(all)*len(members) + 1 {
		moved := false
		for _, tp := range all {
			from := owner[tp]
			to := leastLoaded(elig[tp.Topic])
			if len(out[to])+1 < len(out[from]) {
				out[from] = slices.DeleteFunc(out[from], func(x TopicPartition) bool { return x == tp })
				out[to] = append(out[to], tp)
				owner[tp] = to
				moved = true
			}
		}
		if !moved {
			break
		}
	}
	for _, m := range members {
		if out[m.ID] == nil {
			out[m.ID] = []TopicPartition{}
		}
	}
	return out.sortAll()
}
