package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"strand.dev/client/internal/transport"
	"strand.dev/client/wire"
)

// Config configures a Router.
type Config struct {
	// Bootstrap lists host:port of nodes to ask first (strand-meta or data
	// nodes). Required.
	Bootstrap []string
	// Transport makes the requests. Required.
	Transport *transport.Client
	// MaxAge: cached metadata older than this is refreshed on the next use.
	// Default 5 minutes.
	MaxAge time.Duration
	// MinRefreshInterval: a refresh asked for within this long of the last
	// completed one returns that one. Default 50 ms.
	MinRefreshInterval time.Duration
	// AttemptTimeout bounds the request to one node during a refresh.
	// Default 5 s.
	AttemptTimeout time.Duration
	// Logger receives debug logs; nil logs nothing.
	Logger *slog.Logger
}

// Router caches the cluster's metadata. Safe for concurrent use.
type Router struct {
	cfg Config
	log *slog.Logger

	// mu guards everything below.
	mu        sync.Mutex
	md        *wire.Metadata // nil until the first successful refresh
	fetchedAt time.Time
	stale     bool         // Invalidate was called
	inflight  *refreshCall // the refresh running now, nil if none
	lastErr   error        // the error of the last failed refresh
	nextStart int          // rotates the first node asked
}

// refreshCall is one refresh that several callers may wait on. done is
// closed once md and err are set.
type refreshCall struct {
	done chan struct{}
	md   *wire.Metadata
	err  error
}

// New returns a Router; it does no I/O until first used.
func New(cfg Config) (*Router, error) {
	if len(cfg.Bootstrap) == 0 {
		return nil, errors.New("routing: empty bootstrap list")
	}
	for _, a := range cfg.Bootstrap {
		if err := CheckAddr(a); err != nil {
			return nil, err
		}
	}
	if cfg.Transport == nil {
		return nil, errors.New("routing: no transport")
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 5 * time.Minute
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = 50 * time.Millisecond
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 5 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Router{cfg: cfg, log: log.With("component", "routing")}, nil
}

// Metadata returns the cached metadata, refreshing it first if there is
// none, it is older than MaxAge, or it was invalidated.
func (r *Router) Metadata(ctx context.Context) (*wire.Metadata, error) {
	r.mu.Lock()
	if r.md != nil && !r.stale && time.Since(r.fetchedAt) < r.cfg.MaxAge {
		md := r.md
		r.mu.Unlock()
		return md, nil
	}
	r.mu.Unlock()
	return r.Refresh(ctx)
}

// Cached returns the cached metadata without I/O, or nil.
func (r *Router) Cached() *wire.Metadata {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.md
}

// Invalidate marks the cached metadata stale: the next Metadata refreshes.
func (r *Router) Invalidate() {
	r.mu.Lock()
	r.stale = true
	r.mu.Unlock()
}

// Refresh fetches the metadata now (joining a refresh already running, or
// returning one completed within MinRefreshInterval). The returned metadata
// must not be modified.
func (r *Router) Refresh(ctx context.Context) (*wire.Metadata, error) {
	r.mu.Lock()
	if r.md != nil && !r.stale && time.Since(r.fetchedAt) < r.cfg.MinRefreshInterval {
		md := r.md
		r.mu.Unlock()
		return md, nil
	}
	call := r.inflight
	if call == nil {
		call = &refreshCall{done: make(chan struct{})}
		r.inflight = call
		candidates := r.candidatesLocked()
		go r.run(call, candidates)
	}
	r.mu.Unlock()
	select {
	case <-call.done:
		return call.md, call.err
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for cluster metadata: %w", ctx.Err())
	}
}

// candidatesLocked lists the nodes to ask: strand-meta nodes known from the
// last metadata, then the bootstrap list, then the data nodes, each group
// rotated so that load spreads. r.mu must be held.
func (r *Router) candidatesLocked() []string {
	seen := map[string]bool{}
	var out []string
	add := func(group []string) {
		if len(group) == 0 {
			return
		}
		start := (r.nextStart + rand.IntN(len(group))) % len(group)
		for i := range group {
			a := group[(start+i)%len(group)]
			if a != "" && !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	r.nextStart++
	if r.md != nil {
		add(r.md.MetaAddrs)
	}
	add(r.cfg.Bootstrap)
	if r.md != nil {
		var nodes []string
		for _, n := range r.md.Nodes {
			if !n.Fenced {
				nodes = append(nodes, n.Addr)
			}
		}
		add(nodes)
	}
	return out
}

// run asks the candidates in turn and publishes the first answer. It owns
// call until it closes call.done.
func (r *Router) run(call *refreshCall, candidates []string) {
	var errs []error
	for _, addr := range candidates {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.AttemptTimeout)
		md, err := r.cfg.Transport.Metadata(ctx, addr)
		cancel()
		if err == nil {
			err = checkMetadata(md)
		}
		if err != nil {
			r.log.Debug("metadata refresh attempt failed", "addr", addr, "err", err)
			errs = append(errs, err)
			continue
		}
		call.md = md
		break
	}
	if call.md == nil {
		call.err = &NoNodeError{Tried: candidates, Errs: errs}
	}
	r.mu.Lock()
	if call.md != nil {
		// Never go back to an older image than one already seen (a data
		// node's cache may lag strand-meta's).
		if r.md == nil || call.md.Version == 0 || call.md.Version >= r.md.Version || call.md.ClusterID != r.md.ClusterID {
			r.md = call.md
		} else {
			call.md = r.md
		}
		r.fetchedAt = time.Now()
		r.stale = false
		r.lastErr = nil
	} else {
		r.lastErr = call.err
	}
	r.inflight = nil
	r.mu.Unlock()
	close(call.done)
}

// checkMetadata rejects answers that cannot be routed with.
func checkMetadata(md *wire.Metadata) error {
	for _, n := range md.Nodes {
		if err := CheckAddr(n.Addr); err != nil {
			return fmt.Errorf("metadata names node %d with a bad address: %w", n.ID, err)
		}
	}
	return nil
}

// NoNodeError says that no node answered a metadata request.
type NoNodeError struct {
	Tried []string
	Errs  []error
}

// Error implements error.
func (e *NoNodeError) Error() string {
	if len(e.Errs) == 0 {
		return "no node to ask for cluster metadata"
	}
	return fmt.Sprintf("no node answered a metadata request (tried %v); last error: %v", e.Tried, e.Errs[len(e.Errs)-1])
}

// Unwrap returns the errors of the attempts.
func (e *NoNodeError) Unwrap() []error { return e.Errs }
