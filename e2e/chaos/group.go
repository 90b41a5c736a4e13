package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"strand.dev/client/consumer"
	"strand.dev/client/wire"
)

// GroupConfig is one consumer group of the workload.
type GroupConfig struct {
	Group     string
	Topics    []string
	Members   int
	Bootstrap []string
	// SessionTimeout is the members' session.timeout.ms.
	SessionTimeout time.Duration
	// CommitInterval is how often a member commits what it processed.
	CommitInterval time.Duration
	Logger         *slog.Logger
}

// Group is a consumer group of the workload: Members members speaking the
// coordinator's group protocol (client/wire/groups.go), each consuming its
// partitions with the client library's consumer and committing after
// processing, plus a monitor recording the committed offsets the
// coordinator reports.
type Group struct {
	cfg     GroupConfig
	cluster *Cluster
	log     *slog.Logger
	members []*member

	stop chan struct{}
	wg   sync.WaitGroup // members' loops and the monitor

	// mu guards the fields below.
	mu       sync.Mutex
	consumed map[TP]map[RecordID]bool
	commits  []CommitObservation
}

// StartGroup starts a group's members and its monitor.
func StartGroup(cfg GroupConfig, cluster *Cluster) (*Group, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.CommitInterval == 0 {
		cfg.CommitInterval = 500 * time.Millisecond
	}
	g := &Group{cfg: cfg, cluster: cluster, log: cfg.Logger.With("group", cfg.Group), stop: make(chan struct{}),
		consumed: map[TP]map[RecordID]bool{}}
	for i := 0; i < cfg.Members; i++ {
		c, err := consumer.New(consumer.Bootstrap(cfg.Bootstrap...), consumer.AutoOffsetReset(consumer.ResetEarliest),
			consumer.FetchMaxWait(500*time.Millisecond), consumer.RequestTimeout(10*time.Second),
			consumer.MetadataMaxAge(5*time.Second))
		if err != nil {
			g.Stop(context.Background())
			return nil, err
		}
		m := &member{g: g, name: fmt.Sprintf("%s-%d", cfg.Group, i), cons: c,
			http:  &http.Client{Timeout: 15 * time.Second},
			owned: map[TP]bool{}, processed: map[TP]int64{}, committed: map[TP]int64{}}
		m.log = g.log.With("member", m.name)
		g.members = append(g.members, m)
		g.wg.Add(2)
		go m.heartbeatLoop()
		go m.pollLoop()
	}
	g.wg.Add(1)
	go g.monitor()
	return g, nil
}

// Name is the group id.
func (g *Group) Name() string { return g.cfg.Group }

// Stop stops the members (each leaves the group) and the monitor.
func (g *Group) Stop(ctx context.Context) {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	g.wg.Wait()
	for _, m := range g.members {
		m.leave(ctx)
		m.cons.Close()
	}
}

// Commits returns the committed offsets observed, in order.
func (g *Group) Commits() []CommitObservation {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]CommitObservation(nil), g.commits...)
}

// Consumed returns, per partition, the workload records the group's
// members processed.
func (g *Group) Consumed() map[TP]map[RecordID]bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[TP]map[RecordID]bool, len(g.consumed))
	for tp, m := range g.consumed {
		c := make(map[RecordID]bool, len(m))
		for id := range m {
			c[id] = true
		}
		out[tp] = c
	}
	return out
}

func (g *Group) stopped() bool {
	select {
	case <-g.stop:
		return true
	default:
		return false
	}
}

// sleep waits d or until the group stops; it reports whether to go on.
func (g *Group) sleep(d time.Duration) bool {
	select {
	case <-g.stop:
		return false
	case <-time.After(d):
		return true
	}
}

