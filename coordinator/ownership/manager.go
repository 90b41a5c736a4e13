package ownership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"strand.dev/client/wire"
)

// Meta is the part of strand-meta's client the manager uses
// (*metaclient.Client implements it).
type Meta interface {
	// Image reads the image; stale=false must be a linearizable read.
	Image(ctx context.Context, stale bool) (*wire.Image, error)
	// Propose applies a command.
	Propose(ctx context.Context, cmd *wire.Command) (*wire.ProposeResponse, error)
}

// Listener hears about gained and lost partitions. Calls come from the
// manager's goroutine, one at a time; they must not block for long.
type Listener interface {
	// Gained: the partition is claimed at epoch; it may be served from
	// serveAfter on (the previous owner's lease has run out by then).
	Gained(p int32, epoch int64, serveAfter time.Time)
	// Lost: stop serving the partition at once.
	Lost(p int32, epoch int64)
}

// Config configures a Manager.
type Config struct {
	// ID and Addr are this coordinator's id and API address.
	ID, Addr string
	// Partitions returns the number of offsets partitions.
	Partitions func() int32
	// Lease is how long a confirmation of ownership is good for (default
	// 2 s); Renew how often it is confirmed (default Lease/4).
	Lease, Renew time.Duration
	// Meta is strand-meta's client. Required.
	Meta Meta
	// Peers returns the live coordinators; self is added when missing.
	// Nil means self alone.
	Peers func() []Peer
	// Listener hears gains and losses. Required.
	Listener Listener
	// Now is the clock (default time.Now, whose readings are monotonic).
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
	// OnStep, when set, is called after each reconcile with its error (for
	// metrics).
	OnStep func(err error)
}

// held is one partition this coordinator holds.
type held struct {
	epoch      int64
	validUntil time.Time
}

// Manager keeps this coordinator's offsets partitions. Run owns the loop;
// Valid and Held may be called from any goroutine.
type Manager struct {
	cfg  Config
	log  *slog.Logger
	poke chan struct{}

	// mu guards held; it is never held while calling Meta or the Listener.
	mu   sync.Mutex
	held map[int32]held
}

// New returns a Manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Meta == nil || cfg.Listener == nil || cfg.Partitions == nil || cfg.ID == "" || cfg.Addr == "" {
		return nil, errors.New("ownership: ID, Addr, Partitions, Meta and Listener are required")
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Second
	}
	if cfg.Renew <= 0 {
		cfg.Renew = cfg.Lease / 4
	}
	if cfg.Renew >= cfg.Lease {
		return nil, fmt.Errorf("ownership: renew interval %v must be below the lease %v", cfg.Renew, cfg.Lease)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, log: log.With("component", "ownership"), poke: make(chan struct{}, 1), held: map[int32]held{}}, nil
}

// Valid returns the epoch of partition p if this coordinator holds it and
// its lease has not run out.
func (m *Manager) Valid(p int32) (int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.held[p]
	if !ok || !m.cfg.Now().Before(h.validUntil) {
		return 0, false
	}
	return h.epoch, true
}

// Held lists the partitions held (valid or not), for status.
func (m *Manager) Held() map[int32]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int32]int64, len(m.held))
	for p, h := range m.held {
		out[p] = h.epoch
	}
	return out
}

// Poke asks for a reconcile now (for example on a gossip event).
func (m *Manager) Poke() {
	select {
	case m.poke <- struct{}{}:
	default:
	}
}

// Run reconciles every Renew (and when poked) until ctx ends. It does not
// release on return: call ReleaseAll for a graceful stop.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.Renew)
	defer t.Stop()
	for {
		err := m.Step(ctx)
		if err != nil && ctx.Err() == nil {
			m.log.Warn("ownership reconcile failed", "err", err)
		}
		if m.cfg.OnStep != nil {
			m.cfg.OnStep(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-m.poke:
		}
	}
}

// peers returns the live coordinators with self included.
func (m *Manager) peers() []Peer {
	var ps []Peer
	if m.cfg.Peers != nil {
		ps = m.cfg.Peers()
	}
	for _, p := range ps {
		if p.ID == m.cfg.ID {
			return ps
		}
	}
	return append(ps, Peer{ID: m.cfg.ID, Addr: m.cfg.Addr})
}

