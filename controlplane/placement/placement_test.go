package placement

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"strand.dev/client/wire"
)

func nodes(racks ...string) []Node {
	out := make([]Node, len(racks))
	for i, r := range racks {
		out[i] = Node{ID: int32(i + 1), Rack: r}
	}
	return out
}

func TestPlaceSpread(t *testing.T) {
	cases := []struct {
		name       string
		nodes      []Node
		partitions int
		rf         int
		load       Load
		// wantLeaders / wantReplicas: per node id, after placement
		// (counting only the new topic); nil skips the check.
		wantLeaders  map[int32]int
		wantReplicas map[int32]int
		// minRacks: every partition spans at least this many racks.
		minRacks int
		// balanced: old plus new replicas differ by at most one per node.
		balanced bool
	}{
		{name: "3 nodes rf3", nodes: nodes("", "", ""), partitions: 6, rf: 3,
			wantLeaders: map[int32]int{1: 2, 2: 2, 3: 2}, wantReplicas: map[int32]int{1: 6, 2: 6, 3: 6}},
		{name: "5 nodes rf2", nodes: nodes("", "", "", "", ""), partitions: 10, rf: 2,
			wantLeaders: map[int32]int{1: 2, 2: 2, 3: 2, 4: 2, 5: 2}, wantReplicas: map[int32]int{1: 4, 2: 4, 3: 4, 4: 4, 5: 4}},
		{name: "1 node rf1", nodes: nodes(""), partitions: 3, rf: 1,
			wantLeaders: map[int32]int{1: 3}, wantReplicas: map[int32]int{1: 3}},
		{name: "4 nodes 1 partition rf4", nodes: nodes("", "", "", ""), partitions: 1, rf: 4,
			wantReplicas: map[int32]int{1: 1, 2: 1, 3: 1, 4: 1}},
		{name: "3 racks of 2, rf3", nodes: nodes("a", "a", "b", "b", "c", "c"), partitions: 12, rf: 3,
			wantLeaders: map[int32]int{1: 2, 2: 2, 3: 2, 4: 2, 5: 2, 6: 2}, wantReplicas: map[int32]int{1: 6, 2: 6, 3: 6, 4: 6, 5: 6, 6: 6}, minRacks: 3},
		{name: "2 racks, rf3", nodes: nodes("a", "a", "b", "b"), partitions: 8, rf: 3,
			wantLeaders: map[int32]int{1: 2, 2: 2, 3: 2, 4: 2}, minRacks: 2},
		{name: "uneven racks, rf2", nodes: nodes("a", "a", "a", "b"), partitions: 4, rf: 2, minRacks: 2},
		{name: "existing load avoided", nodes: nodes("", "", ""), partitions: 2, rf: 1,
			load:        Load{Replicas: map[int32]int{1: 10}, Leaders: map[int32]int{1: 5}},
			wantLeaders: map[int32]int{2: 1, 3: 1}},
		{name: "existing load evened out", nodes: nodes("", "", ""), partitions: 3, rf: 2,
			load:     Load{Replicas: map[int32]int{1: 2, 2: 2}, Leaders: map[int32]int{1: 1, 2: 1}},
			balanced: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Place(tc.nodes, tc.partitions, tc.rf, tc.load)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.partitions {
				t.Fatalf("%d partitions placed, want %d", len(got), tc.partitions)
			}
			rack := map[int32]string{}
			for _, n := range tc.nodes {
				rack[n.ID] = n.Rack
			}
			leaders, replicas := map[int32]int{}, map[int32]int{}
			for p, reps := range got {
				if len(reps) != tc.rf {
					t.Fatalf("partition %d: %v, want %d replicas", p, reps, tc.rf)
				}
				seen, racks := map[int32]bool{}, map[string]bool{}
				for _, r := range reps {
					if seen[r] {
						t.Fatalf("partition %d: replica %d twice in %v", p, r, reps)
					}
					if _, ok := rack[r]; !ok {
						t.Fatalf("partition %d: unknown node %d", p, r)
					}
					seen[r] = true
					racks[rack[r]] = true
					replicas[r]++
				}
				leaders[reps[0]]++
				if len(racks) < tc.minRacks {
					t.Fatalf("partition %d: %v spans racks %v, want at least %d", p, reps, racks, tc.minRacks)
				}
			}
			if tc.wantLeaders != nil && !reflect.DeepEqual(leaders, tc.wantLeaders) {
				t.Errorf("leaders per node %v, want %v (placement %v)", leaders, tc.wantLeaders, got)
			}
			if tc.wantReplicas != nil && !reflect.DeepEqual(replicas, tc.wantReplicas) {
				t.Errorf("replicas per node %v, want %v (placement %v)", replicas, tc.wantReplicas, got)
			}
			if tc.balanced {
				lo, hi := 1<<30, 0
				for _, n := range tc.nodes {
					total := replicas[n.ID] + tc.load.Replicas[n.ID]
					lo, hi = min(lo, total), max(hi, total)
				}
				if hi-lo > 1 {
					t.Errorf("total replicas per node range %d..%d (placement %v)", lo, hi, got)
				}
				lo, hi = 1<<30, 0
				for _, n := range tc.nodes {
					total := leaders[n.ID] + tc.load.Leaders[n.ID]
					lo, hi = min(lo, total), max(hi, total)
				}
				if hi-lo > 1 {
					t.Errorf("total leaders per node range %d..%d (placement %v)", lo, hi, got)
				}
			}
			again, _ := Place(tc.nodes, tc.partitions, tc.rf, tc.load)
			if !reflect.DeepEqual(got, again) {
				t.Errorf("placement is not deterministic: %v then %v", got, again)
			}
		})
	}
}

