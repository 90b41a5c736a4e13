package group

import (
	"time"

	"strand.dev/client/wire"
)

// Heartbeat records a member's liveness and what it owns, and answers its
// assignment. A member reporting a poll age above its rebalance timeout
// (max.poll.interval.ms) is expelled and answered UNKNOWN_MEMBER_ID.
func (g *Group) Heartbeat(now time.Time, req wire.HeartbeatRequest) (Assignment, error) {
	m, err := g.lookup(req.MemberID, req.GroupInstanceID)
	if err != nil {
		return Assignment{}, err
	}
	if req.Generation > g.generation {
		return Assignment{}, wire.Errorf(wire.CodeIllegalGeneration, "group %q is at generation %d; the heartbeat names %d", g.id, g.generation, req.Generation)
	}
	pollAge := max(time.Duration(req.PollAgeMs)*time.Millisecond, 0)
	if pollAge > m.rebalanceTimeout {
		g.remove(now, m)
		return Assignment{}, wire.Errorf(wire.CodeUnknownMember, "group %q: member %q did not poll for %v, above max.poll.interval.ms %v; it was removed", g.id, m.id, pollAge, m.rebalanceTimeout)
	}
	m.lastHeartbeat = now
	m.lastPoll = now.Add(-pollAge)
	clientOwned := newSet(FromWire(req.Owned))
	g.reconcile(now, m, clientOwned)
	var extra []TopicPartition
	for tp := range clientOwned {
		if !m.owned.has(tp) {
			extra = append(extra, tp)
		}
	}
	return g.answer(m, extra), nil
}

// reconcile moves m one step towards its target: revocations the client
// confirmed (clientOwned without them; nil means the client is assumed to hold
// everything it was given) free their partitions, owned partitions outside the
// target are put up for revocation, and free target partitions are granted.
func (g *Group) reconcile(now time.Time, m *member, clientOwned tpSet) {
	target := newSet(g.target[m.id])
	if clientOwned != nil {
		for tp := range m.revoking {
			if !clientOwned.has(tp) {
				delete(m.revoking, tp)
				delete(m.owned, tp)
				if g.owner[tp] == m.id {
					delete(g.owner, tp)
				}
				g.changed()
			}
		}
	}
	for tp := range m.owned {
		switch inTarget, revoking := target.has(tp), m.revoking.has(tp); {
		case !inTarget && !revoking:
			m.revoking[tp] = struct{}{}
			g.changed()
		case inTarget && revoking:
			delete(m.revoking, tp)
			g.changed()
		}
	}
	switch {
	case len(m.revoking) == 0:
		m.revokeSince = time.Time{}
	case m.revokeSince.IsZero():
		m.revokeSince = now
	}
	for tp := range target {
		if !m.owned.has(tp) && g.owner[tp] == "" {
			m.owned[tp] = struct{}{}
			g.owner[tp] = m.id
			g.changed()
		}
	}
	m.generation = g.generation
}

// answer builds a member's assignment; extra are partitions the client
// claims to own that it does not, which it must drop.
func (g *Group) answer(m *member, extra []TopicPartition) Assignment {
	assigned := tpSet{}
	for tp := range m.owned {
		if !m.revoking.has(tp) {
			assigned[tp] = struct{}{}
		}
	}
	revoke := tpSet{}
	for tp := range m.revoking {
		revoke[tp] = struct{}{}
	}
	for _, tp := range extra {
		revoke[tp] = struct{}{}
	}
	a := Assignment{
		MemberID:            m.id,
		Generation:          g.generation,
		Assignor:            g.assignor,
		Assigned:            ToWire(assigned.sorted()),
		Reconciling:         !g.stable(),
		HeartbeatIntervalMs: int32(min(g.cfg.HeartbeatInterval, m.sessionTimeout/3) / time.Millisecond),
		SessionTimeoutMs:    int32(m.sessionTimeout / time.Millisecond),
		RebalanceTimeoutMs:  int32(m.rebalanceTimeout / time.Millisecond),
	}
	if len(revoke) > 0 {
		a.Revoke = ToWire(revoke.sorted())
	}
	return a
}

// Leave removes a member at once; its partitions are free for the others.
// It answers the new generation.
func (g *Group) Leave(now time.Time, memberID, instanceID string) (int32, error) {
	m, err := g.lookup(memberID, instanceID)
	if err != nil {
		return 0, err
	}
	g.remove(now, m)
	return g.generation, nil
}

// Expiry says why Tick expelled a member.
type Expiry struct {
	MemberID   string
	InstanceID string
	Reason     string
}

// Tick expels the members whose session timed out, that stopped polling for
// longer than their rebalance timeout (max.poll.interval.ms), or that did not
// confirm a revocation within it.
func (g *Group) Tick(now time.Time) []Expiry {
	var out []Expiry
	for _, m := range g.orderedMembers() {
		var reason string
		switch {
		case now.Sub(m.lastHeartbeat) > m.sessionTimeout:
			reason = "session timeout"
		case now.Sub(m.lastPoll) > m.rebalanceTimeout:
			reason = "max.poll.interval.ms exceeded"
		case len(m.revoking) > 0 && now.Sub(m.revokeSince) > m.rebalanceTimeout:
			reason = "revocation not confirmed within the rebalance timeout"
		default:
			continue
		}
		out = append(out, Expiry{MemberID: m.id, InstanceID: m.instanceID, Reason: reason})
		g.remove(now, m)
	}
	return out
}

// CheckCommit decides whether a commit of the given partitions may be
// written. A member may commit the partitions it owns (including those it is
// revoking) with a generation between its join and the current one. An empty
// member id with a negative generation is a commit from outside the group,
// accepted only while the group has no members.
func (g *Group) CheckCommit(memberID, instanceID string, generation int32, tps []TopicPartition) error {
	if memberID == "" && generation < 0 {
		if len(g.members) > 0 {
			return wire.Errorf(wire.CodeUnknownMember, "group %q has %d members: a commit from outside the group needs it empty", g.id, len(g.members))
		}
		return nil
	}
	m, err := g.lookup(memberID, instanceID)
	if err != nil {
		return err
	}
	if generation > g.generation || generation < m.joinGeneration {
		return wire.Errorf(wire.CodeIllegalGeneration, "group %q: commit at generation %d, member %q is valid from %d to %d", g.id, generation, memberID, m.joinGeneration, g.generation)
	}
	for _, tp := range tps {
		if !m.owned.has(tp) {
			return wire.Errorf(wire.CodeIllegalGeneration, "group %q: member %q does not own %s-%d at generation %d (it moved or was never assigned)", g.id, memberID, tp.Topic, tp.Partition, g.generation)
		}
	}
	return nil
}
