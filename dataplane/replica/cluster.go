package replica

import (
	"errors"
	"slices"
	"sort"

	"strand.dev/client/topicconfig"
	"strand.dev/client/wire"
	"strand.dev/dataplane/clusteragent"
	"strand.dev/dataplane/fetcher"
	"strand.dev/dataplane/isr"
	"strand.dev/dataplane/partlog"
	"strand.dev/dataplane/replstream"
)

// Apply makes this node's replica of a partition match what the metadata
// image says (clusteragent.Replicas): lead it at the leader epoch, follow
// the leader, or hold it without a leader. Assignments of an older leader
// epoch than the one the replica is at are ignored.
func (m *Manager) Apply(a clusteragent.Assignment) error {
	if m.follower == nil || m.cluster == nil {
		return errors.New("replica: Apply on a manager without a fetcher and a cluster (Attach)")
	}
	cfg := m.topicConfig(a.Topic, a.Configs)
	p, err := m.open(a.Topic, a.Partition, cfg)
	if err != nil {
		return err
	}
	minISR := max(cfg.MinInsyncReplicas, 1)
	if a.Leader == m.nodeID {
		return p.becomeLeader(a, minISR)
	}
	p.becomeFollower(a, minISR)
	return nil
}

// topicConfig is a topic's configs applied over the node's defaults. A
// config that does not parse (an older strand-meta accepted configs the data
// nodes do not apply, such as compression.type=gzip) keeps the node's
// default and is named in a warning, once per topic, config and value; the
// topic's other configs apply.
func (m *Manager) topicConfig(topic string, kv map[string]string) partlog.Config {
	good, bad := topicconfig.Split(kv)
	keys := make([]string, 0, len(bad))
	for k := range bad {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, seen := m.badConfigs.LoadOrStore(topic+"\x00"+k+"\x00"+kv[k], struct{}{}); !seen {
			m.log.Warn("topic config not applied; the node's default applies", "topic", topic, "config", k, "value", kv[k], "err", bad[k])
		}
	}
	cfg, err := partlog.ParseConfig(m.opts.Defaults, good)
	if err != nil {
		// The table accepts what the log does not apply; partlog's tests
		// keep the two in step.
		m.log.Error("topic configs do not apply; the node's defaults apply", "topic", topic, "err", err)
		return m.opts.Defaults
	}
	return cfg
}

// becomeLeader makes the node lead the partition at a.LeaderEpoch, or
// updates the ISR and replicas of its current leadership.
func (p *Partition) becomeLeader(a clusteragent.Assignment, minISR int) error {
	p.mu.Lock()
	st := &p.state
	switch {
	case a.LeaderEpoch < st.leaderEpoch:
		p.mu.Unlock()
		return nil
	case st.leader && st.track != nil && a.LeaderEpoch == st.leaderEpoch:
		st.minISR = minISR
		if a.PartitionEpoch > st.partitionEpoch {
			st.partitionEpoch = a.PartitionEpoch
			st.replicas = slices.Clone(a.Replicas)
			st.track.SetReplicas(a.Replicas, p.m.now())
			st.track.SetISR(a.ISR)
		}
		p.mu.Unlock()
		p.maybeAdvanceHW()
		p.hwMoved.notify()
		return nil
	}
	p.mu.Unlock()

	// A new leadership: stop following, then take over the log.
	p.m.follower.Unfollow(p.topic, p.index)
	p.roleMu.Lock()
	leo := p.log.EndOffset()
	if err := p.log.AssignEpoch(a.LeaderEpoch, leo); err != nil {
		p.roleMu.Unlock()
		return err
	}
	p.mu.Lock()
	p.state = partitionState{
		leader: true, leaderID: p.m.nodeID, leaderEpoch: a.LeaderEpoch, partitionEpoch: a.PartitionEpoch,
		replicas: slices.Clone(a.Replicas), minISR: minISR,
		track: isr.New(p.m.nodeID, a.Replicas, a.ISR, leo, p.m.now(), p.m.opts.LagMax),
	}
	if hw := p.hw.Load(); hw > leo {
		p.hw.Store(leo)
	}
	p.mu.Unlock()
	p.roleMu.Unlock()
	p.m.log.Info("leading partition", "topic", p.topic, "partition", p.index, "leader_epoch", a.LeaderEpoch,
		"isr", a.ISR, "log_end_offset", leo, "high_watermark", p.hw.Load())
	p.m.metrics.leaderships.Inc()
	p.hwMoved.notify()
	p.notifySubs()
	p.maybeAdvanceHW()
	return nil
}

