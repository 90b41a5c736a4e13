package group

import (
	"maps"
	"slices"
	"time"

	"strand.dev/client/wire"
	"strand.dev/coordinator/assign"
)

// Snapshot is the durable state of a group: what a coordinator taking over
// the group needs to go on without a rebalance. Liveness (heartbeat and poll
// times) is not in it: a restored member's clocks start at the restore.
type Snapshot struct {
	GroupID    string
	Assignor   string
	Generation int32
	// EmptySince is when the group became empty (Unix ms), 0 while it has
	// members.
	EmptySinceMs int64
	// Partitions are the subscribed topics' partition counts the target was
	// computed with.
	Partitions map[string]int32
	Members    []MemberSnapshot
}

// MemberSnapshot is one member's durable state.
type MemberSnapshot struct {
	MemberID           string
	InstanceID         string
	ClientID           string
	ClientHost         string
	Topics             []string
	Assignors          []string
	SessionTimeoutMs   int32
	RebalanceTimeoutMs int32
	JoinGeneration     int32
	Generation         int32
	Owned              []TopicPartition // Revoking included
	Revoking           []TopicPartition
	Target             []TopicPartition
}

// Snapshot returns the group's durable state (members ordered by join).
func (g *Group) Snapshot() Snapshot {
	s := Snapshot{
		GroupID:    g.id,
		Assignor:   g.assignor,
		Generation: g.generation,
		Partitions: maps.Clone(g.partitions),
	}
	if s.Partitions == nil {
		s.Partitions = map[string]int32{}
	}
	if len(g.members) == 0 {
		s.EmptySinceMs = g.emptySince.UnixMilli()
	}
	for _, m := range g.orderedMembers() {
		s.Members = append(s.Members, MemberSnapshot{
			MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
			Topics: slices.Clone(m.topics), Assignors: slices.Clone(m.assignors),
			SessionTimeoutMs:   int32(m.sessionTimeout / time.Millisecond),
			RebalanceTimeoutMs: int32(m.rebalanceTimeout / time.Millisecond),
			JoinGeneration:     m.joinGeneration, Generation: m.generation,
			Owned: m.owned.sorted(), Revoking: m.revoking.sorted(),
			Target: slices.Clone(g.target[m.id]),
		})
	}
	return s
}

// Restore rebuilds a group from its durable state. Members' session and
// poll clocks start at now. Inconsistent state (a partition owned twice, an
// unsupported assignor) is repaired conservatively: the first owner in join
// order keeps a doubly owned partition, and the next heartbeat of the other
// is answered with a revocation.
func Restore(s Snapshot, cfg Config, now time.Time) *Group {
	g := New(s.GroupID, cfg, now)
	g.assignor = s.Assignor
	g.generation = s.Generation
	g.partitions = maps.Clone(s.Partitions)
	if g.partitions == nil {
		g.partitions = map[string]int32{}
	}
	if s.EmptySinceMs != 0 {
		g.emptySince = time.UnixMilli(s.EmptySinceMs)
	}
	for _, ms := range s.Members {
		if _, dup := g.members[ms.MemberID]; dup {
			continue
		}
		m := &member{
			id: ms.MemberID, instanceID: ms.InstanceID, clientID: ms.ClientID, clientHost: ms.ClientHost,
			topics: slices.Clone(ms.Topics), assignors: slices.Clone(ms.Assignors),
			sessionTimeout:   time.Duration(ms.SessionTimeoutMs) * time.Millisecond,
			rebalanceTimeout: time.Duration(ms.RebalanceTimeoutMs) * time.Millisecond,
			joinGeneration:   ms.JoinGeneration, generation: ms.Generation,
			owned: tpSet{}, revoking: tpSet{},
			lastHeartbeat: now, lastPoll: now,
		}
		for _, tp := range ms.Owned {
			if g.owner[tp] == "" {
				g.owner[tp] = m.id
				m.owned[tp] = struct{}{}
			}
		}
		for _, tp := range ms.Revoking {
			if m.owned.has(tp) {
				m.revoking[tp] = struct{}{}
			}
		}
		if len(m.revoking) > 0 {
			m.revokeSince = now
		}
		g.members[m.id] = m
		if m.instanceID != "" {
			g.instances[m.instanceID] = m.id
		}
		g.target[m.id] = slices.Clone(ms.Target)
	}
	if len(g.members) > 0 {
		if _, ok := assign.ByName(g.assignor); !ok {
			// Not a state this coordinator wrote; recompute.
			for _, m := range g.members {
				m.assignors = slices.DeleteFunc(m.assignors, func(n string) bool { _, ok := assign.ByName(n); return !ok })
				if len(m.assignors) == 0 {
					m.assignors = []string{wire.AssignorCooperativeSticky}
				}
			}
			g.rebalance(now)
		}
	}
	return g
}

// Describe answers the group's state and members (the server adds the
// coordinator and offsets).
func (g *Group) Describe(now time.Time) wire.GroupDescription {
	d := wire.GroupDescription{
		GroupID:    g.id,
		State:      g.State(),
		Generation: g.generation,
		Assignor:   g.assignor,
		Members:    []wire.MemberDescription{},
	}
	for _, m := range g.orderedMembers() {
		md := wire.MemberDescription{
			MemberID: m.id, GroupInstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
			Topics: slices.Clone(m.topics), Generation: m.generation,
			Assigned:           ToWire(m.owned.sorted()),
			Target:             ToWire(g.target[m.id]),
			LastHeartbeatAgoMs: now.Sub(m.lastHeartbeat).Milliseconds(),
		}
		if len(m.revoking) > 0 {
			md.Revoking = ToWire(m.revoking.sorted())
		}
		d.Members = append(d.Members, md)
	}
	return d
}
