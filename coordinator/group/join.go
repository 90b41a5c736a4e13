package group

import (
	"slices"
	"time"

	"strand.dev/client/wire"
	"strand.dev/coordinator/assign"
)

// JoinArgs is a join request with what the server knows of the client.
type JoinArgs struct {
	wire.JoinGroupRequest
	// ClientHost is the client's address, for describe.
	ClientHost string
}

// Assignment answers a join or a heartbeat.
type Assignment = wire.MemberAssignment

// Join adds a member, updates a known one (a retried join or a new
// subscription), or replaces a static member with the same instance id. On
// an error the group is unchanged.
func (g *Group) Join(now time.Time, a JoinArgs) (Assignment, error) {
	topics, assignors, session, rebalance, err := g.validateJoin(a)
	if err != nil {
		return Assignment{}, err
	}
	// A known member: a retried join or a subscription change.
	if m, ok := g.members[a.MemberID]; ok && a.MemberID != "" {
		if a.GroupInstanceID != m.instanceID {
			return Assignment{}, wire.Errorf(wire.CodeFencedInstanceID, "group %q: member %q has instance id %q, not %q", g.id, m.id, m.instanceID, a.GroupInstanceID)
		}
		if err := g.checkAssignors(m.id, assignors); err != nil {
			return Assignment{}, err
		}
		m.clientID, m.clientHost = a.ClientID, a.ClientHost
		m.sessionTimeout, m.rebalanceTimeout = session, rebalance
		m.lastHeartbeat, m.lastPoll = now, now
		if !slices.Equal(m.topics, topics) || !slices.Equal(m.assignors, assignors) {
			m.topics, m.assignors = topics, assignors
			g.rebalance(now)
		}
		g.reconcile(now, m, nil)
		return g.answer(m, nil), nil
	}
	// A static member restarting: the new member id takes over the old
	// member's partitions without a rebalance, and the old id is fenced.
	if oldID, ok := g.instances[a.GroupInstanceID]; ok && a.GroupInstanceID != "" {
		if err := g.checkAssignors(oldID, assignors); err != nil {
			return Assignment{}, err
		}
		newID := a.MemberID
		if newID == "" {
			newID = g.cfg.NewMemberID()
		}
		if _, taken := g.members[newID]; taken {
			return Assignment{}, wire.Errorf(wire.CodeInvalidRequest, "group %q: member id %q is already in use", g.id, newID)
		}
		old := g.members[oldID]
		m := &member{
			id: newID, instanceID: a.GroupInstanceID, clientID: a.ClientID, clientHost: a.ClientHost,
			topics: old.topics, assignors: old.assignors,
			sessionTimeout: session, rebalanceTimeout: rebalance,
			joinGeneration: g.generation, generation: g.generation,
			owned: old.owned, revoking: old.revoking, revokeSince: old.revokeSince,
			lastHeartbeat: now, lastPoll: now,
		}
		delete(g.members, oldID)
		g.members[newID] = m
		g.instances[a.GroupInstanceID] = newID
		g.target[newID] = g.target[oldID]
		delete(g.target, oldID)
		for tp := range m.owned {
			g.owner[tp] = newID
		}
		g.changed()
		if !slices.Equal(m.topics, topics) || !slices.Equal(m.assignors, assignors) {
			m.topics, m.assignors = topics, assignors
			g.rebalance(now)
			m.joinGeneration = g.generation
		}
		// The new process holds nothing yet: what the old one was revoking
		// is released.
		g.reconcile(now, m, tpSet{})
		return g.answer(m, nil), nil
	}
	// A new member.
	if len(g.members) >= g.cfg.MaxMembers {
		return Assignment{}, wire.Errorf(wire.CodeInvalidRequest, "group %q is full: it has %d members, the limit (group.max.size) is %d", g.id, len(g.members), g.cfg.MaxMembers)
	}
	if err := g.checkAssignors("", assignors); err != nil {
		return Assignment{}, err
	}
	id := a.MemberID
	if id == "" {
		id = g.cfg.NewMemberID()
	}
	m := &member{
		id: id, instanceID: a.GroupInstanceID, clientID: a.ClientID, clientHost: a.ClientHost,
		topics: topics, assignors: assignors,
		sessionTimeout: session, rebalanceTimeout: rebalance,
		owned: tpSet{}, revoking: tpSet{},
		lastHeartbeat: now, lastPoll: now,
	}
	g.members[id] = m
	if m.instanceID != "" {
		g.instances[m.instanceID] = id
	}
	g.rebalance(now)
	m.joinGeneration = g.generation
	g.reconcile(now, m, tpSet{})
	return g.answer(m, nil), nil
}

