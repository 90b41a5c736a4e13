package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"strand.dev/client/internal/transport"
	"strand.dev/client/wire"
)

// run is the membership goroutine: join, then heartbeat (long polls) until
// Close, rejoining when the coordinator forgets the member. It changes
// granted and toRevoke and wakes Poll; Poll does the rest.
func (g *GroupConsumer) run() {
	defer close(g.loopDone)
	ctx := g.loopCtx
	failures := 0
	for ctx.Err() == nil {
		g.mu.Lock()
		fatal, joined, waitPoll, polls := g.fatal, g.joined, g.waitPoll, g.pollCount
		pending := len(g.toRevoke) > 0 || g.lost
		interval := g.hbInterval
		g.mu.Unlock()
		if fatal != nil {
			return
		}
		if waitPoll {
			// Expelled for not polling: join again only once the
			// application polls, so a stuck consumer does not take
			// partitions back.
			if !g.waitKick(ctx, -1) {
				return
			}
			g.mu.Lock()
			if g.pollCount != polls || g.inPoll > 0 {
				g.waitPoll = false
			}
			g.mu.Unlock()
			continue
		}
		var err error
		if !joined {
			err = g.join(ctx)
		} else {
			if pending {
				// Poll has a revocation to run: heartbeat only to stay
				// alive until it is done (a long poll would return at once,
				// the revocation still being news).
				if !g.waitKick(ctx, interval) {
					return
				}
			}
			var news bool
			var wait, took time.Duration
			news, wait, took, err = g.heartbeat(ctx)
			if rest := max(interval, 10*time.Millisecond) - took; err == nil && !news && took < wait/2 && rest > 0 {
				// The coordinator answered a long poll early without news
				// (it does not hold heartbeats): pace them by the interval.
				if !g.waitKick(ctx, rest) {
					return
				}
			}
		}
		if err == nil {
			failures = 0
			g.prefetch(ctx)
			continue
		}
		if ctx.Err() != nil {
			return
		}
		g.gstats.groupErrors.Add(1)
		if g.handleError(err) {
			failures = 0
			continue
		}
		failures++
		g.checkSession()
		g.log.Debug("group request failed, will retry", "failures", failures, "err", err)
		if !g.waitKick(ctx, g.c.cfg.conn.RetryBackoff.Delay(failures)) {
			return
		}
	}
}

// waitKick waits for a kick, for d (d < 0: no limit), or for the end.
func (g *GroupConsumer) waitKick(ctx context.Context, d time.Duration) bool {
	var timeout <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-g.kick:
	case <-timeout:
	case <-ctx.Done():
		return false
	}
	return true
}

// join sends a JoinGroup and applies the answer.
func (g *GroupConsumer) join(ctx context.Context) error {
	g.mu.Lock()
	req := wire.JoinGroupRequest{
		GroupID: g.group, MemberID: g.memberID, GroupInstanceID: g.cfg.instanceID, ClientID: g.cfg.clientID,
		Topics: g.topics, Assignors: g.cfg.assignors,
		SessionTimeoutMs:   int32(g.cfg.sessionTimeout / time.Millisecond),
		RebalanceTimeoutMs: int32(g.cfg.rebalanceTimeout / time.Millisecond),
	}
	g.mu.Unlock()
	var a wire.MemberAssignment
	if err := g.send(ctx, wire.PathGroupJoin, req, &a, 0); err != nil {
		return err
	}
	g.gstats.joins.Add(1)
	g.mu.Lock()
	g.joined = true
	g.mu.Unlock()
	g.apply(a)
	g.log.Info("joined the group", "member", a.MemberID, "generation", a.Generation, "assignor", a.Assignor)
	return nil
}

