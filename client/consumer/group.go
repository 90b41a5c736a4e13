package consumer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"strand.dev/client/internal/routing"
	"strand.dev/client/internal/transport"
	"strand.dev/client/record"
	"strand.dev/client/wire"
)

// RebalanceListener hears of partitions a group consumer loses and gains.
// Its methods run on the goroutine that calls Poll (or Close), between two
// Polls, so they never race with the application's processing of records;
// they may call the consumer's methods (CommitSync above all), except Poll
// and Close.
type RebalanceListener interface {
	// OnPartitionsRevoked is called before partitions are taken away (by a
	// rebalance, or by Close): the consumer still owns them and commits for
	// them are accepted, so this is the place to commit what was processed.
	// The partitions are unassigned once it returns.
	OnPartitionsRevoked(ctx context.Context, revoked []TopicPartition)
	// OnPartitionsAssigned is called after partitions were gained, once
	// their start positions are known (the committed offset, or the
	// auto.offset.reset policy without one), before their first records
	// are returned.
	OnPartitionsAssigned(ctx context.Context, assigned []TopicPartition)
}

// PartitionsLostListener may be implemented besides RebalanceListener: when
// the member was expelled (session timeout, max.poll.interval.ms exceeded, a
// coordinator that no longer knows it) its partitions already belong to
// others, and OnPartitionsLost is called instead of OnPartitionsRevoked;
// commits would fail there. Without it, OnPartitionsRevoked is called, as
// Kafka's default does.
type PartitionsLostListener interface {
	OnPartitionsLost(ctx context.Context, lost []TopicPartition)
}

// ErrNotSubscribed: Poll or a commit on a group consumer before Subscribe.
var ErrNotSubscribed = errors.New("consumer: not subscribed")

// ErrFenced: another process joined with this consumer's group.instance.id
// and took its place (FENCED_INSTANCE_ID). The consumer stops; Poll returns
// an error wrapping ErrFenced and wire.ErrFencedInstanceID.
var ErrFenced = errors.New("consumer: fenced by another member with the same group.instance.id")

// CommitError is a commit the coordinator refused for good (for example
// ILLEGAL_GENERATION: a partition moved to another member; UNKNOWN_MEMBER_ID:
// the member was expelled). errors.Is finds the wire error through it.
type CommitError struct {
	Group string
	Err   error
}

// Error implements error.
func (e *CommitError) Error() string {
	return fmt.Sprintf("consumer: commit for group %q failed: %v", e.Group, e.Err)
}

// Unwrap returns the cause.
func (e *CommitError) Unwrap() error { return e.Err }

// GroupConsumer is a member of a consumer group: it subscribes to topics,
// and the group's coordinator (strand-coordinator) divides their partitions
// among the members and moves them when members come and go. It is safe for
// concurrent use; records are meant for one polling goroutine.
//
// Goroutines: a membership goroutine (started by Subscribe, stopped by
// Close) finds the coordinator, joins, and heartbeats (long polls) under the
// session timeout; it never touches the fetchers. Everything that changes
// what is consumed (revoking, assigning, the listener's callbacks, losing
// partitions) runs inside Poll on the caller's goroutine, woken by the
// membership goroutine. A commit goroutine sends commits one at a time, in
// the order they were asked for. The partition fetchers are the embedded
// Consumer's.
//
// Locks: GroupConsumer.mu guards the membership fields; coordMu the
// coordinator address; commits.mu the commit queue. None is held across
// I/O or callbacks, and none is taken while another is held, except
// GroupConsumer.mu then Consumer.mu (positions).
type GroupConsumer struct {
	c     *Consumer
	cfg   groupConfig
	group string
	log   *slog.Logger

	ctx    context.Context // ends when Close is done
	cancel context.CancelFunc
	// loopCtx ends the membership goroutine (first thing Close does).
	loopCtx    context.Context
	loopCancel context.CancelFunc
	loopDone   chan struct{}

	wake chan struct{} // capacity 1: membership changed, Poll has work
	kick chan struct{} // capacity 1: Poll finished a revocation or polled after an expulsion

	coordMu   sync.Mutex
	coordAddr string

	commits commitQueue
	gstats  groupCounters

	pollMu sync.Mutex // one Poll (or Close's revocation) at a time

	// mu guards the fields below.
	mu         sync.Mutex
	topics     []string
	listener   RebalanceListener
	subscribed bool
	closing    bool
	fatal      error // the consumer cannot go on (fenced, refused join)

	memberID   string
	generation int32
	joined     bool
	session    time.Duration // in force, from the last answer
	hbInterval time.Duration
	lastHBOK   time.Time // last answered heartbeat or join
	waitPoll   bool      // expelled for not polling: rejoin on the next Poll

	granted  map[TopicPartition]bool // the coordinator counts them as ours (reported as Owned)
	toRevoke map[TopicPartition]bool // asked to give up, Poll has not yet
	active   map[TopicPartition]bool // being consumed (Poll assigned them)
	lost     bool                    // Poll must drop every active partition as lost

	inPoll    int
	lastPoll  time.Time // when Poll last returned (or the consumer started)
	pollCount uint64    // Polls started, for the rejoin after an expulsion

	autoNext  time.Time
	committed map[TopicPartition]int64 // last offsets known committed by this member
	// startAt holds committed offsets the membership goroutine fetched for
	// granted partitions Poll has not started yet (NoOffset: none).
	startAt map[TopicPartition]int64
}