// becomeFollower makes the node follow a.Leader (or wait for a leader).
func (p *Partition) becomeFollower(a clusteragent.Assignment, minISR int) {
	p.mu.Lock()
	st := &p.state
	if a.LeaderEpoch < st.leaderEpoch {
		p.mu.Unlock()
		return
	}
	same := !st.leader && st.leaderEpoch == a.LeaderEpoch && st.leaderID == a.Leader && st.leaderAddr == a.LeaderAddr
	if same {
		st.minISR = minISR
		if a.PartitionEpoch > st.partitionEpoch {
			st.partitionEpoch = a.PartitionEpoch
			st.replicas = slices.Clone(a.Replicas)
			st.isr = slices.Clone(a.ISR)
		}
		p.mu.Unlock()
		return
	}
	wasLeader := st.leader
	p.mu.Unlock()

	// Wait for leader appends in flight, then turn follower.
	p.roleMu.Lock()
	p.mu.Lock()
	p.state = partitionState{
		leaderID: a.Leader, leaderAddr: a.LeaderAddr, leaderEpoch: a.LeaderEpoch, partitionEpoch: a.PartitionEpoch,
		replicas: slices.Clone(a.Replicas), isr: slices.Clone(a.ISR), minISR: minISR,
	}
	if hw := p.hw.Load(); hw > p.log.EndOffset() {
		p.hw.Store(p.log.EndOffset())
	}
	p.mu.Unlock()
	p.roleMu.Unlock()
	if wasLeader {
		p.m.log.Info("no longer leading partition", "topic", p.topic, "partition", p.index,
			"leader", a.Leader, "leader_epoch", a.LeaderEpoch)
	}
	p.hwMoved.notify()
	p.notifySubs()
	if a.Leader >= 0 && a.Leader != p.m.nodeID && a.LeaderAddr != "" {
		p.m.follower.Follow(p, p.topic, p.index, fetcher.Leader{ID: a.Leader, Addr: a.LeaderAddr}, a.LeaderEpoch)
	} else {
		p.m.follower.Unfollow(p.topic, p.index)
	}
}

// Local lists the partitions this node holds or has logs of
// (clusteragent.Replicas).
func (m *Manager) Local() []clusteragent.TopicPartition {
	seen := map[partitionKey]bool{}
	var out []clusteragent.TopicPartition
	for _, p := range m.Partitions() {
		seen[partitionKey{p.topic, p.index}] = true
		out = append(out, clusteragent.TopicPartition{Topic: p.topic, Partition: p.index})
	}
	for _, pl := range m.logs.All() {
		if !seen[partitionKey{pl.Topic, pl.Partition}] {
			out = append(out, clusteragent.TopicPartition{Topic: pl.Topic, Partition: pl.Partition})
		}
	}
	return out
}

// KnownReplica implements replstream.Source.
func (m *Manager) KnownReplica(id int32) bool {
	return m.cluster != nil && id != m.nodeID && m.cluster.KnownReplica(id)
}

// LeaderPartition implements replstream.Source.
func (m *Manager) LeaderPartition(topic string, partition int32) (replstream.LeaderPartition, error) {
	p, err := m.Partition(topic, partition)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// EpochEnds answers a follower's leader-epoch lookups
// (wire.PathReplicaEpochs).
func (m *Manager) EpochEnds(req wire.EpochEndRequest) wire.EpochEndResponse {
	out := wire.EpochEndResponse{Partitions: make([]wire.EpochEndPartition, 0, len(req.Partitions))}
	for _, q := range req.Partitions {
		a := wire.EpochEndPartition{Topic: q.Topic, Partition: q.Partition, Epoch: -1, EndOffset: -1, LogStartOffset: -1, LogEndOffset: -1}
		p, err := m.Partition(q.Topic, q.Partition)
		if err == nil {
			_, err = p.CheckFollower(req.ReplicaID, q.CurrentLeaderEpoch)
		}
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) {
				we = wire.Errorf(wire.CodeUnknown, "%v", err)
			}
			a.Error = we
		} else {
			a.Epoch, a.EndOffset = p.log.EndOffsetForEpoch(q.Epoch)
			a.LogStartOffset, a.LogEndOffset = p.log.StartOffset(), p.log.EndOffset()
		}
		out.Partitions = append(out.Partitions, a)
	}
	return out
}
