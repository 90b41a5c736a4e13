package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"strand.dev/client/metaclient"
	"strand.dev/client/wire"
	"strand.dev/controlplane/membership"
	"strand.dev/coordinator/logclient"
	"strand.dev/coordinator/ownership"
)

// Server is one strand-coordinator.
type Server struct {
	cfg  Config
	log  *slog.Logger
	reg  *prometheus.Registry
	met  *metrics
	view view
	lc   *logclient.Client
	meta *metaclient.Client // nil standalone
	own  *ownership.Manager // nil standalone
	pool *membership.Pool   // nil without gossip
	ln   net.Listener
	addr string // advertised API address
	http *fasthttp.Server

	// stopCtx ends when the server stops; stop cancels it.
	stopCtx context.Context
	stop    context.CancelFunc

	// mu guards parts and topicReady. Lock order: mu, then partition.mu.
	mu         sync.RWMutex
	parts      map[int32]*partition
	topicReady bool

	// topicMu serializes the creation of __consumer_offsets.
	topicMu sync.Mutex
}

// New builds a coordinator and binds its listener; Run serves.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	reg := cfg.Registry
	if reg == nil {
		reg = newRegistry()
	}
	s := &Server{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "coordinator", "id", cfg.ID),
		reg:   reg,
		met:   newMetrics(reg),
		parts: map[int32]*partition{},
	}
	s.stopCtx, s.stop = context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("coordinator: listen on %s: %w", cfg.Listen, err)
	}
	s.ln = ln
	s.addr = cfg.AdvertiseAddr
	if s.addr == "" {
		s.addr = ln.Addr().String()
	}
	if cfg.Standalone {
		s.view = newDataView(cfg.DataAddrs, s.log)
	} else {
		s.meta = metaclient.New(cfg.MetaAddrs, metaclient.WithLogger(cfg.Logger), metaclient.WithName("strand-coordinator"))
		s.view = newMetaView(s.meta)
	}
	s.lc = logclient.New(logclient.Config{Metadata: s.view, Logger: cfg.Logger})
	if !cfg.Standalone {
		s.own, err = ownership.New(ownership.Config{
			ID: cfg.ID, Addr: s.addr, Partitions: s.numPartitions,
			Lease: cfg.OwnershipLease, Renew: cfg.OwnershipRenew,
			Meta: s.meta, Peers: s.peers, Listener: s, Logger: cfg.Logger,
			OnStep: func(err error) {
				if err != nil {
					s.met.ownershipErrors.Inc()
				}
			},
		})
		if err != nil {
			ln.Close()
			return nil, err
		}
	}
	s.http = &fasthttp.Server{
		Handler:               s.handle,
		Name:                  "strand-coordinator",
		MaxRequestBodySize:    cfg.MaxRequestBytes,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		NoDefaultServerHeader: true,
		CloseOnShutdown:       true,
	}
	return s, nil
}

// Addr is the advertised API address.
func (s *Server) Addr() string { return s.addr }

// Registry is the metrics registry.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Run serves until ctx ends, then stops gracefully: it stops serving its
// offsets partitions, releases them in strand-meta (so others take over at
// once), leaves gossip and closes the listener.
func (s *Server) Run(ctx context.Context) error {
	defer s.stop()
	var wg sync.WaitGroup
	bg := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	runCtx, cancelRun := context.WithCancel(s.stopCtx)
	defer cancelRun()

	if s.cfg.GossipBind != "" && !s.cfg.Standalone {
		pool, err := membership.New(membership.Config{
			Role: membership.RoleCoordinator, ID: s.cfg.ID, APIAddr: s.addr,
			BindAddr: s.cfg.GossipBind, AdvertiseAddr: s.cfg.GossipAdvertise, Join: s.cfg.GossipJoin,
			RetryJoin: s.cfg.GossipRetryJoin, Keys: s.cfg.GossipKeys, Timing: s.cfg.GossipTiming, Logger: s.cfg.Logger, Registerer: s.reg,
		})
		if err != nil {
			s.ln.Close()
			return fmt.Errorf("coordinator: gossip: %w", err)
		}
		s.pool = pool
		bg(func() { s.followGossip(runCtx) })
	}
	bg(func() { s.view.Run(runCtx, s.onMetadata) })
	if s.own != nil {
		bg(func() { _ = s.own.Run(runCtx) })
	} else {
		bg(func() { s.runStandalone(runCtx) })
	}
	bg(func() { s.tickLoop(runCtx) })
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.http.Serve(s.ln) }()
	s.log.Info("coordinator started", "addr", s.addr, "standalone", s.cfg.Standalone)

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("coordinator: serve: %w", err)
	}
	s.log.Info("coordinator stopping")
	stopCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if s.own != nil {
		cancelRun() // no more claims
		if rerr := s.own.ReleaseAll(stopCtx); rerr != nil {
			s.log.Warn("releasing offsets partitions failed", "err", rerr)
		}
	}
	s.haltAll()
	if s.pool != nil {
		if lerr := s.pool.Leave(); lerr != nil {
			s.log.Warn("leaving gossip failed", "err", lerr)
		}
		_ = s.pool.Shutdown()
	}
	cancelRun()
	if serr := s.http.ShutdownWithContext(stopCtx); serr != nil && err == nil && !errors.Is(serr, context.DeadlineExceeded) {
		err = serr
	}
	s.stop()
	wg.Wait()
	s.lc.Close()
	if s.meta != nil {
		s.meta.Close()
	}
	s.log.Info("coordinator stopped")
	return err
}

