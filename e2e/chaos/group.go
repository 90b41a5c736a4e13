package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
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

// Group is a consumer group of the workload: Members group consumers of
// the client library (consumer.NewGroup, cooperative rebalancing), each
// processing what it polls and committing the processed offsets itself
// (auto-commit off): every CommitInterval, and for the partitions it loses
// in its rebalance listener; plus a monitor recording the committed offsets
// the coordinator reports.
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
		name := fmt.Sprintf("%s-%d", cfg.Group, i)
		m := &member{g: g, name: name, log: g.log.With("member", name), processed: map[TP]int64{}}
		gc, err := consumer.NewGroup(cfg.Group, consumer.Bootstrap(cfg.Bootstrap...),
			consumer.AutoOffsetReset(consumer.ResetEarliest), consumer.AutoCommit(false),
			consumer.SessionTimeout(cfg.SessionTimeout), consumer.ClientID(name),
			consumer.FetchMaxWait(500*time.Millisecond), consumer.RequestTimeout(10*time.Second),
			consumer.MetadataMaxAge(5*time.Second), consumer.Logger(m.log))
		if err != nil {
			g.Stop(context.Background())
			return nil, err
		}
		m.gc = gc
		if err := gc.Subscribe(cfg.Topics, m); err != nil {
			gc.Close()
			g.Stop(context.Background())
			return nil, err
		}
		g.members = append(g.members, m)
		g.wg.Add(1)
		go m.pollLoop()
	}
	g.wg.Add(1)
	go g.monitor()
	return g, nil
}

// Name is the group id.
func (g *Group) Name() string { return g.cfg.Group }

// Stop stops the members and the monitor; each member commits what it
// processed (its listener, called by Close) and leaves the group.
func (g *Group) Stop(ctx context.Context) {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	g.wg.Wait()
	var wg sync.WaitGroup
	for _, m := range g.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.gc.CloseContext(ctx); err != nil {
				m.log.Warn("close", "err", err)
			}
		}()
	}
	wg.Wait()
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

// member is one group member: a group consumer and its polling goroutine
// (pollLoop). processed is touched only on that goroutine: by pollLoop and
// by the rebalance listener, which the consumer calls inside Poll (or
// Close, after pollLoop ended).
type member struct {
	g    *Group
	name string
	log  *slog.Logger
	gc   *consumer.GroupConsumer

	processed map[TP]int64 // next offset after the last processed record, of the partitions owned
}

// OnPartitionsRevoked commits what was processed of the partitions being
// taken away, while they are still this member's.
func (m *member) OnPartitionsRevoked(ctx context.Context, revoked []consumer.TopicPartition) {
	offs := map[consumer.TopicPartition]int64{}
	for _, tp := range revoked {
		if off, ok := m.processed[TP{tp.Topic, tp.Partition}]; ok {
			offs[tp] = off
		}
		delete(m.processed, TP{tp.Topic, tp.Partition})
	}
	m.commit(ctx, offs)
}

// OnPartitionsAssigned notes nothing: a gained partition starts at its
// committed offset, and processed follows the records polled.
func (m *member) OnPartitionsAssigned(ctx context.Context, assigned []consumer.TopicPartition) {
	m.log.Info("assigned", "partitions", assigned)
}

// OnPartitionsLost forgets partitions that already belong to others (the
// member was expelled): committing them would be refused.
func (m *member) OnPartitionsLost(ctx context.Context, lost []consumer.TopicPartition) {
	m.log.Info("partitions lost", "partitions", lost)
	for _, tp := range lost {
		delete(m.processed, TP{tp.Topic, tp.Partition})
	}
}

// commit commits offsets, waiting for the answer; a refusal (the
// partitions moved on) is logged and left to the next owner.
func (m *member) commit(ctx context.Context, offs map[consumer.TopicPartition]int64) error {
	if len(offs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	err := m.gc.CommitOffsets(ctx, offs)
	if err != nil {
		m.log.Info("commit failed", "offsets", len(offs), "err", err)
	}
	return err
}

// commitOwned commits what was processed of the partitions being consumed.
func (m *member) commitOwned(committed map[TP]int64) {
	offs := map[consumer.TopicPartition]int64{}
	for _, tp := range m.gc.Assignment() {
		k := TP{tp.Topic, tp.Partition}
		if off, ok := m.processed[k]; ok && off != committed[k] {
			offs[tp] = off
		}
	}
	if m.commit(context.Background(), offs) != nil {
		return
	}
	for tp, off := range offs {
		committed[TP{tp.Topic, tp.Partition}] = off
	}
}

// pollLoop polls, processes (records each workload record as consumed) and
// commits every CommitInterval, until the group stops.
func (m *member) pollLoop() {
	defer m.g.wg.Done()
	lastCommit := time.Now()
	committed := map[TP]int64{}
	for !m.g.stopped() {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		recs, err := m.gc.Poll(ctx)
		cancel()
		switch {
		case errors.Is(err, consumer.ErrClosed):
			return
		case err != nil && !errors.Is(err, context.DeadlineExceeded):
			m.log.Warn("poll failed", "err", err)
			if !m.g.sleep(200 * time.Millisecond) {
				return
			}
		}
		var done []consumedRecord
		for _, r := range recs {
			tp := TP{r.Topic, r.Partition}
			m.processed[tp] = r.Offset + 1
			if _, _, id, ok := DecodeValue(r.Value); ok {
				done = append(done, consumedRecord{tp, id})
			}
		}
		m.g.noteConsumed(done)
		if time.Since(lastCommit) >= m.g.cfg.CommitInterval {
			m.commitOwned(committed)
			lastCommit = time.Now()
		}
	}
}

// consumedRecord is a workload record a member processed.
type consumedRecord struct {
	tp TP
	id RecordID
}

// noteConsumed records processed workload records.
func (g *Group) noteConsumed(done []consumedRecord) {
	if len(done) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, d := range done {
		if g.consumed[d.tp] == nil {
			g.consumed[d.tp] = map[RecordID]bool{}
		}
		g.consumed[d.tp][d.id] = true
	}
}
