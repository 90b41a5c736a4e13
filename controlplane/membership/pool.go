package membership

import (
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// Pool is this process's membership in the gossip pool.
//
// Goroutines: New starts one pump goroutine that owns the serf event channel
// and the Events channel (it is the only sender and closes Events when it
// ends); Shutdown stops it and waits for it. All methods are safe for
// concurrent use.
type Pool struct {
	cfg     Config
	name    string
	serf    *serf.Serf
	guard   *mergeGuard
	logger  *slog.Logger
	metrics *metrics

	serfCh chan serf.Event
	out    chan Event
	done   chan struct{}
	wg     sync.WaitGroup

	closeOnce sync.Once
}

// New creates the local member, starts gossip on cfg.BindAddr and, when
// cfg.Join is not empty, joins the pool through at least one of those
// addresses. A join that fails everywhere is an error (wrapping
// ErrDuplicateID when a member with this role and id is alive elsewhere);
// the member is then shut down and nothing about it stays registered.
func New(cfg Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	logger = logger.With("component", "membership")
	met, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	p := &Pool{
		cfg:     cfg,
		name:    cfg.Name(),
		logger:  logger,
		metrics: met,
		guard:   &mergeGuard{},
		serfCh:  make(chan serf.Event, cfg.EventBuffer),
		out:     make(chan Event, cfg.EventBuffer),
		done:    make(chan struct{}),
	}
	sc, err := p.serfConfig()
	if err != nil {
		return nil, err
	}
	s, err := serf.Create(sc)
	if err != nil {
		return nil, fmt.Errorf("membership: start gossip on %s: %w", cfg.BindAddr, err)
	}
	p.serf = s
	p.guard.serf.Store(s)
	p.wg.Add(1)
	go p.pump()
	if len(cfg.Join) > 0 {
		err := p.Join(cfg.Join)
		switch {
		case err == nil && cfg.RetryJoin > 0:
			p.startRetryJoin()
		case err == nil:
		case cfg.RetryJoin > 0 && !errors.Is(err, ErrDuplicateID):
			logger.Warn("joining the gossip pool failed, retrying", "join", cfg.Join, "every", cfg.RetryJoin, "err", err)
			p.startRetryJoin()
		default:
			_ = p.Shutdown()
			return nil, err
		}
	}
	logger.Info("gossip started", "name", p.name, "addr", p.LocalAddr(), "encrypted", len(cfg.Keys) > 0,
		"probe_interval", cfg.Timing.ProbeInterval, "suspicion_mult", cfg.Timing.SuspicionMult)
	return p, nil
}

func (p *Pool) serfConfig() (*serf.Config, error) {
	cfg := p.cfg
	sc := serf.DefaultConfig()
	sc.NodeName = p.name
	sc.Tags = map[string]string{TagRole: string(cfg.Role), TagID: cfg.ID}
	if cfg.APIAddr != "" {
		sc.Tags[TagAPIAddr] = cfg.APIAddr
	}
	if cfg.Rack != "" {
		sc.Tags[TagRack] = cfg.Rack
	}
	sc.EventCh = p.serfCh
	sc.BroadcastTimeout = 3 * time.Second
	sc.LeavePropagateDelay = 500 * time.Millisecond
	stdlog := log.New(logBridge{logger: p.logger}, "", 0)
	sc.Logger = stdlog
	mc := sc.MemberlistConfig
	mc.Logger = stdlog
	host, port, err := splitHostPort(cfg.BindAddr, DefaultGossipPort)
	if err != nil {
		return nil, fmt.Errorf("%w: bind address: %v", ErrInvalidConfig, err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertiseAddr, mc.AdvertisePort = "", port
	if cfg.AdvertiseAddr != "" {
		ah, ap, _ := splitHostPort(cfg.AdvertiseAddr, port)
		mc.AdvertiseAddr, mc.AdvertisePort = ah, ap
	}
	kr, err := newKeyring(cfg.Keys)
	if err != nil {
		return nil, err
	}
	mc.Keyring = kr
	cfg.Timing.apply(sc)
	mc.Merge = p.guard
	if cfg.transport != nil {
		nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{host}, BindPort: port, Logger: stdlog,
		})
		if err != nil {
			return nil, fmt.Errorf("membership: start transport: %w", err)
		}
		if port == 0 {
			mc.BindPort = nt.GetAutoBindPort()
			if cfg.AdvertiseAddr == "" {
				mc.AdvertisePort = mc.BindPort
			}
		}
		mc.Transport = cfg.transport(nt)
	}
	return sc, nil
}

// Join joins the pool through the given gossip addresses; it succeeds when
// at least one of them answered and accepted this member.
func (p *Pool) Join(addrs []string) error {
	before := p.guard.rejected.Load()
	n, err := p.serf.Join(addrs, true)
	if n > 0 {
		if err != nil {
			p.logger.Warn("joined the pool through some addresses only", "joined", n, "err", err)
		}
		return nil
	}
	p.metrics.joinErr.Inc()
	if err == nil {
		err = errors.New("no address answered")
	}
	if p.guard.rejected.Load() != before {
		if msg := p.guard.lastReject.Load(); msg != nil {
			return fmt.Errorf("membership: join %v as %s: %w: %s", addrs, p.name, ErrDuplicateID, *msg)
		}
		return fmt.Errorf("membership: join %v as %s: %w", addrs, p.name, ErrDuplicateID)
	}
	return fmt.Errorf("membership: join %v as %s (no member reachable, a gossip key that does not match, or this id alive elsewhere): %w", addrs, p.name, err)
}

// startRetryJoin starts the goroutine that rejoins through cfg.Join while no
// other member is alive; it ends with Shutdown.
func (p *Pool) startRetryJoin() {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(p.cfg.RetryJoin)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
			}
			if p.othersAlive() {
				continue
			}
			if err := p.Join(p.cfg.Join); err != nil {
				if errors.Is(err, ErrDuplicateID) {
					p.logger.Error("gossip join refused: this id is alive elsewhere", "err", err)
				} else {
					p.logger.Debug("retrying gossip join", "err", err)
				}
			}
		}
	}()
}