// NewGroup returns a consumer for group. It does no I/O until Subscribe.
// Options of New apply, plus the group options (SessionTimeout,
// MaxPollInterval, AutoCommit, GroupInstanceID, Coordinators, ...).
// AutoOffsetReset applies to partitions without a committed offset.
func NewGroup(group string, opts ...Option) (*GroupConsumer, error) {
	if err := wire.ValidateGroupID(group); err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.grp.validate(); err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	c, err := New(opts...)
	if err != nil {
		return nil, err
	}
	g := &GroupConsumer{
		c: c, cfg: cfg.grp, group: group,
		log:      c.log.With("group", group),
		wake:     make(chan struct{}, 1),
		kick:     make(chan struct{}, 1),
		loopDone: make(chan struct{}),
		granted:  map[TopicPartition]bool{}, toRevoke: map[TopicPartition]bool{}, active: map[TopicPartition]bool{},
		committed: map[TopicPartition]int64{}, startAt: map[TopicPartition]int64{},
		lastPoll: time.Now(),
		memberID: newMemberID(),
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.loopCtx, g.loopCancel = context.WithCancel(g.ctx)
	g.commits.init(g)
	return g, nil
}

func newMemberID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Group is the group id.
func (g *GroupConsumer) Group() string { return g.group }

// Subscribe joins the group with a subscription to topics; listener (nil
// for none) hears of revocations and assignments. It returns at once: the
// join happens in the background, and the first Polls return records once
// partitions are assigned. Calling it again changes the subscription.
func (g *GroupConsumer) Subscribe(topics []string, listener RebalanceListener) error {
	if len(topics) == 0 {
		return errors.New("consumer: subscribe to no topic")
	}
	for _, t := range topics {
		if err := wire.ValidateTopicName(t); err != nil {
			return fmt.Errorf("consumer: subscribe: %w", err)
		}
	}
	ts := slices.Compact(slices.Sorted(slices.Values(topics)))
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return ErrClosed
	}
	first := !g.subscribed
	g.topics, g.listener, g.subscribed = ts, listener, true
	g.joined = false // a join with the same member id updates the subscription
	if first {
		go g.run()
		go g.commits.run()
	} else {
		signal(g.kick)
	}
	return nil
}

// MemberID is the member id the consumer joined with last ("" before).
func (g *GroupConsumer) MemberID() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.joined {
		return ""
	}
	return g.memberID
}

// Generation is the group generation of the last answer from the
// coordinator (-1 before the first).
func (g *GroupConsumer) Generation() int32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.joined {
		return -1
	}
	return g.generation
}

// Assignment returns the partitions being consumed, sorted.
func (g *GroupConsumer) Assignment() []TopicPartition {
	g.mu.Lock()
	defer g.mu.Unlock()
	return sortedTPs(g.active)
}

// Position returns the offset of the next record Poll returns for an
// assigned partition (-1 while not known yet).
func (g *GroupConsumer) Position(tp TopicPartition) (int64, error) { return g.c.Position(tp) }

// Seek moves an assigned partition's position (see Consumer.Seek).
func (g *GroupConsumer) Seek(tp TopicPartition, offset int64) error { return g.c.Seek(tp, offset) }

// Stats returns the fetch counters.
func (g *GroupConsumer) Stats() Stats { return g.c.Stats() }

