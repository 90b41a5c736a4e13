package replica

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"strand.dev/client/wire"
)

// runCtxHolder holds the context of Run, for the ISR changes it starts;
// nil before Run.
type runCtxHolder struct {
	ctx atomic.Pointer[context.Context]
}

// Run drives the leaders' ISR changes until ctx ends: every
// ISRCheckInterval it looks for followers to drop from an ISR (behind and
// not caught up for LagMax) or to add (caught up), and proposes each change
// to the control plane with the partition epoch it knows (on a cluster
// node, see Attach). On every node it also writes the idempotent-producer
// snapshots every SnapshotInterval.
func (m *Manager) Run(ctx context.Context) {
	m.runCtx.ctx.Store(&ctx)
	t := time.NewTicker(m.opts.ISRCheckInterval)
	defer t.Stop()
	snap := time.NewTicker(m.opts.SnapshotInterval)
	defer snap.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-snap.C:
			for _, p := range m.Partitions() {
				if err := p.snapshotProducers(false); err != nil {
					m.log.Warn("cannot write a producer snapshot", "err", err)
				}
			}
			continue
		case <-t.C:
		}
		if m.cluster == nil {
			continue
		}
		for _, p := range m.Partitions() {
			if p.isrChangeDue() {
				m.isrWork(p)
			}
		}
	}
}

// isrChangeDue reports whether a leader has followers to drop or add.
func (p *Partition) isrChangeDue() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := &p.state
	if !st.leader || st.track == nil || st.track.Pending() != nil {
		return false
	}
	return len(st.track.OutOfSync(p.log.EndOffset(), p.m.now())) > 0 || len(st.track.CaughtUp(p.hw.Load())) > 0
}

// isrWork starts an ISR change of p unless one is running (or Run is not).
func (m *Manager) isrWork(p *Partition) {
	ctxp := m.runCtx.ctx.Load()
	if ctxp == nil || m.cluster == nil || !p.isrBusy.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer p.isrBusy.Store(false)
		select {
		case m.isrSem <- struct{}{}:
		case <-(*ctxp).Done():
			return
		}
		defer func() { <-m.isrSem }()
		p.changeISR(*ctxp)
	}()
}

// changeISR proposes one ISR change of a leader: out-of-sync followers
// leave, caught-up ones join. While it is in flight the high watermark
// counts the joining replicas and still the leaving ones.
func (p *Partition) changeISR(ctx context.Context) {
	p.mu.Lock()
	st := &p.state
	if !st.leader || st.track == nil || st.track.Pending() != nil {
		p.mu.Unlock()
		return
	}
	leo := p.log.EndOffset()
	out := st.track.OutOfSync(leo, p.m.now())
	in := st.track.CaughtUp(p.hw.Load())
	if len(out) == 0 && len(in) == 0 {
		p.mu.Unlock()
		return
	}
	next := slices.DeleteFunc(st.track.With(in), func(r int32) bool { return slices.Contains(out, r) })
	prev := st.track.ISR()
	st.track.Propose(next)
	epoch, pepoch := st.leaderEpoch, st.partitionEpoch
	cmd := wire.AlterISRCmd{Topic: p.topic, Partition: p.index, LeaderID: p.m.nodeID, LeaderEpoch: epoch,
		ExpectedPartitionEpoch: pepoch, ISR: next}
	p.mu.Unlock()

	_, err := p.m.cluster.AlterISR(ctx, cmd)

	p.mu.Lock()
	same := st.leader && st.leaderEpoch == epoch && st.track != nil
	switch {
	case !same:
	case err == nil && st.partitionEpoch == pepoch:
		st.track.SetISR(next)
		st.partitionEpoch = pepoch + 1
	case err != nil && slices.Equal(st.track.Pending(), next):
		st.track.Abandon()
	}
	p.mu.Unlock()
	lg := p.m.log.With("topic", p.topic, "partition", p.index, "leader_epoch", epoch, "from", prev, "to", next)
	switch {
	case err == nil:
		if len(out) > 0 {
			p.m.metrics.isrShrinks.Inc()
		}
		if len(in) > 0 {
			p.m.metrics.isrExpands.Inc()
		}
		lg.Info("isr changed", "dropped", out, "added", in)
	case errors.Is(err, &wire.Error{Code: wire.CodeInvalidUpdateVersion}):
		p.m.metrics.isrFailures.Inc()
		lg.Debug("isr change lost a race with the metadata; retrying with the newer image", "err", err)
	default:
		p.m.metrics.isrFailures.Inc()
		lg.Warn("isr change failed", "err", err)
	}
	p.maybeAdvanceHW()
	p.hwMoved.notify()
}
