package metaserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"strand.dev/client/wire"
	"strand.dev/controlplane/metastate"
	"strand.dev/controlplane/raftnode"
	"strand.dev/controlplane/transport"
)

// Server is one strand-meta member. Create it with New and run it with Run.
//
// Goroutines: Run owns the raft node's loop, the API server and the optional
// peer server; HTTP handlers run on fasthttp's goroutines and reach the raft
// loop only through raftnode's methods.
type Server struct {
	cfg     Config
	log     *slog.Logger
	machine *metastate.Machine
	node    *raftnode.Node
	lease   *leaseClock
	reg     *prometheus.Registry
	metrics *httpMetrics

	apiLn, peerLn  net.Listener
	api, peer      *fasthttp.Server
	fwd            *fasthttp.Client
	metricsHandler fasthttp.RequestHandler

	ctx    context.Context // ended when the server stops
	cancel context.CancelFunc
	runMu  sync.Mutex
	ran    bool
}

// New opens the member's data directory (refusing one of another cluster or
// member), restores its state and binds its listeners. Call Run to serve.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "metaserver", "member", cfg.ID),
		machine: metastate.New(cfg.ClusterID),
		lease:   newLeaseClock(time.Now),
		reg:     prometheus.NewRegistry(),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = newHTTPMetrics(s.reg)
	s.metricsHandler = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))

	node, err := raftnode.New(raftnode.Config{
		ID:             cfg.ID,
		ClusterID:      cfg.ClusterID,
		Dir:            cfg.DataDir,
		InitialMembers: cfg.InitialCluster,
		Join:           cfg.Join,
		Machine:        s.machine,
		SnapshotCount:  cfg.SnapshotCount,
		CatchUpEntries: cfg.CatchUpEntries,
		ElectionTick:   cfg.ElectionTick,
		HeartbeatTick:  cfg.HeartbeatTick,
		TickInterval:   cfg.TickInterval,
		MaxEntryBytes:  cfg.MaxRequestBytes + 64,
		Transport: transport.Config{
			Filter:        cfg.PeerFilter,
			MaxFrameBytes: 2*cfg.MaxRequestBytes + raftnode.DefaultMaxSizePerMsg,
			Metrics:       transport.NewMetrics(s.reg),
		},
		OnApply:      s.onApply,
		OnLeadership: s.onLeadership,
		Logger:       cfg.Logger,
		Metrics:      raftnode.NewMetrics(s.reg),
	})
	if err != nil {
		return nil, err
	}
	s.node = node
	s.lease.observe(s.machine.Image().Controller)

	if s.apiLn = cfg.APIListener; s.apiLn == nil {
		if s.apiLn, err = net.Listen("tcp", cfg.ListenAddr); err != nil {
			return nil, s.abort(fmt.Errorf("metaserver: listen %s: %w", cfg.ListenAddr, err))
		}
	}
	if s.peerLn = cfg.PeerListener; s.peerLn == nil && cfg.PeerListenAddr != "" {
		if s.peerLn, err = net.Listen("tcp", cfg.PeerListenAddr); err != nil {
			return nil, s.abort(fmt.Errorf("metaserver: listen %s: %w", cfg.PeerListenAddr, err))
		}
	}
	s.api = &fasthttp.Server{
		Handler:            s.route,
		Name:               "strand-meta",
		MaxRequestBodySize: cfg.MaxRequestBytes,
		ReadTimeout:        30 * time.Second,
		WriteTimeout:       30 * time.Second,
		IdleTimeout:        2 * time.Minute,
		CloseOnShutdown:    true,
		NoDefaultDate:      true,
		Logger:             slogPrinter{s.log},
		ErrorHandler:       requestError,
	}
	if s.peerLn != nil {
		s.peer = &fasthttp.Server{
			Handler:         s.routePeer,
			Name:            "strand-meta-peer",
			ReadTimeout:     30 * time.Second,
			CloseOnShutdown: true,
			Logger:          slogPrinter{s.log},
		}
	}
	s.fwd = &fasthttp.Client{
		Name:                     "strand-meta-forward",
		MaxConnsPerHost:          512,
		ReadTimeout:              cfg.ProposeTimeout + 5*time.Second,
		WriteTimeout:             5 * time.Second,
		MaxIdleConnDuration:      time.Minute,
		MaxResponseBodySize:      64 << 20,
		NoDefaultUserAgentHeader: true,
		Dial: func(addr string) (net.Conn, error) {
			return fasthttp.DialTimeout(addr, time.Second)
		},
	}
	return s, nil
}

// abort undoes New after the node was created: the node's WAL is closed by
// running it on a cancelled context.
func (s *Server) abort(err error) error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.node.Run(ctx)
	if s.apiLn != nil && s.cfg.APIListener == nil {
		s.apiLn.Close()
	}
	return err
}

// APIAddr is the address the API listens on.
func (s *Server) APIAddr() string { return s.apiLn.Addr().String() }

// Node is the raft member (tests and tools).
func (s *Server) Node() *raftnode.Node { return s.node }

