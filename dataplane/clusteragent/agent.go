package clusteragent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/metaclient"
	"strand.dev/client/wire"
	"strand.dev/controlplane/membership"
)

// Agent is a data node's member of the control plane: it registers the node
// in strand-meta, joins the gossip pool, follows the metadata image and
// tells the replica layer what to lead, follow and delete, serves the
// cached metadata, proposes the leader's ISR changes and, when the node
// stops, moves its leaderships away first (controlled shutdown).
//
// Goroutines: Run owns the image watcher's goroutine and the apply loop
// (the only caller of Replicas); every other method may be called from
// any goroutine. The newest image is published through an atomic pointer;
// mu guards only the apply loop's bookkeeping read by Status.
type Agent struct {
	cfg  Config
	log  *slog.Logger
	meta *metaclient.Client
	rep  Replicas
	m    *metrics
	hc   *fasthttp.Client

	pool *membership.Pool

	incarnation atomic.Int64
	minVersion  atomic.Uint64 // the registration's image version
	registered  atomic.Bool

	img     atomic.Pointer[wire.Image]
	imgWake chan struct{} // capacity 1

	applied     atomic.Uint64 // version of the last image fully applied
	appliedWake chan struct{} // closed and replaced when applied moves
	wakeMu      sync.Mutex

	// Apply-loop state, owned by Run.
	done    map[TopicPartition]Assignment
	failing map[TopicPartition]error
	ids     *topicIDs

	mu     sync.Mutex
	status Status
}

// Status is the agent's view, for /metrics and tests.
type Status struct {
	Incarnation    int64
	Registered     bool
	ImageVersion   uint64
	AppliedVersion uint64
	Assignments    int
	Failing        int
}

// New builds an agent; nothing talks to the cluster until Start.
func New(cfg Config, rep Replicas) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ids, err := loadTopicIDs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg: cfg,
		log: cfg.Logger.With("component", "clusteragent"),
		meta: metaclient.New(cfg.MetaAddrs, metaclient.WithTimeout(cfg.MetaTimeout),
			metaclient.WithWatchWait(cfg.WatchWait), metaclient.WithLogger(cfg.Logger), metaclient.WithName("strand-data")),
		rep:         rep,
		imgWake:     make(chan struct{}, 1),
		appliedWake: make(chan struct{}),
		done:        make(map[TopicPartition]Assignment),
		failing:     make(map[TopicPartition]error),
		ids:         ids,
		hc: &fasthttp.Client{
			Name:                      "strand-data",
			MaxIdleConnDuration:       30 * time.Second,
			MaxIdemponentCallAttempts: 1,
			MaxResponseBodySize:       16 << 20,
		},
	}
	a.m = newMetrics(cfg.Registerer, a)
	return a, nil
}

// Start registers the node in strand-meta (with a new incarnation) and
// joins the gossip pool. It returns once both are done, or fails when
// registration is refused for longer than RegisterTimeout or ctx ends.
func (a *Agent) Start(ctx context.Context) error {
	gossipAddr := a.cfg.Gossip.AdvertiseAddr
	if gossipAddr == "" {
		gossipAddr = a.cfg.Gossip.BindAddr
	}
	if _, port, err := net.SplitHostPort(gossipAddr); err == nil && port == "0" {
		// The port is chosen when gossip starts: start it first.
		if err := a.joinGossip(); err != nil {
			return err
		}
		gossipAddr = a.pool.LocalAddr()
	}
	if err := a.register(ctx, gossipAddr); err != nil {
		if a.pool != nil {
			_ = a.pool.Shutdown()
		}
		return err
	}
	if a.pool == nil {
		if err := a.joinGossip(); err != nil {
			return err
		}
	}
	return nil
}

// joinGossip starts the gossip member and drains its events (a data node
// does not act on them; the controller does).
func (a *Agent) joinGossip() error {
	pool, err := membership.New(a.cfg.Gossip)
	if err != nil {
		return fmt.Errorf("clusteragent: join gossip: %w", err)
	}
	a.pool = pool
	go func() {
		for range pool.Events() {
		}
	}()
	return nil
}

// Run follows the image and applies it until ctx ends. Call it after Start.
func (a *Agent) Run(ctx context.Context) error {
	w := metaclient.NewWatcher(a.meta, func(img *wire.Image) {
		a.img.Store(img)
		a.m.imageVersion.Set(float64(img.Version))
		select {
		case a.imgWake <- struct{}{}:
		default:
		}
	}, metaclient.WithWatcherBackoff(50*time.Millisecond, time.Second))
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		_ = w.Run(wctx)
	}()
	defer func() { <-watchDone }()
	retry := time.NewTicker(a.cfg.RetryInterval)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.imgWake:
		case <-retry.C:
		}
		a.reconcile(ctx)
	}
}

