package assign

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func tps(topic string, ps ...int32) []TopicPartition {
	out := make([]TopicPartition, 0, len(ps))
	for _, p := range ps {
		out = append(out, TopicPartition{Topic: topic, Partition: p})
	}
	return out
}

func join(parts ...[]TopicPartition) []TopicPartition {
	out := []TopicPartition{}
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestRangeAndRoundRobin(t *testing.T) {
	two := []Member{{ID: "a", Topics: []string{"t", "u"}}, {ID: "b", Topics: []string{"t", "u"}}}
	tests := []struct {
		name string
		a    Assignor
		in   Input
		want Assignment
	}{
		{"range uneven", Range{}, Input{Members: two, Partitions: map[string]int32{"t": 5, "u": 2}},
			Assignment{"a": join(tps("t", 0, 1, 2), tps("u", 0)), "b": join(tps("t", 3, 4), tps("u", 1))}},
		{"range more members than partitions", Range{}, Input{
			Members:    []Member{{ID: "a", Topics: []string{"t"}}, {ID: "b", Topics: []string{"t"}}, {ID: "c", Topics: []string{"t"}}},
			Partitions: map[string]int32{"t": 2}},
			Assignment{"a": tps("t", 0), "b": tps("t", 1), "c": {}}},
		{"range static members ordered by instance id", Range{}, Input{
			Members:    []Member{{ID: "a", InstanceID: "z", Topics: []string{"t"}}, {ID: "b", InstanceID: "y", Topics: []string{"t"}}},
			Partitions: map[string]int32{"t": 2}},
			Assignment{"a": tps("t", 1), "b": tps("t", 0)}},
		{"range unknown topic", Range{}, Input{Members: []Member{{ID: "a", Topics: []string{"nope"}}}, Partitions: map[string]int32{}},
			Assignment{"a": {}}},
		{"roundrobin deals in turn", RoundRobin{}, Input{Members: two, Partitions: map[string]int32{"t": 3, "u": 2}},
			Assignment{"a": join(tps("t", 0, 2), tps("u", 1)), "b": join(tps("t", 1), tps("u", 0))}},
		{"roundrobin skips members not subscribed", RoundRobin{}, Input{
			Members:    []Member{{ID: "a", Topics: []string{"t"}}, {ID: "b", Topics: []string{"t", "u"}}, {ID: "c", Topics: []string{"u"}}},
			Partitions: map[string]int32{"t": 3, "u": 3}},
			Assignment{"a": tps("t", 0, 2), "b": join(tps("t", 1), tps("u", 0, 2)), "c": tps("u", 1)}},
		{"no members", RoundRobin{}, Input{Partitions: map[string]int32{"t": 3}}, Assignment{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.a.Assign(tt.in)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got  %v\nwant %v", got, tt.want)
			}
			checkValid(t, tt.in, got)
		})
	}
}

func TestByName(t *testing.T) {
	for _, n := range Names() {
		a, ok := ByName(n)
		if !ok || a.Name() != n {
			t.Fatalf("ByName(%q) = %v, %v", n, a, ok)
		}
	}
	if _, ok := ByName("sticky-ish"); ok {
		t.Fatal("ByName accepted an unknown assignor")
	}
}

// checkValid asserts that every subscribed partition is assigned exactly
// once, only to a subscriber, and every member has an entry.
func checkValid(t *testing.T, in Input, got Assignment) {
	t.Helper()
	seen := map[TopicPartition]string{}
	for _, m := range in.Members {
		tpl, ok := got[m.ID]
		if !ok {
			t.Fatalf("member %s has no entry in %v", m.ID, got)
		}
		for _, tp := range tpl {
			if prev, dup := seen[tp]; dup {
				t.Fatalf("%v assigned to %s and %s", tp, prev, m.ID)
			}
			seen[tp] = m.ID
			if !subscribes(m, tp.Topic) {
				t.Fatalf("%v assigned to %s, which does not subscribe to it", tp, m.ID)
			}
		}
	}
	if len(got) != len(in.Members) {
		t.Fatalf("assignment has %d entries for %d members", len(got), len(in.Members))
	}
	for _, tp := range allPartitions(in) {
		if _, ok := seen[tp]; !ok {
			t.Fatalf("%v is not assigned: %v", tp, got)
		}
	}
}

