package metaserver

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
	"strand.dev/controlplane/metastate"
	"strand.dev/controlplane/raftnode"
)

// headerHops counts how many times a request was forwarded.
const headerHops = "X-Strand-Forwarded"

// maxHops bounds forwarding: a follower forwards to the leader, which
// forwards once more if leadership moved in between.
const maxHops = 2

// handlePropose takes a command from a client (or a forwarding member).
func (s *Server) handlePropose(ctx *fasthttp.RequestCtx) {
	if !ctx.IsPost() {
		writeError(ctx, wire.Errorf(wire.CodeInvalidRequest, "%s takes POST", wire.PathMetaPropose))
		return
	}
	body := ctx.PostBody()
	var cmd wire.Command
	if err := json.Unmarshal(body, &cmd); err != nil {
		writeError(ctx, wire.Errorf(wire.CodeInvalidRequest, "the body is not a JSON command: %v", err))
		return
	}
	if err := s.machine.Validate(&cmd); err != nil {
		writeError(ctx, err)
		return
	}
	resp, err := s.propose(ctx, &cmd, body)
	if err != nil {
		writeError(ctx, err)
		return
	}
	writeJSON(ctx, resp)
}

// propose proposes on the leader, or forwards to it. body is the command as
// received (proposed unchanged unless the leader has to amend it).
func (s *Server) propose(ctx *fasthttp.RequestCtx, cmd *wire.Command, body []byte) (wire.ProposeResponse, error) {
	deadline := time.Now().Add(s.cfg.ProposeTimeout)
	for {
		if err := s.waitLeader(); err != nil {
			return wire.ProposeResponse{}, err
		}
		if !s.node.IsLeader() {
			return s.forwardPropose(ctx, body)
		}
		data := body
		if cmd.Type == wire.CmdAcquireLease && cmd.AcquireLease != nil {
			var err error
			if data, err = s.checkTakeover(cmd); err != nil {
				return wire.ProposeResponse{}, err
			}
			if data == nil {
				data = body
			}
		}
		pctx, cancel := context.WithDeadline(s.ctx, deadline)
		resp, err := s.node.Propose(pctx, data)
		cancel()
		if errors.Is(err, raftnode.ErrNotLeader) && time.Now().Before(deadline) {
			continue // lost leadership just now: find the new leader
		}
		return resp, toWire(err)
	}
}

// checkTakeover applies the lease rule on the leader: an acquisition that
// takes the lease from another holder is proposed only once the lease has
// lapsed on this member's monotonic clock, with LapsedRenewedAt set to the
// RenewedAt that lapsed. It returns the command to propose (nil: unchanged).
func (s *Server) checkTakeover(cmd *wire.Command) ([]byte, error) {
	cur := s.machine.Image().Controller
	if !metastate.IsLeaseTakeover(cur, cmd.AcquireLease) || cmd.AcquireLease.Epoch != cur.Epoch {
		// Not a takeover, or one at a stale epoch that the state machine
		// rejects (STALE_CONTROLLER_EPOCH tells the old holder it is
		// fenced).
		return nil, nil
	}
	lapsed, left, ok := s.lease.check(cur)
	if !ok {
		return nil, &wire.Error{
			Code:       wire.CodeNotController,
			Message:    "the controller lease is held by " + strconv.Quote(cur.Holder) + " and has not lapsed (about " + left.Round(time.Millisecond).String() + " left)",
			LeaderAddr: cur.Addr,
		}
	}
	amended := *cmd
	al := *cmd.AcquireLease
	al.LapsedRenewedAt = lapsed
	amended.AcquireLease = &al
	b, err := json.Marshal(&amended)
	if err != nil {
		return nil, wire.Errorf(wire.CodeUnknown, "encode command: %v", err)
	}
	return b, nil
}

// forwardPropose sends the command to the leader's API.
func (s *Server) forwardPropose(ctx *fasthttp.RequestCtx, body []byte) (wire.ProposeResponse, error) {
	var resp wire.ProposeResponse
	out, err := s.forward(ctx, fasthttp.MethodPost, wire.PathMetaPropose, "", body)
	if err != nil {
		return resp, err
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return resp, wire.Errorf(wire.CodeRequestTimedOut, "the leader's answer is not a ProposeResponse (outcome unknown): %v", err)
	}
	return resp, nil
}

// forward relays a request to the leader's API and returns the body of a 200
// answer; an error answer comes back as its *wire.Error.
func (s *Server) forward(ctx *fasthttp.RequestCtx, method, path, query string, body []byte) ([]byte, error) {
	hops, _ := strconv.Atoi(string(ctx.Request.Header.Peek(headerHops)))
	lead, _ := s.node.Leader()
	m, ok := s.node.Member(lead)
	if !ok || m.APIAddr == "" {
		return nil, wire.Errorf(wire.CodeNoLeader, "the leader (member %d) has no known API address", lead)
	}
	if hops >= maxHops {
		return nil, &wire.Error{Code: wire.CodeNotLeader, Message: "not the leader after " + strconv.Itoa(hops) + " forwards; retry", LeaderAddr: m.APIAddr}
	}
	if s.cfg.PeerFilter != nil && !s.cfg.PeerFilter(s.cfg.ID, lead) {
		return nil, wire.Errorf(wire.CodeNoLeader, "the leader (member %d) is not reachable from member %d", lead, s.cfg.ID)
	}
	req := fasthttp.AcquireRequest()
	res := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(res)
	uri := "http://" + m.APIAddr + path
	if query != "" {
		uri += "?" + query
	}
	req.SetRequestURI(uri)
	req.Header.SetMethod(method)
	req.Header.Set(headerHops, strconv.Itoa(hops+1))
	req.Header.SetContentType("application/json")
	req.SetBody(body)
	if err := s.fwd.DoTimeout(req, res, s.cfg.ProposeTimeout+2*time.Second); err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Op == "dial" || errors.Is(err, fasthttp.ErrDialTimeout) ||
			errors.Is(err, fasthttp.ErrNoFreeConns) {
			return nil, wire.Errorf(wire.CodeNoLeader, "cannot reach the leader (member %d at %s): %v", lead, m.APIAddr, err)
		}
		return nil, wire.Errorf(wire.CodeRequestTimedOut, "forwarding to the leader (member %d at %s) failed; the outcome is unknown: %v", lead, m.APIAddr, err)
	}
	if res.StatusCode() != fasthttp.StatusOK {
		return nil, wire.UnmarshalError(res.StatusCode(), res.Body())
	}
	return append([]byte(nil), res.Body()...), nil
}

