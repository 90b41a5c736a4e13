package server

import (
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
	"strand.dev/coordinator/group"
	"strand.dev/coordinator/offsets"
)

// findCoordinator answers PathGroupCoordinator from the ownership records.
func (s *Server) findCoordinator(ctx *fasthttp.RequestCtx) (any, error) {
	id := query(ctx, wire.ParamGroup)
	if err := wire.ValidateGroupID(id); err != nil {
		return nil, err
	}
	p := wire.OffsetsPartitionFor(id, s.numPartitions())
	out := wire.FindCoordinatorResponse{GroupID: id, Partition: p}
	if s.own == nil {
		out.CoordinatorID, out.Addr = s.cfg.ID, s.addr
		s.mu.RLock()
		if pt := s.parts[p]; pt != nil {
			pt.mu.Lock()
			out.Epoch = pt.epoch
			pt.mu.Unlock()
		}
		s.mu.RUnlock()
		return out, nil
	}
	o := s.view.Owners()[p]
	if o == nil || o.Coordinator == "" || o.Addr == "" {
		return nil, wire.Errorf(wire.CodeCoordinatorNotAvailable, "offsets partition %d of group %q has no coordinator yet", p, id)
	}
	out.CoordinatorID, out.Addr, out.Epoch = o.Coordinator, o.Addr, o.Epoch
	return out, nil
}

// localGroups lists the groups this coordinator serves.
func (s *Server) localGroups() []wire.GroupListing {
	var out []wire.GroupListing
	for _, pt := range s.serving() {
		for _, e := range pt.entries() {
			e.mu.Lock()
			out = append(out, wire.GroupListing{GroupID: e.g.ID(), State: e.g.State(), Members: e.g.Len(), Assignor: e.g.Assignor(), Coordinator: s.addr})
			e.mu.Unlock()
		}
	}
	return out
}

// listGroups answers PathGroupList: this coordinator's groups and, unless
// local=true, the other coordinators'.
func (s *Server) listGroups(ctx *fasthttp.RequestCtx) (any, error) {
	out := wire.ListGroupsResponse{Groups: s.localGroups()}
	if query(ctx, wire.ParamLocal) != "true" {
		others := map[string]bool{}
		for _, o := range s.view.Owners() {
			if o.Addr != "" && o.Addr != s.addr && o.Coordinator != "" {
				others[o.Addr] = true
			}
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for addr := range others {
			wg.Add(1)
			go func() {
				defer wg.Done()
				gs, err := s.remoteGroups(addr)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					out.Unreachable = append(out.Unreachable, addr)
					return
				}
				out.Groups = append(out.Groups, gs...)
			}()
		}
		wg.Wait()
		slices.Sort(out.Unreachable)
	}
	if out.Groups == nil {
		out.Groups = []wire.GroupListing{}
	}
	slices.SortFunc(out.Groups, func(a, b wire.GroupListing) int {
		switch {
		case a.GroupID < b.GroupID:
			return -1
		case a.GroupID > b.GroupID:
			return 1
		}
		return 0
	})
	return out, nil
}

// remoteGroups asks another coordinator for its own groups.
func (s *Server) remoteGroups(addr string) ([]wire.GroupListing, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + wire.PathGroupList + "?" + wire.ParamLocal + "=true")
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
		return nil, err
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return nil, wire.UnmarshalError(resp.StatusCode(), resp.Body())
	}
	var l wire.ListGroupsResponse
	if err := json.Unmarshal(resp.Body(), &l); err != nil {
		return nil, err
	}
	return l.Groups, nil
}

// describe answers PathGroupDescribe: members, assignment, offsets and lag.
func (s *Server) describe(ctx *fasthttp.RequestCtx) (any, error) {
	id := query(ctx, wire.ParamGroup)
	pt, err := s.route(id)
	if err != nil {
		return nil, err
	}
	e := pt.entry(id, false)
	if e == nil {
		return nil, wire.Errorf(wire.CodeGroupIDNotFound, "group %q does not exist", id)
	}
	e.mu.Lock()
	if e.g.Empty() && len(e.offsets) == 0 && !e.persisted {
		e.mu.Unlock()
		return nil, wire.Errorf(wire.CodeGroupIDNotFound, "group %q does not exist", id)
	}
	d := e.g.Describe(s.cfg.Now())
	owners := map[group.TopicPartition]string{}
	parts := map[group.TopicPartition]committed{}
	for tp, c := range e.offsets {
		parts[tp] = c
	}
	counts := s.view.Counts()
	for _, m := range d.Members {
		for _, t := range m.Topics {
			for p := range counts[t] {
				tp := group.TopicPartition{Topic: t, Partition: p}
				if _, ok := parts[tp]; !ok {
					parts[tp] = committed{OffsetValue: offsets.OffsetValue{Offset: wire.NoOffset, LeaderEpoch: -1}}
				}
			}
		}
	}
	for tp := range parts {
		owners[tp] = e.g.Owner(tp)
	}
	e.mu.Unlock()
	d.Coordinator, d.CoordinatorAddr = s.cfg.ID, s.addr
	d.Offsets = s.lags(parts, owners, counts)
	return d, s.stillServing(pt)
}

