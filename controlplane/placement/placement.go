// Package placement decides where a new topic's partition replicas go: over
// the live data nodes, leaders and replicas spread evenly (taking the load the
// nodes already carry into account), and rack-aware when racks are set (each
// partition's replicas span as many racks as it can).
//
// The package is pure: no I/O, no clock, no randomness. The same input always
// gives the same placement, which the tests rely on.
//
//	load := placement.LoadOf(img)
//	replicas, err := placement.Place(nodes, 12, 3, load)
//	// replicas[p] is partition p's replica list, preferred leader first.
package placement

import (
	"sort"

	"strand.dev/client/wire"
)

// Node is a data node that may receive replicas.
type Node struct {
	ID   int32
	Rack string
}

// Load is what the nodes already carry: replicas and preferred leaderships
// (first replicas) per node id.
type Load struct {
	Replicas map[int32]int
	Leaders  map[int32]int
}

// LoadOf counts the replicas and preferred leaderships of every topic in the
// image.
func LoadOf(img *wire.Image) Load {
	l := Load{Replicas: map[int32]int{}, Leaders: map[int32]int{}}
	if img == nil {
		return l
	}
	for _, t := range img.Topics {
		for _, p := range t.Partitions {
			for i, r := range p.Replicas {
				l.Replicas[r]++
				if i == 0 {
					l.Leaders[r]++
				}
			}
		}
	}
	return l
}

// MaxPartitions bounds the partitions one Place call assigns.
const MaxPartitions = 100_000

// Place assigns replicationFactor replicas to each of partitions partitions
// over nodes. Element p of the result is partition p's replica list; its
// first replica is the preferred leader.
//
// Leaders go to the node with the fewest leaders (then fewest replicas), each
// further replica to the node with the fewest replicas among those on a rack
// the partition does not use yet (when racks are set), ties broken by a
// rotation that depends on the partition number, so consecutive partitions
// start on different nodes. Errors: INVALID_PARTITIONS for a partition count
// out of 1..MaxPartitions, INVALID_REPLICATION_FACTOR for a factor below 1 or
// above the number of nodes, INVALID_REQUEST for duplicate node ids.
func Place(nodes []Node, partitions, replicationFactor int, load Load) ([][]int32, error) {
	if partitions < 1 || partitions > MaxPartitions {
		return nil, wire.Errorf(wire.CodeInvalidPartitions, "the number of partitions must be 1 to %d, got %d", MaxPartitions, partitions)
	}
	if replicationFactor < 1 {
		return nil, wire.Errorf(wire.CodeInvalidReplicationFactor, "the replication factor must be at least 1, got %d", replicationFactor)
	}
	if replicationFactor > len(nodes) {
		return nil, wire.Errorf(wire.CodeInvalidReplicationFactor, "replication factor %d is larger than the %d available data nodes", replicationFactor, len(nodes))
	}
	ns := append([]Node(nil), nodes...)
	sort.Slice(ns, func(i, j int) bool { return ns[i].ID < ns[j].ID })
	for i := 1; i < len(ns); i++ {
		if ns[i].ID == ns[i-1].ID {
			return nil, wire.Errorf(wire.CodeInvalidRequest, "node %d is listed twice", ns[i].ID)
		}
	}
	rackAware := false
	for _, n := range ns {
		if n.Rack != "" {
			rackAware = true
			break
		}
	}
	replicas := make([]int, len(ns))
	leaders := make([]int, len(ns))
	for i, n := range ns {
		replicas[i] = load.Replicas[n.ID]
		leaders[i] = load.Leaders[n.ID]
	}
	// rot is a node's tie-break rank for partition p: the node order
	// rotated by p, so equal loads are broken differently per partition.
	rot := func(i, p int) int { return (i - p%len(ns) + len(ns)) % len(ns) }

	// pairs[a*len(ns)+b] counts the partitions where nodes a and b (by
	// index) are replicas together; spreading them spreads a failed node's
	// followers' load over many nodes.
	pairs := make([]int, len(ns)*len(ns))
	out := make([][]int32, partitions)
	chosen := make([]bool, len(ns))
	usedRacks := map[string]bool{}
	for p := 0; p < partitions; p++ {
		for i := range chosen {
			chosen[i] = false
		}
		clear(usedRacks)
		reps := make([]int32, 0, replicationFactor)
		for r := 0; r < replicationFactor; r++ {
			best := -1
			for i := range ns {
				if chosen[i] {
					continue
				}
				if best < 0 {
					best = i
					continue
				}
				if better(i, best, r, p, rackAware, usedRacks, ns, leaders, replicas, rot, pairScore(pairs, chosen, len(ns))) {
					best = i
				}
			}
			for c, ok := range chosen {
				if ok {
					pairs[c*len(ns)+best]++
					pairs[best*len(ns)+c]++
				}
			}
			chosen[best] = true
			usedRacks[ns[best].Rack] = true
			replicas[best]++
			if r == 0 {
				leaders[best]++
			}
			reps = append(reps, ns[best].ID)
		}
		out[p] = reps
	}
	return out, nil
}

// better reports whether node i is a better choice than node j for replica r
// of partition p.
func better(i, j, r, p int, rackAware bool, usedRacks map[string]bool, ns []Node, leaders, replicas []int, rot func(int, int) int, pair func(int) int) bool {
	if rackAware {
		fi, fj := !usedRacks[ns[i].Rack], !usedRacks[ns[j].Rack]
		if fi != fj {
			return fi
		}
	}
	if r == 0 && leaders[i] != leaders[j] {
		return leaders[i] < leaders[j]
	}
	if r > 0 {
		// Load and pairing weigh alike, so a follower goes to a node
		// that is lightly loaded and rarely paired with this
		// partition's replicas so far.
		si, sj := replicas[i]+pair(i), replicas[j]+pair(j)
		if si != sj {
			return si < sj
		}
	}
	if replicas[i] != replicas[j] {
		return replicas[i] < replicas[j]
	}
	return rot(i, p) < rot(j, p)
}

// pairScore returns how often a candidate was paired with the replicas
// already chosen for the current partition.
func pairScore(pairs []int, chosen []bool, n int) func(int) int {
	return func(i int) int {
		s := 0
		for c, ok := range chosen {
			if ok {
				s += pairs[c*n+i]
			}
		}
		return s
	}
}