// describe asks the group's coordinator for the group's description.
func (g *Group) describe(ctx context.Context) (*wire.GroupDescription, error) {
	coord, err := g.cluster.GroupCoordinator(ctx, g.cfg.Group)
	if err != nil {
		return nil, err
	}
	var d wire.GroupDescription
	if err := g.cluster.getJSON(ctx, coord.API, wire.PathGroupDescribe, url.Values{wire.ParamGroup: {g.cfg.Group}}, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// monitor records the committed offsets the coordinator reports, twice a
// second.
func (g *Group) monitor() {
	defer g.wg.Done()
	for g.sleep(500 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		d, err := g.describe(ctx)
		cancel()
		if err != nil {
			continue
		}
		g.recordCommits(d)
	}
}

func (g *Group) recordCommits(d *wire.GroupDescription) {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, o := range d.Offsets {
		if o.Offset >= 0 {
			g.commits = append(g.commits, CommitObservation{Group: g.cfg.Group, TP: TP{o.Topic, o.Partition}, Offset: o.Offset, At: now})
		}
	}
}

// WaitConverged waits until the group is Stable with every live member,
// each partition of its topics owned by exactly one member, and its
// committed offsets at the given high watermarks.
func (g *Group) WaitConverged(ctx context.Context, hw map[TP]int64, timeout time.Duration) GroupOutcome {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	detail := "no answer from its coordinator"
	for {
		if d, err := g.describe(ctx); err != nil {
			detail = err.Error()
		} else {
			g.recordCommits(d)
			if detail = g.convergence(d, hw); detail == "" {
				return GroupOutcome{Group: g.cfg.Group, Converged: true}
			}
		}
		select {
		case <-ctx.Done():
			return GroupOutcome{Group: g.cfg.Group, Detail: fmt.Sprintf("after %v: %s", timeout, detail)}
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// convergence says what keeps d from being converged ("" when nothing).
func (g *Group) convergence(d *wire.GroupDescription, hw map[TP]int64) string {
	if d.State != wire.GroupStateStable {
		return "state " + d.State
	}
	if len(d.Members) != len(g.members) {
		return fmt.Sprintf("%d members, want %d", len(d.Members), len(g.members))
	}
	owners := map[TP][]string{}
	for _, m := range d.Members {
		if len(m.Revoking) > 0 {
			return m.MemberID + " is still revoking"
		}
		for _, tps := range m.Assigned {
			for _, p := range tps.Partitions {
				tp := TP{tps.Topic, p}
				owners[tp] = append(owners[tp], m.MemberID)
			}
		}
	}
	committed := map[TP]int64{}
	for _, o := range d.Offsets {
		committed[TP{o.Topic, o.Partition}] = o.Offset
	}
	var tps []TP
	for tp := range hw {
		tps = append(tps, tp)
	}
	sortTPs(tps)
	for _, tp := range tps {
		if !g.subscribed(tp.Topic) {
			continue
		}
		if n := len(owners[tp]); n != 1 {
			return fmt.Sprintf("%s has %d owners", tp, n)
		}
		if c, ok := committed[tp]; !ok || c != hw[tp] {
			return fmt.Sprintf("%s committed %d, high watermark %d", tp, c, hw[tp])
		}
	}
	return ""
}

func (g *Group) subscribed(topic string) bool {
	for _, t := range g.cfg.Topics {
		if t == topic {
			return true
		}
	}
	return false
}

// member is one group member.
//
// Goroutines: heartbeatLoop (joins, heartbeats, applies assignments) and
// pollLoop (consumes, processes, commits). Locks: commitMu, then mu;
// commitMu is held across a commit request so that a revocation's final
// commit and the periodic commit do not interleave; mu is never held
// across I/O.
type member struct {
	g    *Group
	name string
	log  *slog.Logger
	cons *consumer.Consumer
	http *http.Client

	commitMu sync.Mutex

	mu         sync.Mutex
	memberID   string
	generation int32
	coord      string // the coordinator's API address, "" when unknown
	owned      map[TP]bool
	processed  map[TP]int64 // next offset after the last processed record
	committed  map[TP]int64 // last offset committed by this member
	lastPoll   time.Time
}

func newMemberID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// call sends a group request to the coordinator, finding it first when
// unknown; a coordinator error forgets it.
func (m *member) call(ctx context.Context, path string, in, out any) error {
	m.mu.Lock()
	coord := m.coord
	m.mu.Unlock()
	if coord == "" {
		c, err := m.g.cluster.GroupCoordinator(ctx, m.g.cfg.Group)
		if err != nil {
			return err
		}
		coord = c.API
		m.mu.Lock()
		m.coord = coord
		m.mu.Unlock()
	}
	err := m.g.cluster.doJSON(ctx, http.MethodPost, coord, path, nil, in, out)
	var we *wire.Error
	if err != nil && (!errors.As(err, &we) || errors.Is(err, wire.ErrNotCoordinator) ||
		errors.Is(err, wire.ErrCoordinatorLoadInProgress) || errors.Is(err, wire.ErrCoordinatorNotAvailable)) {
		m.mu.Lock()
		m.coord = ""
		m.mu.Unlock()
	}
	return err
}

func (m *member) heartbeatLoop() {
	defer m.g.wg.Done()
	backoff := 100 * time.Millisecond
	for !m.g.stopped() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		a, err := m.step(ctx)
		cancel()
		if err != nil {
			if errors.Is(err, wire.ErrUnknownMember) || errors.Is(err, wire.ErrFencedInstanceID) {
				m.log.Info("member expelled; joining again", "err", err)
				m.dropAll()
			} else {
				m.log.Debug("group request failed", "err", err)
			}
			if !m.g.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		m.apply(a)
	}
}

// step joins when the member has no id, else heartbeats (a long poll).
func (m *member) step(ctx context.Context) (*wire.MemberAssignment, error) {
	m.mu.Lock()
	id, gen := m.memberID, m.generation
	owned := m.ownedLocked()
	pollAge := time.Since(m.lastPoll).Milliseconds()
	if m.lastPoll.IsZero() {
		pollAge = 0
	}
	m.mu.Unlock()
	var a wire.MemberAssignment
	if id == "" {
		id = newMemberID()
		req := wire.JoinGroupRequest{GroupID: m.g.cfg.Group, MemberID: id, ClientID: m.name, Topics: m.g.cfg.Topics,
			SessionTimeoutMs: int32(m.g.cfg.SessionTimeout / time.Millisecond), RebalanceTimeoutMs: 60000}
		if err := m.call(ctx, wire.PathGroupJoin, req, &a); err != nil {
			return nil, err
		}
		m.mu.Lock()
		m.memberID = a.MemberID
		m.mu.Unlock()
		m.log.Info("joined", "member_id", a.MemberID, "generation", a.Generation)
		return &a, nil
	}
	req := wire.HeartbeatRequest{GroupID: m.g.cfg.Group, MemberID: id, Generation: gen, Owned: owned,
		PollAgeMs: pollAge, MaxWaitMs: int32(m.g.cfg.SessionTimeout / 3 / time.Millisecond)}
	if err := m.call(ctx, wire.PathGroupHeartbeat, req, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

func (m *member) ownedLocked() []wire.TopicPartitions {
	by := map[string][]int32{}
	for tp := range m.owned {
		by[tp.Topic] = append(by[tp.Topic], tp.Partition)
	}
	out := []wire.TopicPartitions{}
	for t, ps := range by {
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		out = append(out, wire.TopicPartitions{Topic: t, Partitions: ps})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Topic < out[j].Topic })
	return out
}

func flatten(list []wire.TopicPartitions) map[TP]bool {
	out := map[TP]bool{}
	for _, tps := range list {
		for _, p := range tps.Partitions {
			out[TP{tps.Topic, p}] = true
		}
	}
	return out
}

// dropAll forgets the member's id and partitions (after it was expelled).
func (m *member) dropAll() {
	m.mu.Lock()
	var tps []consumer.TopicPartition
	for tp := range m.owned {
		tps = append(tps, consumer.TopicPartition{Topic: tp.Topic, Partition: tp.Partition})
	}
	m.owned = map[TP]bool{}
	m.memberID, m.generation = "", 0
	m.mu.Unlock()
	m.cons.Unassign(tps...)
}

// apply acts on an assignment: revoked partitions are stopped and their
// processed offsets committed; new ones start at their committed offset.
func (m *member) apply(a *wire.MemberAssignment) {
	revoke, assigned := flatten(a.Revoke), flatten(a.Assigned)
	m.commitMu.Lock()
	m.mu.Lock()
	m.generation = a.Generation
	var stop []consumer.TopicPartition
	var final []wire.OffsetCommit
	var gained []TP
	for tp := range m.owned {
		if revoke[tp] || !assigned[tp] {
			delete(m.owned, tp)
			stop = append(stop, consumer.TopicPartition{Topic: tp.Topic, Partition: tp.Partition})
			if revoke[tp] && m.processed[tp] > m.committed[tp] {
				final = append(final, wire.OffsetCommit{Topic: tp.Topic, Partition: tp.Partition, Offset: m.processed[tp], LeaderEpoch: -1})
			}
		}
	}
	for tp := range assigned {
		if !m.owned[tp] {
			gained = append(gained, tp)
		}
	}
	m.mu.Unlock()
	m.cons.Unassign(stop...)
	if len(final) > 0 {
		m.commit(final)
	}
	m.commitMu.Unlock()
	if len(gained) == 0 {
		return
	}
	sortTPs(gained)
	offsets, err := m.fetchOffsets(gained)
	if err != nil {
		m.log.Warn("cannot fetch committed offsets; not taking the partitions yet", "err", err)
		return
	}
	for _, tp := range gained {
		ctp := consumer.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}
		off, ok := offsets[tp]
		if !ok || off < 0 {
			off = consumer.OffsetEarliest
		}
		if err := m.cons.Assign(ctp); err != nil {
			return
		}
		if err := m.cons.Seek(ctp, off); err != nil {
			m.log.Warn("seek failed", "tp", tp, "err", err)
		}
		m.mu.Lock()
		m.owned[tp] = true
		m.processed[tp] = max(off, 0)
		m.committed[tp] = max(off, 0)
		m.mu.Unlock()
	}
	m.log.Info("assigned", "generation", a.Generation, "gained", len(gained), "revoked", len(stop))
}

// fetchOffsets returns the committed offsets of the partitions, retrying
// for a while through coordinator changes.
func (m *member) fetchOffsets(tps []TP) (map[TP]int64, error) {
	by := map[string][]int32{}
	for _, tp := range tps {
		by[tp.Topic] = append(by[tp.Topic], tp.Partition)
	}
	req := wire.OffsetFetchRequest{GroupID: m.g.cfg.Group}
	for t, ps := range by {
		req.Topics = append(req.Topics, wire.TopicPartitions{Topic: t, Partitions: ps})
	}
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var resp wire.OffsetFetchResponse
		lastErr = m.call(ctx, wire.PathGroupOffsetsFetch, req, &resp)
		cancel()
		if lastErr == nil {
			out := map[TP]int64{}
			for _, o := range resp.Offsets {
				out[TP{o.Topic, o.Partition}] = o.Offset
			}
			return out, nil
		}
		if !m.g.sleep(500 * time.Millisecond) {
			break
		}
	}
	return nil, lastErr
}

// commit commits offsets (commitMu held by the caller).
func (m *member) commit(offsets []wire.OffsetCommit) {
	m.mu.Lock()
	req := wire.OffsetCommitRequest{GroupID: m.g.cfg.Group, MemberID: m.memberID, Generation: m.generation, Offsets: offsets}
	m.mu.Unlock()
	if req.MemberID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var resp wire.OffsetCommitResponse
	if err := m.call(ctx, wire.PathGroupCommit, req, &resp); err != nil {
		m.log.Debug("commit failed", "err", err)
		return
	}
	m.mu.Lock()
	for _, o := range offsets {
		tp := TP{o.Topic, o.Partition}
		if o.Offset > m.committed[tp] {
			m.committed[tp] = o.Offset
		}
	}
	m.mu.Unlock()
}

// commitOwned commits what was processed of the owned partitions.
func (m *member) commitOwned() {
	m.commitMu.Lock()
	defer m.commitMu.Unlock()
	m.mu.Lock()
	var offsets []wire.OffsetCommit
	for tp := range m.owned {
		if m.processed[tp] > m.committed[tp] {
			offsets = append(offsets, wire.OffsetCommit{Topic: tp.Topic, Partition: tp.Partition, Offset: m.processed[tp], LeaderEpoch: -1})
		}
	}
	m.mu.Unlock()
	if len(offsets) > 0 {
		m.commit(offsets)
	}
}

func (m *member) pollLoop() {
	defer m.g.wg.Done()
	lastCommit := time.Now()
	for !m.g.stopped() {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		recs, err := m.cons.Poll(ctx)
		cancel()
		var noOffset *consumer.NoOffsetError
		var outOfRange *consumer.OffsetOutOfRangeError
		switch {
		case errors.As(err, &noOffset):
			m.cons.Seek(consumer.TopicPartition{Topic: noOffset.Topic, Partition: noOffset.Partition}, consumer.OffsetEarliest)
		case errors.As(err, &outOfRange):
			m.cons.Seek(consumer.TopicPartition{Topic: outOfRange.Topic, Partition: outOfRange.Partition}, consumer.OffsetEarliest)
		case errors.Is(err, consumer.ErrClosed):
			return
		case err != nil && !errors.Is(err, context.DeadlineExceeded):
			m.log.Warn("poll failed", "err", err)
		}
		m.mu.Lock()
		m.lastPoll = time.Now()
		var done []struct {
			tp TP
			id RecordID
		}
		for _, r := range recs {
			tp := TP{r.Topic, r.Partition}
			if !m.owned[tp] || r.Offset < m.processed[tp] {
				continue
			}
			m.processed[tp] = r.Offset + 1
			if _, _, id, ok := DecodeValue(r.Value); ok {
				done = append(done, struct {
					tp TP
					id RecordID
				}{tp, id})
			}
		}
		m.mu.Unlock()
		if len(done) > 0 {
			m.g.mu.Lock()
			for _, d := range done {
				if m.g.consumed[d.tp] == nil {
					m.g.consumed[d.tp] = map[RecordID]bool{}
				}
				m.g.consumed[d.tp][d.id] = true
			}
			m.g.mu.Unlock()
		}
		if time.Since(lastCommit) >= m.g.cfg.CommitInterval {
			m.commitOwned()
			lastCommit = time.Now()
		}
	}
}

// leave leaves the group after a last commit.
func (m *member) leave(ctx context.Context) {
	m.commitOwned()
	m.mu.Lock()
	id := m.memberID
	m.mu.Unlock()
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var resp wire.LeaveGroupResponse
	m.call(ctx, wire.PathGroupLeave, wire.LeaveGroupRequest{GroupID: m.g.cfg.Group, MemberID: id, Reason: "chaos run over"}, &resp)
}