// lags asks the data plane for each partition's end and computes the lag.
func (s *Server) lags(parts map[group.TopicPartition]committed, owners map[group.TopicPartition]string, counts map[string]int32) []wire.PartitionLag {
	ctx, cancel := s.requestContext(5 * time.Second)
	defer cancel()
	out := make([]wire.PartitionLag, 0, len(parts))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for tp, c := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pl := wire.PartitionLag{
				CommittedOffset: wire.CommittedOffset{Topic: tp.Topic, Partition: tp.Partition, Offset: c.Offset, LeaderEpoch: c.LeaderEpoch, Metadata: c.Metadata, CommitTimestampMs: c.CommitTimestampMs},
				LogEndOffset:    -1, Lag: -1, MemberID: owners[tp],
			}
			if tp.Partition < counts[tp.Topic] {
				sem <- struct{}{}
				end, err := s.lc.ListOffset(ctx, tp.Topic, tp.Partition, wire.AtLatest)
				<-sem
				if err == nil {
					pl.LogEndOffset = end
					if c.Offset >= 0 {
						pl.Lag = max(end-c.Offset, 0)
					}
				}
			}
			mu.Lock()
			out = append(out, pl)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b wire.PartitionLag) int {
		return group.TopicPartition{Topic: a.Topic, Partition: a.Partition}.Compare(group.TopicPartition{Topic: b.Topic, Partition: b.Partition})
	})
	return out
}

// deleteGroup answers PathGroupDelete: tombstones for the group and its
// offsets, only while it has no members.
func (s *Server) deleteGroup(ctx *fasthttp.RequestCtx) (any, error) {
	var req wire.DeleteGroupRequest
	if err := decode(ctx, &req); err != nil {
		return nil, err
	}
	pt, err := s.route(req.GroupID)
	if err != nil {
		return nil, err
	}
	e := pt.entry(req.GroupID, false)
	if e == nil {
		return nil, wire.Errorf(wire.CodeGroupIDNotFound, "group %q does not exist", req.GroupID)
	}
	e.mu.Lock()
	if !e.g.Empty() {
		n := e.g.Len()
		e.mu.Unlock()
		return nil, wire.Errorf(wire.CodeNonEmptyGroup, "group %q has %d members; only an empty group can be deleted", req.GroupID, n)
	}
	if len(e.offsets) == 0 && !e.persisted {
		e.mu.Unlock()
		return nil, wire.Errorf(wire.CodeGroupIDNotFound, "group %q does not exist", req.GroupID)
	}
	w, n := s.tombstonesLocked(pt, e, nil)
	version, seq := e.g.Version(), e.seq
	e.mu.Unlock()
	if err := w.wait(s.stopCtx); err != nil {
		return nil, err
	}
	s.forgetIfUnchanged(pt, e, version, seq)
	return wire.DeleteGroupResponse{GroupID: req.GroupID, OffsetsDeleted: n}, s.stillServing(pt)
}

// tombstonesLocked submits tombstones for some of a group's offsets (all
// when only is nil), and for the group itself when all go and the group is
// empty. It drops them from memory at once (a failed write leaves them in
// the log; the next expiry or delete writes them again). Called with e.mu
// held.
func (s *Server) tombstonesLocked(pt *partition, e *groupEntry, only []group.TopicPartition) (*write, int) {
	id := e.g.ID()
	var recs []recordbatch.Record
	drop := only
	if drop == nil {
		for tp := range e.offsets {
			drop = append(drop, tp)
		}
	}
	for _, tp := range drop {
		recs = append(recs, recordbatch.Record{Key: offsets.OffsetKey(id, tp.Topic, tp.Partition).Encode()})
		delete(e.offsets, tp)
	}
	e.seq++
	if len(e.offsets) == 0 && e.g.Empty() && e.persisted {
		recs = append(recs, recordbatch.Record{Key: offsets.GroupKey(id).Encode()})
		e.persisted = false
	}
	w := newWrite(recs)
	if len(recs) == 0 {
		close(w.done)
		return w, 0
	}
	if err := pt.writerFor(id).submit(s.stopCtx, pt.stop, w); err != nil {
		w.err = err
		close(w.done)
	}
	return w, len(drop)
}

// forgetIfUnchanged drops a group from memory once it is empty, has no
// offsets, and neither its state (version) nor its offsets (seq) changed
// since the tombstones were submitted.
func (s *Server) forgetIfUnchanged(pt *partition, e *groupEntry, version, seq uint64) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if pt.groups[e.g.ID()] == e && e.g.Empty() && len(e.offsets) == 0 && !e.persisted && e.g.Version() == version && e.seq == seq {
		delete(pt.groups, e.g.ID())
		e.dead = true
	}
}