// othersAlive reports whether any member other than this one is alive.
func (p *Pool) othersAlive() bool {
	for _, m := range p.serf.Members() {
		if m.Name != p.name && m.Status == serf.StatusAlive {
			return true
		}
	}
	return false
}

// Name is the local member's gossip name.
func (p *Pool) Name() string { return p.name }

// LocalAddr is the gossip address others reach this member at (host:port);
// with BindAddr port 0 it names the port chosen.
func (p *Pool) LocalAddr() string {
	n := p.serf.Memberlist().LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// LocalMember is the local member.
func (p *Pool) LocalMember() Member { return memberFromSerf(p.serf.LocalMember()) }

// Members is a snapshot of every member this member knows, whatever its
// status (failed and left members stay listed until serf reaps them).
func (p *Pool) Members() []Member {
	sms := p.serf.Members()
	out := make([]Member, 0, len(sms))
	for _, sm := range sms {
		out = append(out, memberFromSerf(sm))
	}
	return out
}

// Events delivers membership changes in the order gossip produced them. The
// pump never blocks on it: when the channel is full an event is dropped and
// counted, so a consumer must also reconcile against Members periodically.
// The channel is closed once the pool is shut down.
func (p *Pool) Events() <-chan Event { return p.out }

// Leave announces a graceful departure (others see member-leave at once
// rather than member-failed after the detection time) and then shuts the
// member down.
func (p *Pool) Leave() error {
	err := p.serf.Leave()
	if serr := p.Shutdown(); err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("membership: leave: %w", err)
	}
	return nil
}

// Shutdown stops gossip without a leave announcement (others will detect a
// failure) and stops the pump. It is idempotent.
func (p *Pool) Shutdown() error {
	var err error
	p.closeOnce.Do(func() {
		err = p.serf.Shutdown()
		close(p.done)
		p.wg.Wait()
	})
	if err != nil {
		return fmt.Errorf("membership: shutdown: %w", err)
	}
	return nil
}

// pump owns serfCh (reader) and out (only sender).
func (p *Pool) pump() {
	defer p.wg.Done()
	defer close(p.out)
	for {
		select {
		case <-p.done:
			return
		case <-p.serf.ShutdownCh():
			// serf shut itself down (a lost name-conflict vote); keep
			// draining until Shutdown is called so serf never blocks.
			select {
			case <-p.done:
				return
			case e := <-p.serfCh:
				p.deliver(e)
			}
		case e := <-p.serfCh:
			p.deliver(e)
		}
	}
}

func (p *Pool) deliver(e serf.Event) {
	me, ok := e.(serf.MemberEvent)
	if !ok {
		return
	}
	t, ok := eventType(me.Type)
	if !ok {
		return
	}
	now := time.Now()
	for _, sm := range me.Members {
		ev := Event{Type: t, Member: memberFromSerf(sm), At: now}
		p.metrics.events.WithLabelValues(t.String()).Inc()
		p.logger.Debug("membership event", "type", t.String(), "member", ev.Member.Name, "addr", ev.Member.Addr)
		select {
		case p.out <- ev:
		default:
			p.metrics.dropped.Inc()
		}
	}
	p.updateGauge()
}

func (p *Pool) updateGauge() {
	p.metrics.members.Reset()
	for _, m := range p.Members() {
		p.metrics.members.WithLabelValues(string(m.Role), string(m.Status)).Inc()
	}
}