// handleMembers lists (GET), adds (POST) or removes (DELETE ?id=N) members.
// Changes run on the leader; followers forward them.
func (s *Server) handleMembers(ctx *fasthttp.RequestCtx) {
	switch {
	case ctx.IsGet():
		sctx, cancel := context.WithTimeout(s.ctx, s.cfg.ReadTimeout)
		defer cancel()
		st, err := s.node.Status(sctx)
		if err != nil {
			writeError(ctx, toWire(err))
			return
		}
		writeJSON(ctx, wire.MembersResponse{Members: memberStatuses(st.Members)})
	case ctx.IsPost():
		var req wire.AddMemberRequest
		if err := json.Unmarshal(ctx.PostBody(), &req); err != nil {
			writeError(ctx, wire.Errorf(wire.CodeInvalidRequest, "the body is not an AddMemberRequest: %v", err))
			return
		}
		if req.ID == 0 || req.PeerAddr == "" {
			writeError(ctx, wire.Errorf(wire.CodeInvalidRequest, "a member needs a positive id and a peer_addr"))
			return
		}
		for _, a := range []string{req.PeerAddr, req.APIAddr} {
			if _, _, err := net.SplitHostPort(a); a != "" && err != nil {
				writeError(ctx, wire.Errorf(wire.CodeInvalidRequest, "address %q: %v", a, err))
				return
			}
		}
		if req.APIAddr == "" {
			req.APIAddr = req.PeerAddr
		}
		s.memberChange(ctx, func(c context.Context) error {
			return s.node.AddMember(c, raftnode.Member{ID: req.ID, PeerAddr: req.PeerAddr, APIAddr: req.APIAddr})
		})
	case ctx.IsDelete():
		id, err := strconv.ParseUint(string(ctx.QueryArgs().Peek("id")), 10, 64)
		if err != nil || id == 0 {
			writeError(ctx, wire.Errorf(wire.CodeInvalidRequest, "DELETE %s needs ?id=<member id>", wire.PathMetaMembers))
			return
		}
		if id == s.cfg.ID && s.node.IsLeader() {
			// Hand leadership over first, so the cluster does not wait an
			// election timeout once this member is gone.
			s.handOffLeadership()
		}
		s.memberChange(ctx, func(c context.Context) error { return s.node.RemoveMember(c, id) })
	default:
		writeError(ctx, wire.Errorf(wire.CodeInvalidRequest, "%s takes GET, POST or DELETE", wire.PathMetaMembers))
	}
}

// handOffLeadership transfers leadership to the most up-to-date other voter
// and waits (up to an election timeout) for it to take over. Best effort:
// if it does not, the removal goes ahead on this leader.
func (s *Server) handOffLeadership() {
	ctx, cancel := context.WithTimeout(s.ctx, time.Duration(s.cfg.ElectionTick)*s.cfg.TickInterval)
	defer cancel()
	st, err := s.node.Status(ctx)
	if err != nil {
		return
	}
	var target, best uint64
	for _, m := range st.Members {
		if m.ID != s.cfg.ID && !m.Learner && m.Match >= best {
			target, best = m.ID, m.Match
		}
	}
	if target == 0 || s.node.TransferLeadership(ctx, target) != nil {
		return
	}
	for ctx.Err() == nil {
		if lead, _ := s.node.Leader(); lead != 0 && lead != s.cfg.ID {
			s.log.Info("handed leadership over before removing this member", "to", lead)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// memberChange runs change on the leader (forwarding the request otherwise)
// and answers the member list after it.
func (s *Server) memberChange(ctx *fasthttp.RequestCtx, change func(context.Context) error) {
	if err := s.waitLeader(); err != nil {
		writeError(ctx, err)
		return
	}
	if !s.node.IsLeader() {
		method := string(ctx.Method())
		out, err := s.forward(ctx, method, wire.PathMetaMembers, string(ctx.QueryArgs().QueryString()), ctx.PostBody())
		if err != nil {
			writeError(ctx, err)
			return
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(out)
		return
	}
	cctx, cancel := context.WithTimeout(s.ctx, s.cfg.ProposeTimeout)
	defer cancel()
	if err := change(cctx); err != nil {
		writeError(ctx, toWire(err))
		return
	}
	ms := s.node.Members()
	out := wire.MembersResponse{}
	for _, m := range ms {
		out.Members = append(out.Members, wire.MemberStatus{ID: m.ID, PeerAddr: m.PeerAddr, APIAddr: m.APIAddr, Learner: m.Learner})
	}
	writeJSON(ctx, out)
}