// moves counts partitions whose owner differs between two assignments
// (partitions only in one of them are not counted).
func moves(prev, next Assignment) int {
	po, no := prev.Owners(), next.Owners()
	n := 0
	for tp, o := range po {
		if x, ok := no[tp]; ok && x != o {
			n++
		}
	}
	return n
}

func counts(a Assignment) (lo, hi int) {
	lo = 1 << 30
	for _, v := range a {
		lo, hi = min(lo, len(v)), max(hi, len(v))
	}
	return lo, hi
}

// TestStickyJoinLeaveOneAtATime is the property at the assignor
// level: 12 partitions, members joining then leaving one at a time; every
// assignment covers each partition exactly once, is balanced, and moves only
// what must move: on a join, only the partitions the newcomer gets; on a
// leave, only the leaver's partitions.
func TestStickyJoinLeaveOneAtATime(t *testing.T) {
	parts := map[string]int32{"t": 12}
	var members []Member
	prev := Assignment{}
	step := func(name string, mustMove func(prev, next Assignment) int) {
		in := Input{Members: members, Partitions: parts, Previous: prev}
		next := CooperativeSticky{}.Assign(in)
		checkValid(t, in, next)
		if lo, hi := counts(next); hi-lo > 1 {
			t.Fatalf("%s: unbalanced %v", name, next)
		}
		if got, want := moves(prev, next), mustMove(prev, next); got != want {
			t.Fatalf("%s: moved %d partitions, want %d\nprev %v\nnext %v", name, got, want, prev, next)
		}
		prev = next
	}
	for i := range 14 {
		id := fmt.Sprintf("m%02d", i)
		members = append(members, Member{ID: id, Topics: []string{"t"}})
		step("join "+id, func(prev, next Assignment) int {
			// Only what the newcomer takes from the others moves.
			owned := prev.Owners()
			n := 0
			for _, tp := range next[id] {
				if _, ok := owned[tp]; ok {
					n++
				}
			}
			if i > 0 && n != len(next[id]) {
				t.Fatalf("join %s: the newcomer got unowned partitions", id)
			}
			return n
		})
	}
	order := rand.New(rand.NewPCG(1, 2)).Perm(len(members))
	for _, k := range order[:len(order)-1] {
		id := fmt.Sprintf("m%02d", k)
		members = slices.DeleteFunc(members, func(m Member) bool { return m.ID == id })
		// The leaver's partitions are not in prev any more, so they are not
		// counted: nothing else may move.
		delete(prev, id)
		step("leave "+id, func(_, _ Assignment) int { return 0 })
	}
}