// Step is one reconcile: renew the leases from a linearizable read, drop
// what was lost, release what should move, claim what should come here.
func (m *Manager) Step(ctx context.Context) error {
	start := m.cfg.Now()
	readCtx, cancel := context.WithTimeout(ctx, m.cfg.Lease)
	img, err := m.cfg.Meta.Image(readCtx, false)
	cancel()
	if err != nil {
		m.expire()
		return fmt.Errorf("ownership: read the image: %w", err)
	}
	m.renew(img, start)
	n := m.cfg.Partitions()
	actions := Plan(m.cfg.ID, n, img.OffsetsOwners, m.peers())
	// A partition the image gives to this id that this process does not
	// hold (a restart under the same id): claim it again, waiting out the
	// previous incarnation's lease.
	m.mu.Lock()
	for p, o := range img.OffsetsOwners {
		if p >= n || o.Coordinator != m.cfg.ID {
			continue
		}
		if _, ok := m.held[p]; ok {
			continue
		}
		if want, ok := Desired(m.peers(), p); ok && want.ID == m.cfg.ID {
			actions = append(actions, Action{Type: Claim, Partition: p, Epoch: o.Epoch, Wait: true})
		}
	}
	m.mu.Unlock()
	var errs []error
	for _, a := range actions {
		switch a.Type {
		case Release:
			errs = append(errs, m.release(ctx, a.Partition, a.Epoch, "moves to "+a.To))
		case Claim:
			errs = append(errs, m.claim(ctx, a))
		}
	}
	return errors.Join(errs...)
}

// renew extends the leases the image confirms and drops the others.
func (m *Manager) renew(img *wire.Image, start time.Time) {
	var lost []struct {
		p     int32
		epoch int64
	}
	m.mu.Lock()
	for p, h := range m.held {
		o := img.OffsetsOwners[p]
		if o != nil && o.Coordinator == m.cfg.ID && o.Epoch == h.epoch {
			h.validUntil = start.Add(m.cfg.Lease)
			m.held[p] = h
			continue
		}
		delete(m.held, p)
		lost = append(lost, struct {
			p     int32
			epoch int64
		}{p, h.epoch})
	}
	m.mu.Unlock()
	for _, l := range lost {
		m.log.Warn("lost an offsets partition", "partition", l.p, "epoch", l.epoch)
		m.cfg.Listener.Lost(l.p, l.epoch)
	}
}

// expire drops partitions whose lease ran out (strand-meta unreachable).
func (m *Manager) expire() {
	now := m.cfg.Now()
	var lost []int32
	var epochs []int64
	m.mu.Lock()
	for p, h := range m.held {
		if !now.Before(h.validUntil) {
			delete(m.held, p)
			lost = append(lost, p)
			epochs = append(epochs, h.epoch)
		}
	}
	m.mu.Unlock()
	for i, p := range lost {
		m.log.Warn("offsets partition lease ran out", "partition", p)
		m.cfg.Listener.Lost(p, epochs[i])
	}
}

func (m *Manager) claim(ctx context.Context, a Action) error {
	sent := m.cfg.Now()
	resp, err := m.cfg.Meta.Propose(ctx, &wire.Command{Type: wire.CmdClaimOffsetsOwner, ClaimOffsetsOwner: &wire.ClaimOffsetsOwnerCmd{
		Partition: a.Partition, Coordinator: m.cfg.ID, Addr: m.cfg.Addr, ExpectedEpoch: a.Epoch,
	}})
	if err != nil {
		// A lost race (INVALID_UPDATE_VERSION) is settled at the next step.
		return fmt.Errorf("claim offsets partition %d at epoch %d: %w", a.Partition, a.Epoch, err)
	}
	serveAfter := m.cfg.Now()
	if a.Wait {
		serveAfter = serveAfter.Add(m.cfg.Lease)
	}
	m.mu.Lock()
	m.held[a.Partition] = held{epoch: resp.Epoch, validUntil: sent.Add(m.cfg.Lease)}
	m.mu.Unlock()
	m.log.Info("claimed an offsets partition", "partition", a.Partition, "epoch", resp.Epoch, "wait", a.Wait)
	m.cfg.Listener.Gained(a.Partition, resp.Epoch, serveAfter)
	return nil
}

// release stops serving p and gives it up in strand-meta.
func (m *Manager) release(ctx context.Context, p int32, epoch int64, why string) error {
	m.mu.Lock()
	h, ok := m.held[p]
	delete(m.held, p)
	m.mu.Unlock()
	if ok {
		epoch = h.epoch
		m.cfg.Listener.Lost(p, epoch)
	}
	_, err := m.cfg.Meta.Propose(ctx, &wire.Command{Type: wire.CmdReleaseOffsetsOwner, ReleaseOffsetsOwner: &wire.ReleaseOffsetsOwnerCmd{
		Partition: p, Coordinator: m.cfg.ID, Epoch: epoch,
	}})
	if err != nil {
		return fmt.Errorf("release offsets partition %d at epoch %d: %w", p, epoch, err)
	}
	m.log.Info("released an offsets partition", "partition", p, "epoch", epoch, "why", why)
	return nil
}

// ReleaseAll stops serving every partition and releases them (graceful
// shutdown), so that other coordinators take over without waiting a lease.
func (m *Manager) ReleaseAll(ctx context.Context) error {
	m.mu.Lock()
	ps := make(map[int32]int64, len(m.held))
	for p, h := range m.held {
		ps[p] = h.epoch
	}
	m.mu.Unlock()
	var errs []error
	for p, e := range ps {
		errs = append(errs, m.release(ctx, p, e, "shutting down"))
	}
	return errors.Join(errs...)
}