func TestPlaceFollowersSpread(t *testing.T) {
	// With 4 nodes and rf 2 over 12 partitions, every ordered pair of
	// (leader, follower) should not collapse onto one follower per leader.
	got, err := Place(nodes("", "", "", ""), 12, 2, Load{})
	if err != nil {
		t.Fatal(err)
	}
	followers := map[int32]map[int32]bool{}
	for _, reps := range got {
		if followers[reps[0]] == nil {
			followers[reps[0]] = map[int32]bool{}
		}
		followers[reps[0]][reps[1]] = true
	}
	for l, fs := range followers {
		if len(fs) < 2 {
			t.Errorf("leader %d always has the same follower: %v (placement %v)", l, fs, got)
		}
	}
}

func TestPlaceErrors(t *testing.T) {
	cases := []struct {
		name       string
		nodes      []Node
		partitions int
		rf         int
		code       wire.Code
	}{
		{"rf above live nodes", nodes("", ""), 3, 3, wire.CodeInvalidReplicationFactor},
		{"no nodes", nil, 1, 1, wire.CodeInvalidReplicationFactor},
		{"rf zero", nodes(""), 1, 0, wire.CodeInvalidReplicationFactor},
		{"rf negative", nodes(""), 1, -1, wire.CodeInvalidReplicationFactor},
		{"zero partitions", nodes(""), 0, 1, wire.CodeInvalidPartitions},
		{"too many partitions", nodes(""), MaxPartitions + 1, 1, wire.CodeInvalidPartitions},
		{"duplicate node", []Node{{ID: 1}, {ID: 1}}, 1, 1, wire.CodeInvalidRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Place(tc.nodes, tc.partitions, tc.rf, Load{})
			var we *wire.Error
			if !errors.As(err, &we) || we.Code != tc.code {
				t.Fatalf("err = %v, want code %s", err, tc.code)
			}
		})
	}
}

func TestLoadOf(t *testing.T) {
	img := &wire.Image{Topics: map[string]*wire.TopicRecord{
		"a": {Name: "a", Partitions: []*wire.PartitionRecord{{Replicas: []int32{1, 2}}, {Replicas: []int32{2, 3}}}},
		"b": {Name: "b", Partitions: []*wire.PartitionRecord{{Replicas: []int32{2}}}},
	}}
	l := LoadOf(img)
	if !reflect.DeepEqual(l.Replicas, map[int32]int{1: 1, 2: 3, 3: 1}) || !reflect.DeepEqual(l.Leaders, map[int32]int{1: 1, 2: 2}) {
		t.Fatalf("load %+v", l)
	}
	if l := LoadOf(nil); len(l.Replicas) != 0 {
		t.Fatal("nil image has load")
	}
}

func BenchmarkPlace1000x3(b *testing.B) {
	ns := make([]Node, 12)
	for i := range ns {
		ns[i] = Node{ID: int32(i), Rack: fmt.Sprint("r", i%3)}
	}
	for b.Loop() {
		if _, err := Place(ns, 1000, 3, Load{}); err != nil {
			b.Fatal(err)
		}
	}
}