// TestStickyMinimalMovesRandom checks, over random membership changes with one
// subscription, that the number of partitions changing owner equals the lower
// bound: everything a member had beyond its new quota, plus nothing else.
func TestStickyMinimalMovesRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	for trial := range 200 {
		nParts := int32(1 + rng.IntN(40))
		parts := map[string]int32{"a": nParts, "b": int32(rng.IntN(5))}
		var members []Member
		for i := range 1 + rng.IntN(8) {
			members = append(members, Member{ID: fmt.Sprintf("m%d", i), Topics: []string{"a", "b"}})
		}
		prev := CooperativeSticky{}.Assign(Input{Members: members, Partitions: parts})
		// Change membership: drop some, add some.
		var next []Member
		for _, m := range members {
			if rng.IntN(3) > 0 {
				next = append(next, m)
			}
		}
		for i := range rng.IntN(4) {
			next = append(next, Member{ID: fmt.Sprintf("n%d", i), Topics: []string{"a", "b"}})
		}
		if len(next) == 0 {
			continue
		}
		in := Input{Members: next, Partitions: parts, Previous: prev}
		got := CooperativeSticky{}.Assign(in)
		checkValid(t, in, got)
		if lo, hi := counts(got); hi-lo > 1 {
			t.Fatalf("trial %d: unbalanced %v", trial, got)
		}
		// Lower bound of partitions that must change owner among those whose
		// previous owner survived: the survivors' excess over the largest
		// possible quotas.
		total := int(nParts + parts["b"])
		minQ, numMax := total/len(next), total%len(next)
		var survivorsHeld []int
		for _, m := range next {
			if h, ok := prev[m.ID]; ok {
				survivorsHeld = append(survivorsHeld, len(h))
			}
		}
		slices.Sort(survivorsHeld)
		slices.Reverse(survivorsHeld)
		mustMove := 0
		for i, h := range survivorsHeld {
			q := minQ
			if i < numMax {
				q++
			}
			mustMove += max(0, h-q)
		}
		// Moves of partitions whose previous owner survived.
		moved := 0
		owners := got.Owners()
		for id, tpl := range prev {
			if !slices.ContainsFunc(next, func(m Member) bool { return m.ID == id }) {
				continue
			}
			for _, tp := range tpl {
				if owners[tp] != id {
					moved++
				}
			}
		}
		if moved != mustMove {
			t.Fatalf("trial %d: moved %d partitions of surviving members, the minimum is %d\nprev %v\ngot  %v", trial, moved, mustMove, prev, got)
		}
	}
}

func TestStickyGeneralSubscriptions(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	topics := []string{"a", "b", "c"}
	for trial := range 200 {
		parts := map[string]int32{"a": int32(rng.IntN(10)), "b": int32(rng.IntN(10)), "c": int32(rng.IntN(10))}
		var members []Member
		for i := range 1 + rng.IntN(6) {
			var subs []string
			for _, tpc := range topics {
				if rng.IntN(2) == 0 {
					subs = append(subs, tpc)
				}
			}
			if len(subs) == 0 {
				subs = []string{"a"}
			}
			members = append(members, Member{ID: fmt.Sprintf("m%d", i), Topics: subs})
		}
		prev := CooperativeSticky{}.Assign(Input{Members: members, Partitions: parts})
		checkValid(t, Input{Members: members, Partitions: parts}, prev)
		// A member leaves: everything the others held is kept.
		if len(members) < 2 {
			continue
		}
		gone := members[rng.IntN(len(members))].ID
		rest := slices.DeleteFunc(slices.Clone(members), func(m Member) bool { return m.ID == gone })
		in := Input{Members: rest, Partitions: parts, Previous: prev}
		got := CooperativeSticky{}.Assign(in)
		checkValid(t, in, got)
		// No pair of members may differ by two or more where the richer one
		// holds a partition the poorer one could take.
		for _, a := range rest {
			for _, b := range rest {
				if len(got[a.ID]) < len(got[b.ID])+2 {
					continue
				}
				for _, tp := range got[a.ID] {
					if subscribes(b, tp.Topic) {
						t.Fatalf("trial %d: %s holds %d, %s holds %d and could take %v", trial, a.ID, len(got[a.ID]), b.ID, len(got[b.ID]), tp)
					}
				}
			}
		}
	}
}

func TestStickyDropsInvalidPrevious(t *testing.T) {
	in := Input{
		Members:    []Member{{ID: "a", Topics: []string{"t"}}, {ID: "b", Topics: []string{"t"}}},
		Partitions: map[string]int32{"t": 2},
		Previous: map[string][]TopicPartition{
			"a": join(tps("t", 0, 1, 7), tps("gone", 0)),
			"b": tps("t", 1), // also claimed by a; a comes first
		},
	}
	got := CooperativeSticky{}.Assign(in)
	checkValid(t, in, got)
	if fmt.Sprint(got) != fmt.Sprint(Assignment{"a": tps("t", 0), "b": tps("t", 1)}) {
		t.Fatalf("got %v", got)
	}
}
