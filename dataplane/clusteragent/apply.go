package clusteragent

import (
	"context"
	"sort"
)

// reconcile makes the replica layer match the newest image: partitions
// this node no longer replicates (deleted topics, moved replicas, topics
// created again under a new id) are deleted once a linearizable read
// confirms it, and every assignment that changed is applied. Images older
// than the node's registration are ignored: they may still name this node
// as the leader of partitions its previous incarnation led.
func (a *Agent) reconcile(ctx context.Context) {
	img := a.img.Load()
	if img == nil || !a.registered.Load() || img.Version < a.minVersion.Load() {
		return
	}
	want := assignments(img, a.cfg.NodeID)

	// What the node holds that the image does not ask for, or holds for an
	// older topic of the same name.
	held := map[TopicPartition]bool{}
	for _, tp := range a.rep.Local() {
		held[tp] = true
	}
	for tp := range a.done {
		held[tp] = true
	}
	var stale []TopicPartition
	renamed := map[string]bool{} // topics created again under a new id
	for tp := range held {
		w, ok := want[tp]
		if !ok {
			stale = append(stale, tp)
			continue
		}
		if id, known := a.ids.get(tp.Topic); known && id != w.TopicID {
			stale = append(stale, tp)
			renamed[tp.Topic] = true
		}
	}
	blocked := map[string]bool{} // new topics whose predecessor's data is still there
	complete := true
	if len(stale) > 0 {
		sort.Slice(stale, func(i, j int) bool {
			if stale[i].Topic != stale[j].Topic {
				return stale[i].Topic < stale[j].Topic
			}
			return stale[i].Partition < stale[j].Partition
		})
		for _, tp := range a.removeConfirmed(ctx, stale) {
			complete = false
			if renamed[tp.Topic] {
				blocked[tp.Topic] = true
			}
		}
	}

	// Record the ids of the topics about to be applied before their logs
	// exist, so a crash cannot leave data of an unknown topic id.
	for _, w := range want {
		if !blocked[w.Topic] {
			a.ids.set(w.Topic, w.TopicID)
		}
	}
	live := map[string]bool{}
	for tp := range want {
		live[tp.Topic] = true
	}
	for _, tp := range a.rep.Local() {
		live[tp.Topic] = true
	}
	for topic := range a.ids.ids {
		if !live[topic] {
			a.ids.drop(topic)
		}
	}
	if err := a.ids.save(); err != nil {
		a.log.Error("cannot record topic ids; not applying the image", "version", img.Version, "err", err)
		a.m.applyErrors.Inc()
		return
	}

	keys := make([]TopicPartition, 0, len(want))
	for tp := range want {
		keys = append(keys, tp)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Topic != keys[j].Topic {
			return keys[i].Topic < keys[j].Topic
		}
		return keys[i].Partition < keys[j].Partition
	})
	for _, tp := range keys {
		w := want[tp]
		if blocked[tp.Topic] {
			continue
		}
		if d, ok := a.done[tp]; ok && d.same(&w) && a.failing[tp] == nil {
			continue
		}
		if err := a.rep.Apply(w); err != nil {
			if a.failing[tp] == nil {
				a.log.Warn("cannot apply the assignment; will retry", "topic", tp.Topic, "partition", tp.Partition,
					"leader", w.Leader, "leader_epoch", w.LeaderEpoch, "err", err)
			}
			a.failing[tp] = err
			a.m.applyErrors.Inc()
			complete = false
			continue
		}
		delete(a.failing, tp)
		a.done[tp] = w
		a.m.applied.Inc()
	}
	for tp := range a.failing {
		if _, ok := want[tp]; !ok {
			delete(a.failing, tp)
		}
	}
	a.mu.Lock()
	a.status.Assignments = len(a.done)
	a.status.Failing = len(a.failing)
	a.mu.Unlock()
	if complete && len(a.failing) == 0 && img.Version > a.applied.Load() {
		a.setApplied(img.Version)
	}
}

// removeConfirmed deletes the stale partitions that a linearizable read of
// the image confirms this node no longer replicates (the watched image may
// come from a lagging strand-meta node, and a topic created a moment ago
// must not lose its data to it). It returns the partitions it could not
// delete.
func (a *Agent) removeConfirmed(ctx context.Context, stale []TopicPartition) []TopicPartition {
	cctx, cancel := context.WithTimeout(ctx, a.cfg.MetaTimeout)
	img, err := a.meta.Image(cctx, false)
	cancel()
	if err != nil {
		a.log.Debug("cannot confirm deletions; will retry", "partitions", len(stale), "err", err)
		return stale
	}
	want := assignments(img, a.cfg.NodeID)
	var left []TopicPartition
	for _, tp := range stale {
		if w, ok := want[tp]; ok {
			id, known := a.ids.get(tp.Topic)
			if !known || id == w.TopicID {
				continue // still ours: the watched image was behind
			}
		}
		if err := a.rep.Remove(tp.Topic, tp.Partition); err != nil {
			a.log.Error("cannot delete a partition this node no longer replicates", "topic", tp.Topic,
				"partition", tp.Partition, "err", err)
			left = append(left, tp)
			continue
		}
		delete(a.done, tp)
		delete(a.failing, tp)
		a.m.removed.Inc()
		a.log.Info("deleted partition replica", "topic", tp.Topic, "partition", tp.Partition, "version", img.Version)
	}
	return left
}