// heartbeat sends one heartbeat (a long poll when nothing is pending) and
// applies the answer. It reports whether the answer changed anything, the
// long-poll wait asked for and how long the answer took.
func (g *GroupConsumer) heartbeat(ctx context.Context) (news bool, wait, took time.Duration, err error) {
	g.mu.Lock()
	if len(g.toRevoke) == 0 && !g.lost {
		wait = g.cfg.heartbeatWait
		if wait == 0 {
			wait = g.session / 3
		}
	}
	pollAge := time.Duration(0)
	if g.inPoll == 0 {
		pollAge = time.Since(g.lastPoll)
	}
	owned := sortedTPs(g.granted)
	req := wire.HeartbeatRequest{
		GroupID: g.group, MemberID: g.memberID, GroupInstanceID: g.cfg.instanceID, Generation: g.generation,
		Owned: toWire(owned), PollAgeMs: pollAge.Milliseconds(), MaxWaitMs: int32(wait / time.Millisecond),
	}
	if req.Owned == nil {
		req.Owned = []wire.TopicPartitions{}
	}
	g.mu.Unlock()
	var a wire.MemberAssignment
	start := time.Now()
	if err := g.send(ctx, wire.PathGroupHeartbeat, req, &a, wait); err != nil {
		return false, wait, time.Since(start), err
	}
	g.gstats.heartbeats.Add(1)
	return g.apply(a), wait, time.Since(start), nil
}

// send is one request to the coordinator (no retry: the loop retries).
func (g *GroupConsumer) send(ctx context.Context, path string, in, out any, wait time.Duration) error {
	addr, err := g.coordinator(ctx)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, g.c.cfg.requestTimeout+wait)
	defer cancel()
	err = g.c.tr.JSON(rctx, "POST", addr, path, nil, in, out)
	if err != nil && coordinatorMoved(err) {
		g.forgetCoordinator(addr, err)
	}
	return err
}

