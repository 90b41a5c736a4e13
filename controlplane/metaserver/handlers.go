package metaserver

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
	"strand.dev/controlplane/raftnode"
)

// handleImage answers the image: after a ReadIndex round by default, from
// the local copy with ?stale=true.
func (s *Server) handleImage(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() {
		writeError(ctx, wire.Errorf(wire.CodeInvalidRequest, "%s takes GET", wire.PathMetaImage))
		return
	}
	if !ctx.QueryArgs().GetBool("stale") {
		if err := s.linearize(); err != nil {
			writeError(ctx, err)
			return
		}
	}
	s.writeImage(ctx)
}

// linearize waits until this member has applied everything committed before
// the call (raft ReadIndex), or fails with a retriable error.
func (s *Server) linearize() error {
	if err := s.waitLeader(); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(s.ctx, s.cfg.ReadTimeout)
	defer cancel()
	err := s.node.ReadIndex(rctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		if lead, _ := s.node.Leader(); lead == 0 {
			return wire.Errorf(wire.CodeNoLeader, "no raft leader: a linearizable read is not possible now (use stale=true for the local copy)")
		}
		return wire.Errorf(wire.CodeRequestTimedOut, "the leader did not confirm the read within %v", s.cfg.ReadTimeout)
	default:
		return toWire(err)
	}
}

// waitLeader waits up to NoLeaderWait for a known leader.
func (s *Server) waitLeader() error {
	if lead, _ := s.node.Leader(); lead != 0 {
		return nil
	}
	deadline := time.NewTimer(s.cfg.NoLeaderWait)
	defer deadline.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-poll.C:
			if lead, _ := s.node.Leader(); lead != 0 {
				return nil
			}
		case <-deadline.C:
			return wire.Errorf(wire.CodeNoLeader, "no raft leader elected within %v (is a majority of the members up and reachable?)", s.cfg.NoLeaderWait)
		case <-s.ctx.Done():
			return wire.Errorf(wire.CodeShuttingDown, "strand-meta is stopping")
		}
	}
}

// writeImage answers the current image, encoded once per version.
func (s *Server) writeImage(ctx *fasthttp.RequestCtx) {
	_, body, err := s.machine.ImageJSON()
	if err != nil {
		writeError(ctx, wire.Errorf(wire.CodeUnknown, "encode image: %v", err))
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

// handleWatch long-polls until the image version exceeds ?version.
func (s *Server) handleWatch(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() {
		writeError(ctx, wire.Errorf(wire.CodeInvalidRequest, "%s takes GET", wire.PathMetaWatch))
		return
	}
	args := ctx.QueryArgs()
	var version uint64
	if v := args.Peek("version"); len(v) > 0 {
		var err error
		if version, err = strconv.ParseUint(string(v), 10, 64); err != nil {
			writeError(ctx, wire.Errorf(wire.CodeInvalidRequest, "version %q is not a number", v))
			return
		}
	}
	timeout := DefaultWatchTimeout
	if v := args.Peek("timeout_ms"); len(v) > 0 {
		ms, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || ms < 0 {
			writeError(ctx, wire.Errorf(wire.CodeInvalidRequest, "timeout_ms %q is not a non-negative number", v))
			return
		}
		timeout = min(time.Duration(ms)*time.Millisecond, DefaultMaxWatchTimeout)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
wait:
	for {
		// Take the channel before reading the version: an apply in
		// between closes it and wakes us.
		applied := s.node.Applied()
		if s.machine.Image().Version > version {
			break
		}
		select {
		case <-applied:
		case <-deadline.C:
			break wait
		case <-s.ctx.Done():
			break wait
		}
	}
	s.writeImage(ctx)
}

// handleMetadata answers the routing view with the members' API addresses.
func (s *Server) handleMetadata(ctx *fasthttp.RequestCtx) {
	md := s.machine.Image().Metadata()
	for _, m := range s.node.Members() {
		if m.APIAddr != "" {
			md.MetaAddrs = append(md.MetaAddrs, m.APIAddr)
		}
	}
	writeJSON(ctx, md)
}

// handleStatus answers this member's raft status.
func (s *Server) handleStatus(ctx *fasthttp.RequestCtx) {
	sctx, cancel := context.WithTimeout(s.ctx, s.cfg.ReadTimeout)
	defer cancel()
	st, err := s.node.Status(sctx)
	if err != nil {
		writeError(ctx, toWire(err))
		return
	}
	out := wire.MetaStatus{
		ID: st.ID, ClusterID: s.cfg.ClusterID, Term: st.Term, Leader: st.Leader, State: st.State,
		CommitIndex: st.Commit, AppliedIndex: st.Applied, SnapshotIdx: st.SnapshotIndex,
		ImageVersion: s.machine.Image().Version,
		Members:      memberStatuses(st.Members),
	}
	if m, ok := s.node.Member(st.Leader); ok {
		out.LeaderAddr = m.APIAddr
	}
	writeJSON(ctx, out)
}

func memberStatuses(ms []raftnode.MemberStatus) []wire.MemberStatus {
	out := make([]wire.MemberStatus, 0, len(ms))
	for _, m := range ms {
		out = append(out, wire.MemberStatus{
			ID: m.ID, PeerAddr: m.PeerAddr, APIAddr: m.APIAddr, Learner: m.Learner,
			Match: m.Match, Next: m.Next, State: m.Progress,
		})
	}
	return out
}

// handleHealth: 200 while the member runs and knows a leader.
func (s *Server) handleHealth(ctx *fasthttp.RequestCtx) {
	select {
	case <-s.node.Done():
		writeError(ctx, wire.Errorf(wire.CodeShuttingDown, "the raft node is not running"))
		return
	default:
	}
	if lead, _ := s.node.Leader(); lead == 0 {
		writeError(ctx, wire.Errorf(wire.CodeNoLeader, "no raft leader known"))
		return
	}
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString("ok\n")
}

func writeJSON(ctx *fasthttp.RequestCtx, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(ctx, wire.Errorf(wire.CodeUnknown, "encode answer: %v", err))
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// writeError answers the wire error envelope with the code's status.
func writeError(ctx *fasthttp.RequestCtx, err error) {
	body, status := wire.MarshalError(err)
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}