// Machine is the state machine (tests and tools).
func (s *Server) Machine() *metastate.Machine { return s.machine }

// Run serves until ctx ends or the member is removed from the cluster, then
// stops gracefully: the listeners close, in-flight requests finish (up to
// ShutdownTimeout), the raft node stops. A member removed from the cluster
// returns raftnode.ErrRemoved.
func (s *Server) Run(ctx context.Context) error {
	s.runMu.Lock()
	if s.ran {
		s.runMu.Unlock()
		return errors.New("metaserver: Run called twice")
	}
	s.ran = true
	s.runMu.Unlock()

	nodeCtx, stopNode := context.WithCancel(context.Background())
	defer stopNode()
	go s.node.Run(nodeCtx)

	errc := make(chan error, 2)
	go func() { errc <- s.api.Serve(s.apiLn) }()
	if s.peer != nil {
		go func() { errc <- s.peer.Serve(s.peerLn) }()
	}
	s.log.Info("serving", "api", s.APIAddr(), "peer", s.peerAddr(), "cluster", s.cfg.ClusterID)

	var runErr error
	select {
	case <-ctx.Done():
	case <-s.node.Done():
		runErr = s.node.Err()
		if errors.Is(runErr, raftnode.ErrRemoved) {
			s.log.Warn("this member was removed from the cluster; stopping")
		} else if runErr != nil {
			s.log.Error("raft node failed", "err", runErr)
		}
	case err := <-errc:
		runErr = fmt.Errorf("metaserver: serve: %w", err)
	}
	s.cancel() // ends long polls and waits
	shutdown := func(srv *fasthttp.Server) {
		if srv == nil {
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		if err := srv.ShutdownWithContext(sctx); err != nil {
			s.log.Warn("shutdown", "err", err)
		}
	}
	shutdown(s.api)
	shutdown(s.peer)
	stopNode()
	<-s.node.Done()
	s.log.Info("stopped")
	return runErr
}

func (s *Server) peerAddr() string {
	if s.peerLn != nil {
		return s.peerLn.Addr().String()
	}
	return s.APIAddr()
}

// route dispatches the API listener's requests.
func (s *Server) route(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	path := string(ctx.Path())
	switch path {
	case wire.PathMetaRaft:
		s.node.Handler(ctx)
		return
	case wire.PathMetaImage:
		s.handleImage(ctx)
	case wire.PathMetaWatch:
		s.handleWatch(ctx)
	case wire.PathMetaPropose:
		s.handlePropose(ctx)
	case wire.PathMetaStatus:
		s.handleStatus(ctx)
	case wire.PathMetaMembers:
		s.handleMembers(ctx)
	case wire.PathMetadata:
		s.handleMetadata(ctx)
	case wire.PathHealth:
		s.handleHealth(ctx)
	case wire.PathMetrics:
		s.handleMetrics(ctx)
	default:
		writeError(ctx, wire.Errorf(wire.CodeInvalidRequest, "no endpoint %s", path))
		path = "other"
	}
	s.metrics.observe(path, ctx.Response.StatusCode(), time.Since(start))
}

// routePeer serves the peer listener: only the raft transport.
func (s *Server) routePeer(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case wire.PathMetaRaft:
		s.node.Handler(ctx)
	case wire.PathHealth:
		s.handleHealth(ctx)
	default:
		writeError(ctx, wire.Errorf(wire.CodeInvalidRequest, "the peer listener serves only %s", wire.PathMetaRaft))
	}
}

func (s *Server) handleMetrics(ctx *fasthttp.RequestCtx) { s.metricsHandler(ctx) }

// onApply runs on the raft loop after each applied batch.
func (s *Server) onApply() {
	s.lease.observe(s.machine.Image().Controller)
}

// onLeadership runs on the raft loop when leadership changes.
func (s *Server) onLeadership(leader bool, term uint64) {
	if leader {
		s.lease.becameLeader()
	}
	s.log.Info("leadership", "leader", leader, "term", term)
}

// requestError answers a request fasthttp could not read with the wire
// error envelope.
func requestError(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		writeError(ctx, wire.Errorf(wire.CodeMessageTooLarge, "the request body exceeds --max-request-bytes"))
		return
	}
	writeError(ctx, wire.Errorf(wire.CodeInvalidRequest, "cannot read the request: %v", err))
}

// httpMetrics are the API's request metrics.
type httpMetrics struct {
	requests *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strand_meta_http_request_seconds",
			Help:    "API request latency by endpoint and status.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 20),
		}, []string{"path", "status"}),
	}
	reg.MustRegister(m.requests)
	return m
}

func (m *httpMetrics) observe(path string, status int, d time.Duration) {
	m.requests.WithLabelValues(path, strconv.Itoa(status)).Observe(d.Seconds())
}

// slogPrinter adapts fasthttp's logger to slog.
type slogPrinter struct{ l *slog.Logger }

// Printf implements fasthttp.Logger (at debug level).
func (p slogPrinter) Printf(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...))
}