// GroupStats are counters of a group consumer's membership since it was
// created.
type GroupStats struct {
	Joins          int64 // joins answered (the first, and rejoins)
	Heartbeats     int64 // heartbeats answered
	GroupErrors    int64 // join and heartbeat requests that failed
	Revoked        int64 // partitions given up in rebalances
	Assigned       int64 // partitions started
	Lost           int64 // partitions dropped as lost (expelled, fenced)
	Commits        int64 // commit requests acknowledged
	CommitFailures int64 // commits that failed for good or ran out of time
}

type groupCounters struct {
	joins, heartbeats, groupErrors, revoked, assigned, lost, commits, commitFailures atomic.Int64
}

// GroupStats returns the membership counters.
func (g *GroupConsumer) GroupStats() GroupStats {
	s := &g.gstats
	return GroupStats{
		Joins: s.joins.Load(), Heartbeats: s.heartbeats.Load(), GroupErrors: s.groupErrors.Load(),
		Revoked: s.revoked.Load(), Assigned: s.assigned.Load(), Lost: s.lost.Load(),
		Commits: s.commits.Load(), CommitFailures: s.commitFailures.Load(),
	}
}

// Poll returns the next records of the assigned partitions, waiting until
// some arrive or ctx ends. Before it looks for records it runs what the
// group asked for since the last Poll: revocations (auto-commit, then
// OnPartitionsRevoked, then the partitions stop), losses, and assignments
// (committed offsets fetched, OnPartitionsAssigned), on this goroutine. With
// auto-commit on, it also commits, every AutoCommitInterval, what earlier
// Polls returned. A fatal error (fenced, a join the coordinator refuses)
// is returned by every Poll from then on.
func (g *GroupConsumer) Poll(ctx context.Context) ([]*record.Record, error) {
	g.pollMu.Lock()
	defer g.pollMu.Unlock()
	g.mu.Lock()
	if !g.subscribed {
		g.mu.Unlock()
		return nil, ErrNotSubscribed
	}
	if g.closing {
		g.mu.Unlock()
		return nil, ErrClosed
	}
	g.inPoll++
	g.pollCount++
	rejoin := g.waitPoll
	g.mu.Unlock()
	if rejoin {
		signal(g.kick)
	}
	defer func() {
		g.mu.Lock()
		g.inPoll--
		g.lastPoll = time.Now()
		g.mu.Unlock()
	}()
	g.maybeAutoCommit()
	for {
		if err := g.rebalanceSteps(ctx); err != nil {
			return nil, err
		}
		recs, err := g.c.poll(ctx, g.wake)
		if errors.Is(err, errWoken) {
			continue
		}
		return recs, err
	}
}

// rebalanceSteps runs, on the polling goroutine, what membership changes
// ask for: losses, revocations, assignments.
func (g *GroupConsumer) rebalanceSteps(ctx context.Context) error {
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		return ErrClosed
	}
	if g.fatal != nil {
		err := g.fatal
		lost := g.takeLostLocked()
		g.mu.Unlock()
		g.dropLost(ctx, lost)
		return err
	}
	lost := g.takeLostLocked()
	var revoke []TopicPartition
	for tp := range g.toRevoke {
		revoke = append(revoke, tp)
	}
	g.mu.Unlock()
	g.dropLost(ctx, lost)

	if len(revoke) > 0 {
		g.revoke(ctx, revoke)
	}

	g.mu.Lock()
	var gained []TopicPartition
	for tp := range g.granted {
		if !g.active[tp] && !g.toRevoke[tp] {
			gained = append(gained, tp)
		}
	}
	g.mu.Unlock()
	if len(gained) > 0 {
		if err := g.assign(ctx, gained); err != nil {
			return err
		}
	}
	return nil
}

// takeLostLocked returns the active partitions to drop as lost, if the
// membership goroutine said so. g.mu must be held.
func (g *GroupConsumer) takeLostLocked() []TopicPartition {
	if !g.lost {
		return nil
	}
	g.lost = false
	out := sortedTPs(g.active)
	g.active = map[TopicPartition]bool{}
	return out
}

// dropLost stops lost partitions and tells the listener.
func (g *GroupConsumer) dropLost(ctx context.Context, lost []TopicPartition) {
	if len(lost) == 0 {
		return
	}
	g.c.Unassign(lost...)
	g.mu.Lock()
	l := g.listener
	for _, tp := range lost {
		delete(g.committed, tp)
	}
	g.mu.Unlock()
	g.gstats.lost.Add(int64(len(lost)))
	g.log.Info("partitions lost", "partitions", len(lost))
	signal(g.kick)
	if l == nil {
		return
	}
	if ll, ok := l.(PartitionsLostListener); ok {
		ll.OnPartitionsLost(ctx, lost)
	} else {
		l.OnPartitionsRevoked(ctx, lost)
	}
}