// haltAll stops serving every partition.
func (s *Server) haltAll() {
	s.mu.Lock()
	parts := s.parts
	s.parts = map[int32]*partition{}
	s.mu.Unlock()
	for _, pt := range parts {
		pt.halt()
	}
	s.updateGauges()
}

// peers lists the live coordinators from gossip.
func (s *Server) peers() []ownership.Peer {
	if s.pool == nil {
		return nil
	}
	var out []ownership.Peer
	for _, m := range s.pool.Members() {
		if m.Role == membership.RoleCoordinator && m.Alive() {
			out = append(out, ownership.Peer{ID: m.ID, Addr: m.APIAddr})
		}
	}
	return out
}

// followGossip reconciles ownership at once on coordinator membership
// changes.
func (s *Server) followGossip(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-s.pool.Events():
			if !ok {
				return
			}
			if ev.Member.Role == membership.RoleCoordinator {
				s.own.Poke()
			}
		}
	}
}

// runStandalone owns every partition once the metadata is known.
func (s *Server) runStandalone(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for s.view.Metadata() == nil {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	n := s.numPartitions()
	for p := range n {
		s.Gained(p, 0, time.Time{})
	}
}

// numPartitions is the number of offsets partitions: the topic's, or the
// configured count before the topic exists.
func (s *Server) numPartitions() int32 {
	if n, ok := s.view.Counts()[wire.OffsetsTopic]; ok && n > 0 {
		return n
	}
	return s.cfg.OffsetsPartitions
}

// writeTimeout bounds one offsets produce.
func (s *Server) writeTimeout() time.Duration { return s.cfg.WriteTimeout }

// Gained implements ownership.Listener: start loading the partition.
func (s *Server) Gained(p int32, epoch int64, serveAfter time.Time) {
	ctx, cancel := context.WithCancel(s.stopCtx)
	pt := &partition{s: s, id: p, epoch: epoch, serveAfter: serveAfter, cancel: cancel, stop: make(chan struct{}), groups: map[string]*groupEntry{}}
	s.mu.Lock()
	old := s.parts[p]
	s.parts[p] = pt
	s.mu.Unlock()
	if old != nil {
		old.halt()
	}
	go pt.load(ctx)
	s.updateGauges()
}

// Lost implements ownership.Listener: stop serving at once.
func (s *Server) Lost(p int32, epoch int64) {
	s.mu.Lock()
	pt := s.parts[p]
	if pt != nil && (epoch == 0 || pt.epoch == epoch) {
		delete(s.parts, p)
	} else {
		pt = nil
	}
	s.mu.Unlock()
	if pt != nil {
		pt.halt()
		s.log.Info("stopped serving an offsets partition", "partition", p, "epoch", epoch)
	}
	s.updateGauges()
}

// retryLoad loads a partition again after a failure, if it is still held.
func (s *Server) retryLoad(pt *partition) {
	go func() {
		t := time.NewTimer(time.Second)
		defer t.Stop()
		select {
		case <-pt.stop:
			return
		case <-t.C:
		}
		s.mu.RLock()
		cur := s.parts[pt.id]
		s.mu.RUnlock()
		if cur != pt {
			return
		}
		pt.mu.Lock()
		epoch := pt.epoch
		pt.mu.Unlock()
		if s.cfg.Standalone {
			epoch = 0
		}
		s.Gained(pt.id, epoch, pt.serveAfter)
	}()
}

// ensureTopic creates __consumer_offsets when it does not exist, retrying
// until it does or ctx ends.
func (s *Server) ensureTopic(ctx context.Context) error {
	s.mu.RLock()
	ready := s.topicReady
	s.mu.RUnlock()
	if ready {
		return nil
	}
	s.topicMu.Lock()
	defer s.topicMu.Unlock()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var firstTry time.Time
	waitLogged := false
	for {
		md := s.view.Metadata()
		if md != nil {
			if _, ok := md.Topic(wire.OffsetsTopic); ok {
				s.mu.Lock()
				s.topicReady = true
				s.mu.Unlock()
				return nil
			}
			if firstTry.IsZero() {
				firstTry = time.Now()
			}
			live := 0
			for _, n := range md.Nodes {
				if !n.Fenced {
					live++
				}
			}
			want := min(s.cfg.OffsetsReplicationFactor, int16(max(len(md.Nodes), 1)))
			waited := time.Since(firstTry)
			if int16(live) < want && waited < s.cfg.OffsetsCreateWait {
				if !waitLogged {
					s.log.Info("waiting for data nodes before creating the offsets topic", "live", live, "registered", len(md.Nodes),
						"replication_factor", want, "at_most", s.cfg.OffsetsCreateWait)
					waitLogged = true
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-t.C:
				}
				continue
			}
			rf := min(s.cfg.OffsetsReplicationFactor, int16(max(live, 1)))
			if rf < s.cfg.OffsetsReplicationFactor {
				s.log.Warn("creating the offsets topic with fewer replicas than offsets.topic.replication.factor: too few data nodes are up",
					"replication_factor", rf, "wanted", s.cfg.OffsetsReplicationFactor, "live", live, "registered", len(md.Nodes))
			}
			req := wire.CreateTopicRequest{
				Topic: wire.OffsetsTopic, Partitions: s.cfg.OffsetsPartitions, ReplicationFactor: rf,
				Configs: map[string]string{
					"cleanup.policy": "compact",
					"segment.bytes":  fmt.Sprint(s.cfg.OffsetsSegmentBytes),
				},
			}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := s.lc.CreateTopic(cctx, req)
			cancel()
			if err == nil {
				s.log.Info("created the offsets topic", "partitions", req.Partitions, "replication_factor", rf)
				s.view.Refresh()
			} else if ctx.Err() == nil {
				s.log.Warn("creating the offsets topic failed; retrying", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// onMetadata brings every group up to date with the topics.
func (s *Server) onMetadata() {
	counts := s.view.Counts()
	now := s.cfg.Now()
	for _, pt := range s.serving() {
		for _, e := range pt.entries() {
			e.mu.Lock()
			if e.g.UpdateTopics(now, counts) {
				s.met.rebalances.Inc()
				s.persistLocked(pt, e)
				e.notifyLocked()
			}
			e.mu.Unlock()
		}
	}
}

// serving lists the partitions being served.
func (s *Server) serving() []*partition {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*partition, 0, len(s.parts))
	for _, pt := range s.parts {
		pt.mu.Lock()
		st := pt.state
		pt.mu.Unlock()
		if st == stateServing {
			out = append(out, pt)
		}
	}
	return out
}

// updateGauges refreshes the partition, group and member gauges.
func (s *Server) updateGauges() {
	s.mu.RLock()
	parts := make([]*partition, 0, len(s.parts))
	for _, pt := range s.parts {
		parts = append(parts, pt)
	}
	s.mu.RUnlock()
	var loading, serving, groups, members int
	for _, pt := range parts {
		pt.mu.Lock()
		switch pt.state {
		case stateLoading:
			loading++
		case stateServing:
			serving++
		}
		pt.mu.Unlock()
		for _, e := range pt.entries() {
			groups++
			e.mu.Lock()
			members += e.g.Len()
			e.mu.Unlock()
		}
	}
	s.met.partitions.WithLabelValues("loading").Set(float64(loading))
	s.met.partitions.WithLabelValues("serving").Set(float64(serving))
	s.met.groups.Set(float64(groups))
	s.met.members.Set(float64(members))
}

// route finds the served partition holding group, or the error to answer.
func (s *Server) route(groupID string) (*partition, error) {
	if err := wire.ValidateGroupID(groupID); err != nil {
		return nil, err
	}
	p := wire.OffsetsPartitionFor(groupID, s.numPartitions())
	s.mu.RLock()
	pt := s.parts[p]
	s.mu.RUnlock()
	if pt == nil {
		return nil, s.notCoordinator(groupID, p)
	}
	pt.mu.Lock()
	st, epoch := pt.state, pt.epoch
	pt.mu.Unlock()
	switch st {
	case stateLoading:
		return nil, wire.Errorf(wire.CodeCoordinatorLoadInProgress, "offsets partition %d of group %q is loading", p, groupID)
	case stateStopped:
		return nil, s.notCoordinator(groupID, p)
	}
	if !s.valid(p, epoch) {
		return nil, s.notCoordinator(groupID, p)
	}
	return pt, nil
}

// valid reports whether this coordinator still holds partition p at epoch.
func (s *Server) valid(p int32, epoch int64) bool {
	if s.own == nil {
		return true
	}
	e, ok := s.own.Valid(p)
	return ok && e == epoch
}

// stillServing checks, after a write, that the partition is still ours.
func (s *Server) stillServing(pt *partition) error {
	pt.mu.Lock()
	st, epoch := pt.state, pt.epoch
	pt.mu.Unlock()
	if st != stateServing || !s.valid(pt.id, epoch) {
		return wire.Errorf(wire.CodeNotCoordinator, "offsets partition %d was lost while answering; find the coordinator again", pt.id)
	}
	return nil
}

// notCoordinator names the owner when known.
func (s *Server) notCoordinator(groupID string, p int32) error {
	e := wire.Errorf(wire.CodeNotCoordinator, "group %q (offsets partition %d) is not served by coordinator %s", groupID, p, s.cfg.ID)
	if o := s.view.Owners()[p]; o != nil && o.Addr != "" && o.Coordinator != s.cfg.ID {
		e.LeaderAddr = o.Addr
	}
	return e
}
