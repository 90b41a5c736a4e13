package server

import (
	"context"
	"time"

	"strand.dev/coordinator/group"
)

// tickLoop expels members whose session or poll interval ran out, and
// expires offsets of empty groups.
func (s *Server) tickLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.TickInterval)
	defer t.Stop()
	lastRetention := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.cfg.Now()
		retention := time.Since(lastRetention) >= s.cfg.RetentionCheckInterval
		if retention {
			lastRetention = time.Now()
		}
		for _, pt := range s.serving() {
			for _, e := range pt.entries() {
				s.tickGroup(pt, e, now, retention)
			}
		}
		if retention {
			s.updateGauges()
		}
	}
}

// tickGroup runs one group's timers.
func (s *Server) tickGroup(pt *partition, e *groupEntry, now time.Time, retention bool) {
	e.mu.Lock()
	exps := e.g.Tick(now)
	for _, x := range exps {
		s.met.expirations.WithLabelValues(x.Reason).Inc()
		s.met.rebalances.Inc()
		s.log.Info("member expelled", "group", e.g.ID(), "member", x.MemberID, "instance", x.InstanceID, "reason", x.Reason)
	}
	if len(exps) > 0 {
		s.persistLocked(pt, e)
		e.notifyLocked()
	}
	if !retention {
		e.mu.Unlock()
		if len(exps) > 0 {
			s.updateGauges()
		}
		return
	}
	expired := s.expiredLocked(e, now)
	if len(expired) > 0 || (e.g.Empty() && len(e.offsets) == 0) {
		w, n := s.tombstonesLocked(pt, e, expired)
		s.met.offsetsExpired.Add(float64(n))
		if n > 0 {
			s.log.Info("expired committed offsets", "group", e.g.ID(), "offsets", n)
		}
		version, seq := e.g.Version(), e.seq
		e.mu.Unlock()
		go func() {
			if w.wait(s.stopCtx) == nil {
				s.forgetIfUnchanged(pt, e, version, seq)
			}
		}()
		return
	}
	e.mu.Unlock()
}

// expiredLocked lists the offsets past offsets.retention.minutes: for an
// empty group, counted from the later of the commit and the group becoming
// empty; for a group with members, only offsets of topics no member
// subscribes to, counted from the commit.
func (s *Server) expiredLocked(e *groupEntry, now time.Time) []group.TopicPartition {
	var out []group.TopicPartition
	empty := e.g.Empty()
	emptySince := e.g.EmptySince().UnixMilli()
	limit := now.Add(-s.cfg.OffsetsRetention).UnixMilli()
	for tp, c := range e.offsets {
		base := c.CommitTimestampMs
		switch {
		case empty:
			base = max(base, emptySince)
		case e.g.Subscribed(tp.Topic):
			continue
		}
		if base <= limit {
			out = append(out, tp)
		}
	}
	return out
}