// revoke gives partitions up: auto-commit, the listener, unassign, then the
// membership goroutine confirms at once.
func (g *GroupConsumer) revoke(ctx context.Context, tps []TopicPartition) {
	sortTPs(tps)
	g.mu.Lock()
	var act []TopicPartition
	for _, tp := range tps {
		if g.active[tp] {
			act = append(act, tp)
		}
	}
	l, auto := g.listener, g.cfg.autoCommit
	g.mu.Unlock()
	if len(act) > 0 {
		if auto {
			if offs := g.positions(act, true); len(offs) > 0 {
				cctx, cancel := context.WithTimeout(ctx, g.cfg.commitTimeout)
				if err := g.CommitOffsets(cctx, offs); err != nil {
					g.log.Warn("auto-commit before a revocation failed", "err", err)
				}
				cancel()
			}
		}
		if l != nil {
			l.OnPartitionsRevoked(ctx, act)
		}
		g.c.Unassign(act...)
	}
	g.mu.Lock()
	for _, tp := range tps {
		delete(g.granted, tp)
		delete(g.toRevoke, tp)
		delete(g.active, tp)
		delete(g.committed, tp)
		delete(g.startAt, tp)
	}
	g.mu.Unlock()
	g.gstats.revoked.Add(int64(len(tps)))
	g.log.Debug("partitions revoked", "partitions", len(tps))
	signal(g.kick)
}

// assign starts consuming gained partitions at their committed offsets.
func (g *GroupConsumer) assign(ctx context.Context, tps []TopicPartition) error {
	sortTPs(tps)
	// The membership goroutine fetched the committed offsets of most
	// grants already; fetch the rest.
	committed := map[TopicPartition]int64{}
	var missing []TopicPartition
	g.mu.Lock()
	for _, tp := range tps {
		if off, ok := g.startAt[tp]; ok {
			if off >= 0 {
				committed[tp] = off
			}
		} else {
			missing = append(missing, tp)
		}
	}
	g.mu.Unlock()
	if len(missing) > 0 {
		fetched, err := g.fetchCommitted(ctx, missing)
		if err != nil {
			return err
		}
		for tp, off := range fetched {
			committed[tp] = off
		}
	}
	g.mu.Lock()
	for _, tp := range tps {
		delete(g.startAt, tp)
	}
	// Keep only what is still granted: the group may have moved on while
	// the offsets were fetched.
	at := map[TopicPartition]int64{}
	var started []TopicPartition
	for _, tp := range tps {
		if g.granted[tp] && !g.toRevoke[tp] && !g.active[tp] {
			off, ok := committed[tp]
			if !ok {
				off = -1
			}
			at[tp] = off
			if off >= 0 {
				g.committed[tp] = off
			}
			g.active[tp] = true
			started = append(started, tp)
		}
	}
	l := g.listener
	g.mu.Unlock()
	if len(started) == 0 {
		return nil
	}
	if err := g.c.assignAt(at); err != nil {
		return err
	}
	g.gstats.assigned.Add(int64(len(started)))
	g.log.Debug("partitions assigned", "partitions", len(started))
	if l != nil {
		l.OnPartitionsAssigned(ctx, started)
	}
	return nil
}

