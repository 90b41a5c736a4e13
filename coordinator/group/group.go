package group

import (
	"cmp"
	"slices"
	"time"

	"strand.dev/client/wire"
	"strand.dev/coordinator/assign"
)

// member is one member's state.
type member struct {
	id, instanceID, clientID, clientHost string
	topics                               []string // sorted, unique
	assignors                            []string // supported, in preference order
	sessionTimeout, rebalanceTimeout     time.Duration

	joinGeneration int32 // generation the member joined at (commits older than it are stale)
	generation     int32 // generation of its last answer
	owned          tpSet // partitions granted to it, Revoking included
	revoking       tpSet // owned partitions it has been told to give up
	revokeSince    time.Time

	lastHeartbeat time.Time
	lastPoll      time.Time
}

// Group is one consumer group. See the package doc.
type Group struct {
	id  string
	cfg Config

	assignor   string // in use; "" while empty
	generation int32
	members    map[string]*member
	instances  map[string]string // group.instance.id -> member id
	target     assign.Assignment // by member id
	owner      map[TopicPartition]string

	catalog    map[string]int32 // every known topic's partition count (shared, read-only)
	partitions map[string]int32 // the subscribed topics' counts the target was computed with

	emptySince time.Time
	version    uint64 // +1 per change of the persisted state
}

// New returns an empty group.
func New(id string, cfg Config, now time.Time) *Group {
	return &Group{
		id:         id,
		cfg:        cfg.WithDefaults(),
		members:    map[string]*member{},
		instances:  map[string]string{},
		target:     assign.Assignment{},
		owner:      map[TopicPartition]string{},
		partitions: map[string]int32{},
		emptySince: now,
	}
}

// ID is the group id.
func (g *Group) ID() string { return g.id }

// Generation is the current generation.
func (g *Group) Generation() int32 { return g.generation }

// Version increases by one per change of the state a Snapshot holds: the
// caller persists a Snapshot before answering a request after which Version
// differs from the last persisted one. Long-polling heartbeats wait for it to
// change.
func (g *Group) Version() uint64 { return g.version }

// Empty reports whether the group has no members.
func (g *Group) Empty() bool { return len(g.members) == 0 }

// EmptySince is when the group last became empty (zero while it has
// members).
func (g *Group) EmptySince() time.Time {
	if len(g.members) > 0 {
		return time.Time{}
	}
	return g.emptySince
}

// Assignor is the assignor in use ("" while empty).
func (g *Group) Assignor() string { return g.assignor }

// Len is the number of members.
func (g *Group) Len() int { return len(g.members) }

// State is the group's wire state: Empty, Reconciling or Stable.
func (g *Group) State() string {
	switch {
	case len(g.members) == 0:
		return wire.GroupStateEmpty
	case g.stable():
		return wire.GroupStateStable
	}
	return wire.GroupStateReconciling
}

// stable reports whether every member owns exactly its target.
func (g *Group) stable() bool {
	for id, m := range g.members {
		if len(m.revoking) > 0 || len(m.owned) != len(g.target[id]) {
			return false
		}
		for _, tp := range g.target[id] {
			if !m.owned.has(tp) {
				return false
			}
		}
	}
	return true
}

// Owner returns the member owning a partition ("" if none).
func (g *Group) Owner(tp TopicPartition) string { return g.owner[tp] }

// Subscribed reports whether some member subscribes to topic.
func (g *Group) Subscribed(topic string) bool {
	for _, m := range g.members {
		if slices.Contains(m.topics, topic) {
			return true
		}
	}
	return false
}

// changed records a change of persisted state.
func (g *Group) changed() { g.version++ }

// UpdateTopics gives the group the cluster's topic partition counts (the map
// is kept and must not be modified afterwards). When a subscribed topic's
// count changed, a new generation starts. It reports whether one did.
func (g *Group) UpdateTopics(now time.Time, catalog map[string]int32) bool {
	g.catalog = catalog
	if len(g.members) == 0 {
		return false
	}
	if maps := g.subscribedCounts(); !equalCounts(maps, g.partitions) {
		g.rebalance(now)
		return true
	}
	return false
}

