package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
	"strand.dev/controlplane/membership"
)

// Controller is one strand-controller process's controller. Create it with
// New, start it with Run.
type Controller struct {
	cfg    Config
	meta   MetaAPI
	gossip Gossip
	pool   *membership.Pool // when New joined the pool itself
	logger *slog.Logger

	registry *prometheus.Registry
	metrics  *metrics

	ln     net.Listener
	addr   string // advertised admin address
	server *fasthttp.Server
	client *fasthttp.Client // forwarding to the active controller

	// img is the newest image seen; imgChanged is closed and replaced when
	// it changes (guarded by imgMu).
	img        atomic.Pointer[wire.Image]
	imgMu      sync.Mutex
	imgChanged chan struct{}

	// wake is the leader loop's wake-up signal (capacity 1, non-blocking
	// sends): gossip events, controlled-shutdown requests.
	wake chan string

	// mu guards lead.
	mu   sync.Mutex
	lead leadership

	// shutdownMu guards shutdown: data nodes in controlled shutdown, with
	// the incarnation they asked at and when the mark expires.
	shutdownMu sync.Mutex
	shutdown   map[int32]shutdownMark

	// offline is the last reconcile's list of leaderless partitions.
	offline atomic.Pointer[[]string]
}

// leadership is the controller's acting state.
type leadership struct {
	active bool
	epoch  int64
	// deadline is when the lease may have lapsed: lease after the send time
	// of the last successful renewal (or acquisition).
	deadline time.Time
	// cancel stops the leader loop and the lease keeper.
	cancel context.CancelFunc
}

// New builds a controller: it validates cfg, listens on cfg.ListenAddr and,
// unless deps.Gossip is set, joins the gossip pool.
func New(cfg Config, deps Deps) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Meta == nil {
		return nil, fmt.Errorf("%w: no strand-meta client", ErrInvalidConfig)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c := &Controller{
		cfg:        cfg,
		meta:       deps.Meta,
		gossip:     deps.Gossip,
		logger:     logger.With("component", "controller", "controller_id", cfg.ID),
		registry:   reg,
		metrics:    newMetrics(reg),
		imgChanged: make(chan struct{}),
		wake:       make(chan string, 1),
		shutdown:   map[int32]shutdownMark{},
		client: &fasthttp.Client{
			Name:                "strand-controller",
			MaxResponseBodySize: 64 << 20,
			ReadTimeout:         cfg.RequestTimeout + cfg.ShutdownWaitMax,
			WriteTimeout:        cfg.RequestTimeout,
		},
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("controller: listen on %s: %w", cfg.ListenAddr, err)
	}
	c.ln = ln
	c.addr = cfg.AdvertiseAddr
	if c.addr == "" {
		c.addr = ln.Addr().String()
	}
	if c.gossip == nil {
		mc := cfg.Membership
		mc.Role, mc.ID, mc.APIAddr = membership.RoleController, cfg.ID, c.addr
		if mc.Logger == nil {
			mc.Logger = cfg.Logger
		}
		if mc.Registerer == nil {
			mc.Registerer = reg
		}
		pool, err := membership.New(mc)
		if err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("controller: join gossip: %w", err)
		}
		c.pool, c.gossip = pool, pool
	}
	c.server = c.newServer()
	return c, nil
}

// Addr is the controller's advertised admin API address.
func (c *Controller) Addr() string { return c.addr }

// Pool is the gossip pool New joined, nil when Deps.Gossip was given.
func (c *Controller) Pool() *membership.Pool { return c.pool }

// Registry is the controller's metrics registry.
func (c *Controller) Registry() *prometheus.Registry { return c.registry }

// Active reports whether the controller currently acts (holds a valid lease)
// and with which epoch.
func (c *Controller) Active() (bool, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.lead.active {
		return false, 0
	}
	return true, c.lead.epoch
}

// Run serves until ctx ends, then stops: it releases the lease when active,
// leaves the gossip pool it joined, and closes the listener. It returns nil
// after a clean stop.
func (c *Controller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := c.server.Serve(c.ln); err != nil {
			serveErr <- err
		}
	}()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(2)
	go func() { defer wg.Done(); c.watchImages(runCtx) }()
	go func() { defer wg.Done(); c.pumpGossip(runCtx) }()
	c.logger.Info("controller started", "addr", c.addr, "lease", c.cfg.Lease)

	campaignDone := make(chan struct{})
	go func() { defer close(campaignDone); c.campaign(runCtx) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("controller: serve: %w", err)
	}
	cancel()
	<-campaignDone
	if serr := c.server.Shutdown(); serr != nil && err == nil {
		err = fmt.Errorf("controller: stop server: %w", serr)
	}
	if c.pool != nil {
		if lerr := c.pool.Leave(); lerr != nil {
			c.logger.Warn("leaving gossip", "err", lerr)
		}
	}
	wg.Wait()
	c.logger.Info("controller stopped")
	return err
}

// image is the newest image seen (nil before the first).
func (c *Controller) image() *wire.Image { return c.img.Load() }

// imageChanged returns a channel closed when a newer image arrives.
func (c *Controller) imageChanged() <-chan struct{} {
	c.imgMu.Lock()
	defer c.imgMu.Unlock()
	return c.imgChanged
}

// setImage publishes img if it is newer than the current one.
func (c *Controller) setImage(img *wire.Image) bool {
	c.imgMu.Lock()
	defer c.imgMu.Unlock()
	if cur := c.img.Load(); cur != nil && img.Version <= cur.Version {
		return false
	}
	c.img.Store(img)
	close(c.imgChanged)
	c.imgChanged = make(chan struct{})
	return true
}

// waitImage waits until the image satisfies ok (or ctx ends).
func (c *Controller) waitImage(ctx context.Context, ok func(*wire.Image) bool) (*wire.Image, error) {
	for {
		ch := c.imageChanged()
		if img := c.image(); img != nil && ok(img) {
			return img, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// watchImages owns the long-poll loop: it publishes every newer image.
func (c *Controller) watchImages(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		var after uint64
		if cur := c.image(); cur != nil {
			after = cur.Version
		}
		var img *wire.Image
		var err error
		if after == 0 {
			img, err = c.meta.Image(ctx, false)
		} else {
			img, err = c.meta.Watch(ctx, after)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.logger.Debug("watching the image", "err", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		c.setImage(img)
	}
}

// pumpGossip owns the reading end of the gossip events: each event is a
// wake-up for the leader loop, sent without blocking (a pending wake-up
// already covers it, since the loop reconciles everything).
func (c *Controller) pumpGossip(ctx context.Context) {
	events := c.gossip.Events()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			c.metrics.gossipWakeups.Inc()
			c.logger.Debug("gossip event", "type", ev.Type.String(), "member", ev.Member.Name)
			if ev.Member.Role == membership.RoleData && (ev.Type == membership.EventLeave || ev.Type == membership.EventFailed) {
				c.logger.Info("data node gone from gossip", "member", ev.Member.Name, "event", ev.Type.String())
			}
			c.poke("gossip")
		}
	}
}

// poke wakes the leader loop without blocking.
func (c *Controller) poke(reason string) {
	select {
	case c.wake <- reason:
	default:
	}
}

// liveDataNodes are the data node ids gossip sees alive.
func (c *Controller) liveDataNodes() map[int32]bool {
	live := map[int32]bool{}
	for _, m := range c.gossip.Members() {
		if id, ok := m.DataNodeID(); ok && m.Alive() {
			live[id] = true
		}
	}
	return live
}

// errNotActive is returned by writes attempted while not active.
var errNotActive = errors.New("controller: not the active controller")