// Incarnation is the incarnation the node registered with (0 before).
func (a *Agent) Incarnation() int64 { return a.incarnation.Load() }

// Image is the newest image seen, or nil.
func (a *Agent) Image() *wire.Image { return a.img.Load() }

// AppliedVersion is the version of the last image fully applied.
func (a *Agent) AppliedVersion() uint64 { return a.applied.Load() }

// WaitApplied waits until an image of at least version v was applied.
func (a *Agent) WaitApplied(ctx context.Context, v uint64) error {
	for {
		a.wakeMu.Lock()
		ch := a.appliedWake
		a.wakeMu.Unlock()
		if a.applied.Load() >= v {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// setApplied publishes the applied version.
func (a *Agent) setApplied(v uint64) {
	a.applied.Store(v)
	a.m.appliedVersion.Set(float64(v))
	a.wakeMu.Lock()
	close(a.appliedWake)
	a.appliedWake = make(chan struct{})
	a.wakeMu.Unlock()
}

// Status returns the agent's view.
func (a *Agent) Status() Status {
	a.mu.Lock()
	st := a.status
	a.mu.Unlock()
	st.Incarnation = a.incarnation.Load()
	st.Registered = a.registered.Load()
	if img := a.img.Load(); img != nil {
		st.ImageVersion = img.Version
	}
	st.AppliedVersion = a.applied.Load()
	return st
}

// KnownReplica reports whether id is a registered data node.
func (a *Agent) KnownReplica(id int32) bool {
	img := a.img.Load()
	return img != nil && img.Nodes[id] != nil
}

// NodeAddr is the API address of data node id, if the image has it.
func (a *Agent) NodeAddr(id int32) (string, bool) {
	img := a.img.Load()
	if img == nil || img.Nodes[id] == nil {
		return "", false
	}
	return img.Nodes[id].Addr, true
}

// ClusterID is the metadata cluster's id ("" before the first image).
func (a *Agent) ClusterID() string {
	if img := a.img.Load(); img != nil {
		return img.ClusterID
	}
	return ""
}

// Metadata is the routing view of the newest image, with the strand-meta
// addresses; before the first image it names only this node.
func (a *Agent) Metadata() wire.Metadata {
	img := a.img.Load()
	if img == nil {
		return wire.Metadata{Nodes: []wire.NodeInfo{{ID: a.cfg.NodeID, Addr: a.cfg.Addr, Rack: a.cfg.Rack}},
			MetaAddrs: append([]string(nil), a.cfg.MetaAddrs...), Topics: []wire.TopicMetadata{}}
	}
	md := img.Metadata()
	md.MetaAddrs = append([]string(nil), a.cfg.MetaAddrs...)
	if md.Topics == nil {
		md.Topics = []wire.TopicMetadata{}
	}
	return md
}

// AlterISR proposes a partition leader's ISR change; it returns the image
// version that has it. A rejection comes back as the *wire.Error
// strand-meta answered (FENCED_LEADER_EPOCH, INVALID_UPDATE_VERSION, ...).
func (a *Agent) AlterISR(ctx context.Context, c wire.AlterISRCmd) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*a.cfg.MetaTimeout)
	defer cancel()
	resp, err := a.meta.Propose(ctx, &wire.Command{Type: wire.CmdAlterISR, AlterISR: &c})
	if err != nil {
		a.m.isrErrors.Inc()
		return 0, err
	}
	a.m.isrChanges.Inc()
	return resp.Version, nil
}

// AllocateProducerIDs takes a block of count producer ids from strand-meta
// and returns the first.
func (a *Agent) AllocateProducerIDs(ctx context.Context, count int64) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*a.cfg.MetaTimeout)
	defer cancel()
	resp, err := a.meta.Propose(ctx, &wire.Command{Type: wire.CmdAllocateProducerIDs,
		AllocateProducerIDs: &wire.AllocateProducerIDsCmd{Count: count}})
	if err != nil {
		return 0, err
	}
	return resp.FirstProducerID, nil
}

// Leave leaves the gossip pool (others see a graceful leave at once) and
// closes the agent's clients. Call it after Run returned.
func (a *Agent) Leave() error {
	var err error
	if a.pool != nil {
		if lerr := a.pool.Leave(); lerr != nil {
			err = lerr
		}
	}
	a.meta.Close()
	a.hc.CloseIdleConnections()
	return err
}

// Close shuts gossip down without a leave announcement (tests of crashes)
// and closes the clients.
func (a *Agent) Close() error {
	var err error
	if a.pool != nil {
		err = a.pool.Shutdown()
	}
	a.meta.Close()
	a.hc.CloseIdleConnections()
	return err
}