// validateJoin checks a join and normalizes its subscription and timeouts.
func (g *Group) validateJoin(a JoinArgs) (topics, assignors []string, session, rebalance time.Duration, err error) {
	if a.GroupID != g.id {
		return nil, nil, 0, 0, wire.Errorf(wire.CodeInvalidRequest, "join for group %q sent to group %q", a.GroupID, g.id)
	}
	if len(a.Topics) == 0 {
		return nil, nil, 0, 0, wire.Errorf(wire.CodeInvalidRequest, "group %q: a join must subscribe to at least one topic", g.id)
	}
	if len(a.Topics) > g.cfg.MaxTopics {
		return nil, nil, 0, 0, wire.Errorf(wire.CodeInvalidRequest, "group %q: a subscription of %d topics is above the limit of %d", g.id, len(a.Topics), g.cfg.MaxTopics)
	}
	for _, t := range a.Topics {
		if err := wire.ValidateTopicName(t); err != nil {
			return nil, nil, 0, 0, err
		}
	}
	topics = slices.Compact(slices.Sorted(slices.Values(a.Topics)))
	names := a.Assignors
	if len(names) == 0 {
		names = []string{wire.AssignorCooperativeSticky}
	}
	for _, n := range names {
		if _, ok := assign.ByName(n); ok && !slices.Contains(assignors, n) {
			assignors = append(assignors, n)
		}
	}
	if len(assignors) == 0 {
		return nil, nil, 0, 0, wire.Errorf(wire.CodeInconsistentGroupProtocol, "group %q: none of the assignors %q is supported (supported: %q)", g.id, a.Assignors, assign.Names())
	}
	session = g.cfg.DefaultSessionTimeout
	if a.SessionTimeoutMs != 0 {
		session = time.Duration(a.SessionTimeoutMs) * time.Millisecond
	}
	if session < g.cfg.MinSessionTimeout || session > g.cfg.MaxSessionTimeout {
		return nil, nil, 0, 0, wire.Errorf(wire.CodeInvalidRequest, "group %q: session timeout %v is outside the coordinator's bounds [%v, %v]", g.id, session, g.cfg.MinSessionTimeout, g.cfg.MaxSessionTimeout)
	}
	rebalance = g.cfg.DefaultRebalanceTimeout
	if a.RebalanceTimeoutMs != 0 {
		rebalance = time.Duration(a.RebalanceTimeoutMs) * time.Millisecond
	}
	if rebalance <= 0 {
		return nil, nil, 0, 0, wire.Errorf(wire.CodeInvalidRequest, "group %q: rebalance timeout (max.poll.interval.ms) %d must be positive", g.id, a.RebalanceTimeoutMs)
	}
	return topics, assignors, session, rebalance, nil
}

// checkAssignors refuses a member (other than except) whose assignors share
// none with the rest of the group.
func (g *Group) checkAssignors(except string, assignors []string) error {
	common := g.commonAssignors(except)
	if common == nil && len(g.members) <= 1 {
		return nil
	}
	for _, n := range assignors {
		if slices.Contains(common, n) {
			return nil
		}
	}
	return wire.Errorf(wire.CodeInconsistentGroupProtocol, "group %q: the members support the assignors %q, the join offers %q", g.id, common, assignors)
}