// subscribedCounts is the catalog restricted to the members' subscriptions.
func (g *Group) subscribedCounts() map[string]int32 {
	out := map[string]int32{}
	for _, m := range g.members {
		for _, t := range m.topics {
			if n, ok := g.catalog[t]; ok && n > 0 {
				out[t] = n
			}
		}
	}
	return out
}

func equalCounts(a, b map[string]int32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// rebalance starts a new generation: it chooses the assignor and computes
// the new target from the previous one.
func (g *Group) rebalance(now time.Time) {
	g.generation++
	g.changed()
	g.partitions = g.subscribedCounts()
	if len(g.members) == 0 {
		g.assignor = ""
		g.target = assign.Assignment{}
		g.emptySince = now
		return
	}
	g.assignor = g.chooseAssignor()
	a, ok := assign.ByName(g.assignor)
	if !ok {
		panic("group: chose an assignor that does not exist: " + g.assignor)
	}
	in := assign.Input{Partitions: g.partitions, Previous: g.target}
	for _, m := range g.orderedMembers() {
		in.Members = append(in.Members, assign.Member{ID: m.id, InstanceID: m.instanceID, Topics: m.topics})
	}
	g.target = a.Assign(in)
}

// orderedMembers lists members by join generation, then id.
func (g *Group) orderedMembers() []*member {
	out := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *member) int {
		if c := cmp.Compare(a.joinGeneration, b.joinGeneration); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	return out
}

// chooseAssignor picks, in the oldest member's order of preference, the
// first assignor every member supports. Joins keep that set non-empty.
func (g *Group) chooseAssignor() string {
	ms := g.orderedMembers()
	for _, name := range ms[0].assignors {
		all := true
		for _, m := range ms[1:] {
			if !slices.Contains(m.assignors, name) {
				all = false
				break
			}
		}
		if all {
			return name
		}
	}
	panic("group: members share no assignor")
}

// commonAssignors is the set every member other than except supports, nil
// when there is no other member.
func (g *Group) commonAssignors(except string) []string {
	var common []string
	first := true
	for _, m := range g.orderedMembers() {
		if m.id == except {
			continue
		}
		if first {
			common = slices.Clone(m.assignors)
			first = false
			continue
		}
		common = slices.DeleteFunc(common, func(n string) bool { return !slices.Contains(m.assignors, n) })
	}
	return common
}

// lookup finds the member a request comes from, or the error to answer: an
// instance id taken over by another member id is FENCED_INSTANCE_ID, an
// unknown member UNKNOWN_MEMBER_ID.
func (g *Group) lookup(memberID, instanceID string) (*member, error) {
	if instanceID != "" {
		if cur, ok := g.instances[instanceID]; ok && cur != memberID {
			return nil, wire.Errorf(wire.CodeFencedInstanceID, "group %q: instance %q is now member %q, not %q", g.id, instanceID, cur, memberID)
		}
	}
	m, ok := g.members[memberID]
	if !ok {
		return nil, wire.Errorf(wire.CodeUnknownMember, "group %q has no member %q (it left or was expelled; join again)", g.id, memberID)
	}
	if instanceID != "" && m.instanceID != instanceID {
		return nil, wire.Errorf(wire.CodeFencedInstanceID, "group %q: member %q has instance id %q, not %q", g.id, memberID, m.instanceID, instanceID)
	}
	return m, nil
}

// remove drops a member and frees what it owned, then starts a new
// generation.
func (g *Group) remove(now time.Time, m *member) {
	for tp := range m.owned {
		if g.owner[tp] == m.id {
			delete(g.owner, tp)
		}
	}
	delete(g.members, m.id)
	if m.instanceID != "" && g.instances[m.instanceID] == m.id {
		delete(g.instances, m.instanceID)
	}
	delete(g.target, m.id)
	g.rebalance(now)
}