// fetchCommitted reads the group's committed offsets of tps, finding the
// coordinator again as needed, until ctx ends.
func (g *GroupConsumer) fetchCommitted(ctx context.Context, tps []TopicPartition) (map[TopicPartition]int64, error) {
	req := wire.OffsetFetchRequest{GroupID: g.group, Topics: toWire(tps)}
	var resp wire.OffsetFetchResponse
	if err := g.coordCall(ctx, wire.PathGroupOffsetsFetch, req, &resp, ctx); err != nil {
		return nil, fmt.Errorf("consumer: fetching the committed offsets of group %q: %w", g.group, err)
	}
	out := map[TopicPartition]int64{}
	for _, o := range resp.Offsets {
		if o.Offset >= 0 {
			out[TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
		}
	}
	return out, nil
}

// positions returns the positions of the active partitions among tps; with
// changedOnly, only those that differ from what is known committed.
func (g *GroupConsumer) positions(tps []TopicPartition, changedOnly bool) map[TopicPartition]int64 {
	out := map[TopicPartition]int64{}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, tp := range tps {
		if !g.active[tp] {
			continue
		}
		pos, err := g.c.Position(tp)
		if err != nil || pos < 0 {
			continue
		}
		if c, ok := g.committed[tp]; changedOnly && ok && c == pos {
			continue
		}
		out[tp] = pos
	}
	return out
}

// maybeAutoCommit commits, without waiting, what earlier Polls returned.
func (g *GroupConsumer) maybeAutoCommit() {
	if !g.cfg.autoCommit {
		return
	}
	now := time.Now()
	g.mu.Lock()
	due := !now.Before(g.autoNext)
	if due {
		g.autoNext = now.Add(g.cfg.autoCommitInterval)
	}
	act := sortedTPs(g.active)
	g.mu.Unlock()
	if !due {
		return
	}
	if offs := g.positions(act, true); len(offs) > 0 {
		g.commits.enqueue(offs, nil, func(_ map[TopicPartition]int64, err error) {
			if err != nil {
				g.log.Warn("auto-commit failed", "err", err)
			}
		})
	}
}

// Close leaves the group and releases everything: it stops the membership
// goroutine, sends the commits still queued, commits the positions (with
// auto-commit on), calls OnPartitionsRevoked for what it consumes, leaves
// the group at once (unless the member is static) so that the rebalance
// starts at once, and closes the fetchers. It takes at most CloseTimeout.
func (g *GroupConsumer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.closeTimeout)
	defer cancel()
	return g.CloseContext(ctx)
}