// prefetch fetches the committed offsets of granted partitions that Poll
// has not started, so that Poll can start them without a round trip. A
// grant comes only once the previous owner confirmed its revocation, after
// its last commit, so the offsets stay valid until Poll uses them. Errors
// are left for Poll to meet.
func (g *GroupConsumer) prefetch(ctx context.Context) {
	g.mu.Lock()
	var want []TopicPartition
	for tp := range g.granted {
		if _, ok := g.startAt[tp]; !ok && !g.active[tp] && !g.toRevoke[tp] {
			want = append(want, tp)
		}
	}
	for tp := range g.startAt {
		if !g.granted[tp] {
			delete(g.startAt, tp) // the grant went away: fetch again if it returns
		}
	}
	g.mu.Unlock()
	if len(want) == 0 {
		return
	}
	sortTPs(want)
	fctx, cancel := context.WithTimeout(ctx, g.c.cfg.requestTimeout)
	defer cancel()
	var resp wire.OffsetFetchResponse
	req := wire.OffsetFetchRequest{GroupID: g.group, Topics: toWire(want)}
	if err := g.send(fctx, wire.PathGroupOffsetsFetch, req, &resp, 0); err != nil {
		g.log.Debug("prefetching committed offsets failed", "err", err)
		return
	}
	got := map[TopicPartition]int64{}
	for _, o := range resp.Offsets {
		got[TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
	}
	g.mu.Lock()
	for _, tp := range want {
		if g.granted[tp] && !g.active[tp] {
			off, ok := got[tp]
			if !ok {
				off = wire.NoOffset
			}
			g.startAt[tp] = off
		}
	}
	g.mu.Unlock()
	signal(g.wake)
}

// apply takes an answer's assignment: new grants, revocations, generation.
// It reports whether the partitions changed.
func (g *GroupConsumer) apply(a wire.MemberAssignment) bool {
	// Partitions in a.Revoke that are not granted need nothing: they are
	// simply not reported as owned again.
	assigned := fromWire(a.Assigned)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	if a.MemberID != "" {
		g.memberID = a.MemberID
	}
	g.generation = a.Generation
	g.session = time.Duration(a.SessionTimeoutMs) * time.Millisecond
	if g.session <= 0 {
		g.session = g.cfg.sessionTimeout
	}
	g.hbInterval = time.Duration(a.HeartbeatIntervalMs) * time.Millisecond
	if g.hbInterval <= 0 {
		g.hbInterval = g.session / 3
	}
	g.lastHBOK = time.Now()
	changed := false
	for tp := range assigned {
		if !g.granted[tp] {
			g.granted[tp] = true
			delete(g.startAt, tp) // a new grant: its offsets are fetched anew
			changed = true
		}
		if g.toRevoke[tp] {
			delete(g.toRevoke, tp)
			changed = true
		}
	}
	for tp := range g.granted {
		if !assigned[tp] && !g.toRevoke[tp] {
			// Asked to revoke it, or the coordinator no longer counts it
			// as ours: either way it goes.
			g.toRevoke[tp] = true
			changed = true
		}
	}
	if changed {
		signal(g.wake)
	}
	return changed
}

// handleError reacts to a failed join or heartbeat. It reports whether the
// loop should go on at once (the member rejoins) rather than back off.
func (g *GroupConsumer) handleError(err error) bool {
	switch {
	case errors.Is(err, wire.ErrFencedInstanceID):
		g.log.Error("fenced: another consumer joined with the same group.instance.id", "instance", g.cfg.instanceID)
		g.mu.Lock()
		g.fatal = fmt.Errorf("%w (group %q, instance %q): %w", ErrFenced, g.group, g.cfg.instanceID, err)
		g.loseAllLocked()
		g.mu.Unlock()
		signal(g.wake)
		return true
	case errors.Is(err, wire.ErrUnknownMember):
		g.mu.Lock()
		expelledForPolling := g.inPoll == 0 && time.Since(g.lastPoll) > g.cfg.rebalanceTimeout
		g.log.Info("the coordinator no longer knows this member; joining again", "member", g.memberID,
			"not_polling", expelledForPolling, "err", err)
		g.loseAllLocked()
		g.memberID = newMemberID()
		g.waitPoll = expelledForPolling
		g.mu.Unlock()
		signal(g.wake)
		return true
	case errors.Is(err, wire.ErrIllegalGeneration), errors.Is(err, wire.ErrRebalanceInProgress):
		// The member is known but out of step: a join with the same id
		// answers where it stands.
		g.mu.Lock()
		g.joined = false
		g.mu.Unlock()
		return true
	case errors.Is(err, wire.ErrInconsistentGroupProtocol), errors.Is(err, wire.ErrInvalidRequest),
		errors.Is(err, wire.ErrGroupIDNotFound):
		g.mu.Lock()
		if !g.joined {
			g.fatal = fmt.Errorf("consumer: group %q refused the join: %w", g.group, err)
			g.log.Error("the coordinator refused the join", "err", err)
		}
		g.loseAllLocked()
		g.mu.Unlock()
		signal(g.wake)
		return g.fatal == nil
	}
	if !transport.Retriable(err) && !coordinatorMoved(err) {
		g.log.Warn("group request failed", "err", err)
	}
	return false
}

// checkSession gives up the partitions when no heartbeat got through for
// the session timeout: the coordinator has expelled the member by now and
// the partitions belong to others.
func (g *GroupConsumer) checkSession() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.joined || g.session <= 0 || time.Since(g.lastHBOK) <= g.session {
		return
	}
	g.log.Warn("no heartbeat answered for the session timeout; partitions lost", "session_timeout", g.session)
	g.loseAllLocked()
	g.memberID = newMemberID()
	signal(g.wake)
}

// loseAllLocked forgets the membership: Poll drops every partition as
// lost. g.mu must be held.
func (g *GroupConsumer) loseAllLocked() {
	g.joined = false
	g.startAt = map[TopicPartition]int64{}
	g.granted = map[TopicPartition]bool{}
	g.toRevoke = map[TopicPartition]bool{}
	if len(g.active) > 0 {
		g.lost = true
	}
}
