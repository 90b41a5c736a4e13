package consumer

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"strand.dev/client/wire"
)

// fakeCoord is a small coordinator for the client's unit tests: one group,
// round-robin targets, cooperative revocation (a partition is granted only
// once its owner confirmed the revocation), commits checked against
// ownership. Two fakeCoords can share one state (fakeGroup) to stand for a
// coordinator that moved. The real coordinator (strand-coordinator) is
// exercised by the process-level tests in e2e/groups.
type fakeCoord struct {
	srv  *httptest.Server
	g    *fakeGroup
	name string
}

// fakeGroup is the group's state.
type fakeGroup struct {
	mu         sync.Mutex
	partitions map[string]int32 // topic -> partition count
	owner      string           // name of the fakeCoord serving the group
	addrs      map[string]string
	generation int32
	members    map[string]*fakeMember
	order      []string // member ids in join order
	committed  map[TopicPartition]int64
	commitLog  []map[TopicPartition]int64
	leaves     int
	// fail, per path, are error codes to answer the next requests with.
	fail map[string][]wire.Code
}

type fakeMember struct {
	id, instance string
	topics       []string
	owned        map[TopicPartition]bool
	revoking     map[TopicPartition]bool
}

func newFakeGroup(partitions map[string]int32) *fakeGroup {
	return &fakeGroup{partitions: partitions, addrs: map[string]string{}, members: map[string]*fakeMember{},
		committed: map[TopicPartition]int64{}, fail: map[string][]wire.Code{}}
}

func startFakeCoord(t *testing.T, g *fakeGroup, name string) *fakeCoord {
	f := &fakeCoord{g: g, name: name}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	g.mu.Lock()
	g.addrs[name] = strings.TrimPrefix(f.srv.URL, "http://")
	if g.owner == "" {
		g.owner = name
	}
	g.mu.Unlock()
	return f
}

func (f *fakeCoord) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func answer(w http.ResponseWriter, v any, err *wire.Error) {
	w.Header().Set("Content-Type", wire.ContentTypeJSON)
	if err != nil {
		body, status := wire.MarshalError(err)
		w.WriteHeader(status)
		w.Write(body)
		return
	}
	json.NewEncoder(w).Encode(v)
}

func (f *fakeCoord) serve(w http.ResponseWriter, r *http.Request) {
	g := f.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.URL.Path == wire.PathGroupCoordinator {
		answer(w, wire.FindCoordinatorResponse{GroupID: r.URL.Query().Get(wire.ParamGroup), CoordinatorID: g.owner, Addr: g.addrs[g.owner]}, nil)
		return
	}
	if codes := g.fail[r.URL.Path]; len(codes) > 0 {
		g.fail[r.URL.Path] = codes[1:]
		answer(w, nil, wire.Errorf(codes[0], "injected"))
		return
	}
	if g.owner != f.name {
		e := wire.Errorf(wire.CodeNotCoordinator, "not the coordinator")
		answer(w, nil, e)
		return
	}
	switch r.URL.Path {
	case wire.PathGroupJoin:
		var req wire.JoinGroupRequest
		json.NewDecoder(r.Body).Decode(&req)
		m := g.members[req.MemberID]
		if m == nil {
			m = &fakeMember{id: req.MemberID, instance: req.GroupInstanceID, owned: map[TopicPartition]bool{}, revoking: map[TopicPartition]bool{}}
			g.members[m.id] = m
			g.order = append(g.order, m.id)
			g.generation++
		}
		m.topics = req.Topics
		g.reconcile(m, nil)
		answer(w, g.answer(m), nil)
	case wire.PathGroupHeartbeat:
		var req wire.HeartbeatRequest
		json.NewDecoder(r.Body).Decode(&req)
		m := g.members[req.MemberID]
		if m == nil {
			answer(w, nil, wire.Errorf(wire.CodeUnknownMember, "unknown member %s", req.MemberID))
			return
		}
		g.reconcile(m, fromWire(req.Owned))
		answer(w, g.answer(m), nil)
	case wire.PathGroupLeave:
		var req wire.LeaveGroupRequest
		json.NewDecoder(r.Body).Decode(&req)
		if g.members[req.MemberID] == nil {
			answer(w, nil, wire.Errorf(wire.CodeUnknownMember, "unknown member"))
			return
		}
		g.remove(req.MemberID)
		g.leaves++
		answer(w, wire.LeaveGroupResponse{Generation: g.generation}, nil)
	case wire.PathGroupCommit:
		var req wire.OffsetCommitRequest
		json.NewDecoder(r.Body).Decode(&req)
		m := g.members[req.MemberID]
		if m == nil {
			answer(w, nil, wire.Errorf(wire.CodeUnknownMember, "unknown member"))
			return
		}
		offs := map[TopicPartition]int64{}
		for _, o := range req.Offsets {
			tp := TopicPartition{Topic: o.Topic, Partition: o.Partition}
			if !m.owned[tp] {
				answer(w, nil, wire.Errorf(wire.CodeIllegalGeneration, "%s not owned", tp))
				return
			}
			offs[tp] = o.Offset
		}
		for tp, o := range offs {
			g.committed[tp] = o
		}
		g.commitLog = append(g.commitLog, offs)
		answer(w, wire.OffsetCommitResponse{Committed: len(offs)}, nil)
	case wire.PathGroupOffsetsFetch:
		var req wire.OffsetFetchRequest
		json.NewDecoder(r.Body).Decode(&req)
		resp := wire.OffsetFetchResponse{GroupID: req.GroupID}
		for tp := range fromWire(req.Topics) {
			off, ok := g.committed[tp]
			if !ok {
				off = wire.NoOffset
			}
			resp.Offsets = append(resp.Offsets, wire.CommittedOffset{Topic: tp.Topic, Partition: tp.Partition, Offset: off, LeaderEpoch: -1})
		}
		answer(w, resp, nil)
	default:
		answer(w, nil, wire.Errorf(wire.CodeInvalidRequest, "no path %s", r.URL.Path))
	}
}

