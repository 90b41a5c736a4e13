package server

import (
	"context"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
	"strand.dev/coordinator/group"
)

// join answers PathGroupJoin.
func (s *Server) join(ctx *fasthttp.RequestCtx) (any, error) {
	var req wire.JoinGroupRequest
	if err := decode(ctx, &req); err != nil {
		return nil, err
	}
	pt, err := s.route(req.GroupID)
	if err != nil {
		return nil, err
	}
	e := pt.lockLive(req.GroupID, true)
	gen := e.g.Generation()
	a, err := e.g.Join(s.cfg.Now(), group.JoinArgs{JoinGroupRequest: req, ClientHost: ctx.RemoteIP().String()})
	if e.g.Generation() != gen {
		s.met.rebalances.Inc()
	}
	sw := s.persistLocked(pt, e)
	e.notifyLocked()
	e.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := s.awaitSnapshot(s.stopCtx, e, sw); err != nil {
		return nil, err
	}
	if err := s.stillServing(pt); err != nil {
		return nil, err
	}
	s.updateGauges()
	return a, nil
}

// heartbeat answers PathGroupHeartbeat, long-polling up to MaxWaitMs for a
// change of the member's assignment.
func (s *Server) heartbeat(ctx *fasthttp.RequestCtx) (any, error) {
	var req wire.HeartbeatRequest
	if err := decode(ctx, &req); err != nil {
		return nil, err
	}
	if req.PollAgeMs < 0 || req.MaxWaitMs < 0 {
		return nil, wire.Errorf(wire.CodeInvalidRequest, "poll_age_ms and max_wait_ms must not be negative")
	}
	arrived := time.Now()
	pt, err := s.route(req.GroupID)
	if err != nil {
		return nil, err
	}
	e := pt.entry(req.GroupID, false)
	if e == nil {
		return nil, wire.Errorf(wire.CodeUnknownMember, "group %q has no members here (join it first)", req.GroupID)
	}
	owned := ownedSet(req.Owned)
	var deadline time.Time
	for {
		e.mu.Lock()
		r := req
		r.PollAgeMs += time.Since(arrived).Milliseconds()
		gen := e.g.Generation()
		a, herr := e.g.Heartbeat(s.cfg.Now(), r)
		if e.g.Generation() != gen {
			s.met.rebalances.Inc()
		}
		if deadline.IsZero() && herr == nil && req.MaxWaitMs > 0 {
			wait := min(time.Duration(req.MaxWaitMs)*time.Millisecond, s.cfg.MaxHeartbeatWait,
				time.Duration(a.SessionTimeoutMs)*time.Millisecond/3)
			deadline = arrived.Add(wait)
		}
		sw := s.persistLocked(pt, e)
		e.notifyLocked()
		changed := e.changed
		e.mu.Unlock()
		if err := s.awaitSnapshot(s.stopCtx, e, sw); err != nil {
			return nil, err
		}
		if herr != nil {
			s.updateGauges()
			return nil, herr
		}
		if err := s.stillServing(pt); err != nil {
			return nil, err
		}
		if deadline.IsZero() || hasNews(a, owned) || !time.Now().Before(deadline) {
			return a, nil
		}
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-changed:
		case <-t.C:
		case <-pt.stop:
		case <-s.stopCtx.Done():
		}
		t.Stop()
	}
}

// ownedSet flattens a member's reported partitions.
func ownedSet(tps []wire.TopicPartitions) map[group.TopicPartition]bool {
	out := map[group.TopicPartition]bool{}
	for _, tp := range group.FromWire(tps) {
		out[tp] = true
	}
	return out
}

// hasNews reports whether an answer asks the member to do anything: revoke,
// or take a partition it does not own yet.
func hasNews(a wire.MemberAssignment, owned map[group.TopicPartition]bool) bool {
	if len(a.Revoke) > 0 {
		return true
	}
	assigned := group.FromWire(a.Assigned)
	if len(assigned) != len(owned) {
		return true
	}
	for _, tp := range assigned {
		if !owned[tp] {
			return true
		}
	}
	return false
}

// leave answers PathGroupLeave.
func (s *Server) leave(ctx *fasthttp.RequestCtx) (any, error) {
	var req wire.LeaveGroupRequest
	if err := decode(ctx, &req); err != nil {
		return nil, err
	}
	pt, err := s.route(req.GroupID)
	if err != nil {
		return nil, err
	}
	e := pt.entry(req.GroupID, false)
	if e == nil {
		return nil, wire.Errorf(wire.CodeUnknownMember, "group %q has no member %q", req.GroupID, req.MemberID)
	}
	e.mu.Lock()
	gen, err := e.g.Leave(s.cfg.Now(), req.MemberID, req.GroupInstanceID)
	if err == nil {
		s.met.rebalances.Inc()
		s.log.Debug("member left", "group", req.GroupID, "member", req.MemberID, "reason", req.Reason)
	}
	sw := s.persistLocked(pt, e)
	e.notifyLocked()
	e.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := s.awaitSnapshot(s.stopCtx, e, sw); err != nil {
		return nil, err
	}
	s.updateGauges()
	return wire.LeaveGroupResponse{Generation: gen}, s.stillServing(pt)
}

// requestContext bounds a request's waits by the server's life.
func (s *Server) requestContext(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.stopCtx, d)
}