// CloseContext is Close bounded by ctx.
func (g *GroupConsumer) CloseContext(ctx context.Context) error {
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		return nil
	}
	g.closing = true
	started := g.subscribed
	g.mu.Unlock()
	signal(g.wake) // a Poll waiting for records returns ErrClosed
	g.loopCancel()
	if started {
		<-g.loopDone
	}
	g.pollMu.Lock() // wait for a Poll running its steps
	defer g.pollMu.Unlock()

	var errs []error
	g.mu.Lock()
	joined, fatal := g.joined, g.fatal
	act := sortedTPs(g.active)
	l, auto := g.listener, g.cfg.autoCommit
	g.mu.Unlock()
	if started {
		g.commits.flush(ctx)
	}
	if started && joined && fatal == nil && len(act) > 0 {
		if auto {
			if offs := g.positions(act, true); len(offs) > 0 {
				if err := g.CommitOffsets(ctx, offs); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if l != nil {
			l.OnPartitionsRevoked(ctx, act)
		}
		g.commits.flush(ctx)
	}
	g.c.Unassign(act...)
	g.mu.Lock()
	g.active = map[TopicPartition]bool{}
	g.mu.Unlock()
	if started && joined && fatal == nil && g.cfg.instanceID == "" {
		if err := g.leave(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	g.commits.stop()
	g.cancel()
	if err := g.c.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// leave sends LeaveGroup, finding the coordinator again as needed.
func (g *GroupConsumer) leave(ctx context.Context) error {
	g.mu.Lock()
	req := wire.LeaveGroupRequest{GroupID: g.group, MemberID: g.memberID, GroupInstanceID: g.cfg.instanceID, Reason: "closing"}
	g.mu.Unlock()
	err := g.coordCall(ctx, wire.PathGroupLeave, req, &wire.LeaveGroupResponse{}, ctx)
	if errors.Is(err, wire.ErrUnknownMember) {
		return nil // already expelled: nothing to leave
	}
	if err != nil {
		return fmt.Errorf("consumer: leaving group %q: %w", g.group, err)
	}
	g.log.Info("left the group")
	return nil
}

// coordinator returns the address of the group's coordinator, finding it
// when unknown: any coordinator (the configured ones, then those the
// cluster metadata lists) answers who owns the group.
func (g *GroupConsumer) coordinator(ctx context.Context) (string, error) {
	g.coordMu.Lock()
	addr := g.coordAddr
	g.coordMu.Unlock()
	if addr != "" {
		return addr, nil
	}
	cands := append([]string(nil), g.cfg.coordinators...)
	md, err := g.c.router.Metadata(ctx)
	if err == nil && len(md.Coordinators) == 0 && len(cands) == 0 {
		md, err = g.c.router.Refresh(ctx)
	}
	if err == nil {
		for _, a := range md.Coordinators {
			if !slices.Contains(cands, a) {
				cands = append(cands, a)
			}
		}
	}
	if len(cands) == 0 {
		if err == nil {
			err = wire.Errorf(wire.CodeCoordinatorNotAvailable, "the cluster metadata lists no live strand-coordinator")
		}
		return "", err
	}
	var last error
	for _, a := range cands {
		var fc wire.FindCoordinatorResponse
		actx, cancel := context.WithTimeout(ctx, g.c.cfg.conn.DialTimeout)
		err := g.c.tr.JSON(actx, "GET", a, wire.PathGroupCoordinator, map[string][]string{wire.ParamGroup: {g.group}}, nil, &fc)
		cancel()
		if err == nil && fc.Addr != "" {
			g.coordMu.Lock()
			g.coordAddr = fc.Addr
			g.coordMu.Unlock()
			g.log.Debug("found the coordinator", "addr", fc.Addr, "coordinator", fc.CoordinatorID, "partition", fc.Partition)
			return fc.Addr, nil
		}
		if err == nil {
			err = wire.Errorf(wire.CodeCoordinatorNotAvailable, "%s named no coordinator", a)
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	// The list may be stale: refresh it before the next attempt.
	g.c.router.Invalidate()
	return "", last
}

// forgetCoordinator drops the cached coordinator after an error that says
// it moved (or is unreachable); a NOT_COORDINATOR naming the owner goes
// straight there.
func (g *GroupConsumer) forgetCoordinator(addr string, err error) {
	g.coordMu.Lock()
	defer g.coordMu.Unlock()
	if g.coordAddr != addr {
		return
	}
	g.coordAddr = ""
	var we *wire.Error
	if errors.As(err, &we) && we.Code == wire.CodeNotCoordinator && we.LeaderAddr != "" && we.LeaderAddr != addr {
		g.coordAddr = we.LeaderAddr
	}
}

// coordinatorMoved reports whether err means "ask another coordinator".
func coordinatorMoved(err error) bool {
	if errors.Is(err, wire.ErrNotCoordinator) || errors.Is(err, wire.ErrCoordinatorNotAvailable) ||
		errors.Is(err, wire.ErrCoordinatorLoadInProgress) || errors.Is(err, wire.ErrShuttingDown) {
		return true
	}
	var ne *transport.NodeError
	var nn *routing.NoNodeError
	return errors.As(err, &ne) && !transport.IsContextErr(err) || errors.As(err, &nn)
}

// coordCall sends one request to the group's coordinator, retrying on the
// coordinator's moves and other retriable errors with backoff until ctx
// ends. reqCtx bounds each attempt besides ctx (pass ctx for no extra
// bound).
func (g *GroupConsumer) coordCall(ctx context.Context, path string, in, out any, reqCtx context.Context) error {
	failures := 0
	for {
		addr, err := g.coordinator(ctx)
		if err == nil {
			actx, cancel := context.WithTimeout(reqCtx, g.c.cfg.requestTimeout)
			err = g.c.tr.JSON(actx, "POST", addr, path, nil, in, out)
			cancel()
			if err == nil {
				return nil
			}
			if coordinatorMoved(err) {
				g.forgetCoordinator(addr, err)
			}
		}
		if ctx.Err() != nil {
			if err == nil || transport.IsContextErr(err) {
				return ctx.Err()
			}
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		}
		if !transport.Retriable(err) && !coordinatorMoved(err) {
			return err
		}
		failures++
		g.log.Debug("group request failed, will retry", "path", path, "failures", failures, "err", err)
		t := time.NewTimer(g.c.cfg.conn.RetryBackoff.Delay(failures))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// signal does a non-blocking send on a channel of capacity 1.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func sortTPs(tps []TopicPartition) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
}

func sortedTPs(set map[TopicPartition]bool) []TopicPartition {
	out := make([]TopicPartition, 0, len(set))
	for tp := range set {
		out = append(out, tp)
	}
	sortTPs(out)
	return out
}

// toWire groups partitions by topic.
func toWire(tps []TopicPartition) []wire.TopicPartitions {
	var out []wire.TopicPartitions
	idx := map[string]int{}
	for _, tp := range tps {
		i, ok := idx[tp.Topic]
		if !ok {
			i = len(out)
			idx[tp.Topic] = i
			out = append(out, wire.TopicPartitions{Topic: tp.Topic, Partitions: []int32{}})
		}
		out[i].Partitions = append(out[i].Partitions, tp.Partition)
	}
	for i := range out {
		slices.Sort(out[i].Partitions)
	}
	return out
}

func fromWire(tps []wire.TopicPartitions) map[TopicPartition]bool {
	out := map[TopicPartition]bool{}
	for _, t := range tps {
		for _, p := range t.Partitions {
			out[TopicPartition{Topic: t.Topic, Partition: p}] = true
		}
	}
	return out
}