func (g *fakeGroup) remove(id string) {
	delete(g.members, id)
	for i, x := range g.order {
		if x == id {
			g.order = append(g.order[:i], g.order[i+1:]...)
			break
		}
	}
	g.generation++
}

// target deals the partitions out round robin over the members in join
// order.
func (g *fakeGroup) target(id string) map[TopicPartition]bool {
	var all []TopicPartition
	for t, n := range g.partitions {
		for p := range n {
			all = append(all, TopicPartition{Topic: t, Partition: p})
		}
	}
	sortTPs(all)
	out := map[TopicPartition]bool{}
	for i, tp := range all {
		if g.order[i%len(g.order)] == id {
			out[tp] = true
		}
	}
	return out
}

// reconcile moves m towards its target, as the real coordinator does.
func (g *fakeGroup) reconcile(m *fakeMember, clientOwned map[TopicPartition]bool) {
	target := g.target(m.id)
	if clientOwned != nil {
		for tp := range m.revoking {
			if !clientOwned[tp] {
				delete(m.revoking, tp)
				delete(m.owned, tp)
			}
		}
	}
	for tp := range m.owned {
		if !target[tp] {
			m.revoking[tp] = true
		}
	}
	for tp := range target {
		if m.owned[tp] {
			continue
		}
		free := true
		for _, o := range g.members {
			if o.owned[tp] {
				free = false
			}
		}
		if free {
			m.owned[tp] = true
		}
	}
}

func (g *fakeGroup) answer(m *fakeMember) wire.MemberAssignment {
	var assigned, revoke []TopicPartition
	for tp := range m.owned {
		if m.revoking[tp] {
			revoke = append(revoke, tp)
		} else {
			assigned = append(assigned, tp)
		}
	}
	sortTPs(assigned)
	sortTPs(revoke)
	return wire.MemberAssignment{MemberID: m.id, Generation: g.generation, Assignor: wire.AssignorRoundRobin,
		Assigned: toWire(assigned), Revoke: toWire(revoke), HeartbeatIntervalMs: 100, SessionTimeoutMs: 3000, RebalanceTimeoutMs: 60000}
}

// ownedBy returns what the coordinator counts as owned by each member.
func (g *fakeGroup) ownedBy() map[string][]TopicPartition {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string][]TopicPartition{}
	for id, m := range g.members {
		for tp := range m.owned {
			out[id] = append(out[id], tp)
		}
		sort.Slice(out[id], func(i, j int) bool { return out[id][i].Partition < out[id][j].Partition })
	}
	return out
}
