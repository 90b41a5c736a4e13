package server

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
	"strand.dev/coordinator/group"
	"strand.dev/coordinator/offsets"
)

// partitionState is where an offsets partition is in its life here.
type partitionState int

const (
	stateLoading partitionState = iota
	stateServing
	stateStopped
)

func (s partitionState) String() string {
	switch s {
	case stateLoading:
		return "loading"
	case stateServing:
		return "serving"
	}
	return "stopped"
}

// partition is one offsets partition held by this coordinator. Its loader
// goroutine rebuilds it; its writer goroutine writes to it; both end with
// cancel. stop is closed when the partition stops being served.
type partition struct {
	s          *Server
	id         int32
	serveAfter time.Time
	cancel     context.CancelFunc
	stop       chan struct{}
	stopOnce   sync.Once

	// mu guards the fields below.
	mu    sync.Mutex
	state partitionState
	epoch int64 // ownership epoch; set at Gained (cluster) or after replay (standalone)
	// ws are the partition's writers, set before the partition serves and
	// not changed after. A group's records always go through the same
	// writer (writerFor), so they reach the log in submission order;
	// different groups' records may interleave, which changes nothing.
	ws     []*writer
	groups map[string]*groupEntry
}

// writerFor is the writer of a group's records. Only called on a serving
// partition (ws is set before the state becomes serving, under mu).
func (pt *partition) writerFor(groupID string) *writer {
	h := fnv.New32a()
	_, _ = h.Write([]byte(groupID))
	return pt.ws[h.Sum32()%uint32(len(pt.ws))]
}

// halt stops serving: handlers waiting on it answer NOT_COORDINATOR.
func (pt *partition) halt() {
	pt.stopOnce.Do(func() {
		pt.mu.Lock()
		pt.state = stateStopped
		pt.mu.Unlock()
		close(pt.stop)
		pt.cancel()
	})
}

// entry returns a group's entry, creating an empty group when create is set.
func (pt *partition) entry(id string, create bool) *groupEntry {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	e := pt.groups[id]
	if e == nil && create {
		now := pt.s.cfg.Now()
		g := group.New(id, pt.s.cfg.Group, now)
		g.UpdateTopics(now, pt.s.view.Counts())
		e = newEntry(g, nil)
		e.durable = g.Version() // nothing to persist yet
		pt.groups[id] = e
	}
	return e
}

// entries lists the group entries.
func (pt *partition) entries() []*groupEntry {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	out := make([]*groupEntry, 0, len(pt.groups))
	for _, e := range pt.groups {
		out = append(out, e)
	}
	return out
}

// load rebuilds the partition and starts serving it: read what is there
// (during the previous owner's lease), then write an ownership marker and
// read up to it, so that everything the previous owner acknowledged is in,
// and anything it writes later is ignored by its older epoch.
func (pt *partition) load(ctx context.Context) {
	s := pt.s
	start := time.Now()
	log := s.log.With("partition", pt.id)
	err := func() error {
		if err := s.ensureTopic(ctx); err != nil {
			return err
		}
		st := offsets.NewState()
		if err := pt.readTo(ctx, st); err != nil {
			return fmt.Errorf("read before the lease wait: %w", err)
		}
		if d := time.Until(pt.serveAfter); d > 0 {
			log.Info("waiting out the previous owner's lease", "wait", d)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		pt.mu.Lock()
		if s.cfg.Standalone {
			pt.epoch = max(st.Epoch+1, 1)
		}
		epoch := pt.epoch
		pt.ws = make([]*writer, s.cfg.WritersPerPartition)
		for i := range pt.ws {
			pt.ws[i] = newWriter(s, pt.id, epoch)
			go pt.ws[i].run(ctx)
		}
		pt.mu.Unlock()
		marker := newWrite([]recordbatch.Record{{
			Key:   offsets.OwnerKey().Encode(),
			Value: offsets.OwnerValue{Coordinator: s.cfg.ID, Epoch: epoch, TimestampMs: s.cfg.Now().UnixMilli()}.Encode(),
		}})
		if err := pt.ws[0].submit(ctx, pt.stop, marker); err != nil {
			return err
		}
		if err := marker.wait(ctx); err != nil {
			return fmt.Errorf("write the ownership marker: %w", err)
		}
		if err := pt.readTo(ctx, st); err != nil {
			return fmt.Errorf("read up to the marker: %w", err)
		}
		s.met.loadRecords.Add(float64(st.Applied))
		s.met.staleRecords.Add(float64(st.Skipped))
		s.met.corruptRecords.Add(float64(st.Corrupt))
		if st.Corrupt > 0 {
			log.Warn("ignored undecodable records", "count", st.Corrupt)
		}
		now := s.cfg.Now()
		counts := s.view.Counts()
		groups := make(map[string]*groupEntry, len(st.Groups))
		for id, gs := range st.Groups {
			var g *group.Group
			if gs.Snapshot != nil {
				g = group.Restore(*gs.Snapshot, s.cfg.Group, now)
			} else {
				g = group.New(id, s.cfg.Group, now)
				g.UpdateTopics(now, counts)
			}
			e := newEntry(g, gs.Offsets)
			e.durable = g.Version()
			e.persisted = gs.Snapshot != nil
			groups[id] = e
		}
		pt.mu.Lock()
		defer pt.mu.Unlock()
		if pt.state != stateLoading {
			return errors.New("stopped while loading")
		}
		pt.groups = groups
		pt.state = stateServing
		log.Info("serving offsets partition", "epoch", epoch, "groups", len(groups), "records", st.Applied,
			"stale", st.Skipped, "took", time.Since(start).Round(time.Millisecond))
		return nil
	}()
	if err != nil {
		if ctx.Err() == nil {
			log.Error("loading the offsets partition failed; it will be retried", "err", err)
			s.retryLoad(pt)
		}
		return
	}
	s.met.loadSeconds.Observe(time.Since(start).Seconds())
	// Bring the restored groups up to date with the topics.
	for _, e := range pt.entries() {
		e.mu.Lock()
		if e.g.UpdateTopics(s.cfg.Now(), s.view.Counts()) {
			s.met.rebalances.Inc()
		}
		s.persistLocked(pt, e)
		e.notifyLocked()
		e.mu.Unlock()
	}
	s.updateGauges()
}

// readTo replays the partition into st up to its high watermark at the time
// of the last fetch.
func (pt *partition) readTo(ctx context.Context, st *offsets.State) error {
	s := pt.s
	for {
		res, err := s.lc.Fetch(ctx, wire.OffsetsTopic, pt.id, st.NextOffset, s.cfg.LoadFetchBytes, 0)
		if errors.Is(err, wire.ErrOffsetOutOfRange) {
			// Retention or compaction removed the beginning: start at the
			// log start.
			start, lerr := s.lc.ListOffset(ctx, wire.OffsetsTopic, pt.id, wire.AtEarliest)
			if lerr != nil {
				return lerr
			}
			if start <= st.NextOffset {
				return err
			}
			st.NextOffset = start
			continue
		}
		if err != nil {
			return err
		}
		if len(res.Batches) > 0 {
			if _, err := st.ApplyBatches(res.Batches, 4*s.cfg.LoadFetchBytes+(64<<20)); err != nil {
				return err
			}
		}
		if st.NextOffset >= res.HighWatermark {
			return nil
		}
		if len(res.Batches) == 0 {
			return fmt.Errorf("fetch at %d below the high watermark %d returned nothing", st.NextOffset, res.HighWatermark)
		}
	}
}
