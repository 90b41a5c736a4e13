package raftnode

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the raft node's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	term          prometheus.Gauge
	isLeader      prometheus.Gauge
	commitIndex   prometheus.Gauge
	appliedIndex  prometheus.Gauge
	snapshotIndex prometheus.Gauge
	leaderChanges prometheus.Counter
	proposals     *prometheus.CounterVec
	readyEntries  prometheus.Histogram
	walSync       prometheus.Histogram
	apply         prometheus.Histogram
	snapshots     *prometheus.CounterVec
	snapshotTime  prometheus.Histogram
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	lat := prometheus.ExponentialBuckets(0.00005, 2, 18) // 50 µs .. 6.5 s
	m := &Metrics{
		term:          prometheus.NewGauge(prometheus.GaugeOpts{Name: "strand_meta_raft_term", Help: "Current raft term."}),
		isLeader:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "strand_meta_raft_is_leader", Help: "1 while this member is the raft leader."}),
		commitIndex:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "strand_meta_raft_commit_index", Help: "Raft commit index."}),
		appliedIndex:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "strand_meta_raft_applied_index", Help: "Last raft index applied."}),
		snapshotIndex: prometheus.NewGauge(prometheus.GaugeOpts{Name: "strand_meta_raft_snapshot_index", Help: "Index of the newest snapshot."}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{Name: "strand_meta_raft_leader_changes_total", Help: "Leader changes seen."}),
		proposals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strand_meta_raft_proposals_total", Help: "Proposals by outcome.",
		}, []string{"outcome"}),
		readyEntries: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "strand_meta_raft_ready_entries", Help: "Entries persisted per raft Ready (batching).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		walSync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "strand_meta_wal_fsync_seconds", Help: "Duration of one WAL fdatasync.", Buckets: lat,
		}),
		apply: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "strand_meta_apply_seconds", Help: "Duration of applying one Ready's committed entries.", Buckets: lat,
		}),
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strand_meta_snapshots_total", Help: "Snapshots taken locally or received from the leader.",
		}, []string{"kind"}),
		snapshotTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "strand_meta_snapshot_seconds", Help: "Duration of taking and saving a snapshot.", Buckets: lat,
		}),
	}
	reg.MustRegister(m.term, m.isLeader, m.commitIndex, m.appliedIndex, m.snapshotIndex, m.leaderChanges,
		m.proposals, m.readyEntries, m.walSync, m.apply, m.snapshots, m.snapshotTime)
	return m
}

func (m *Metrics) observeWALSync(d time.Duration) {
	if m != nil {
		m.walSync.Observe(d.Seconds())
	}
}

func (m *Metrics) proposal(outcome string) {
	if m != nil {
		m.proposals.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) ready(entries int, term, commit uint64) {
	if m != nil {
		if entries > 0 {
			m.readyEntries.Observe(float64(entries))
		}
		m.term.Set(float64(term))
		m.commitIndex.Set(float64(commit))
	}
}

func (m *Metrics) applied(index uint64, d time.Duration) {
	if m != nil {
		m.appliedIndex.Set(float64(index))
		m.apply.Observe(d.Seconds())
	}
}

func (m *Metrics) leader(is bool) {
	if m != nil {
		m.leaderChanges.Inc()
		if is {
			m.isLeader.Set(1)
		} else {
			m.isLeader.Set(0)
		}
	}
}

func (m *Metrics) snapshot(kind string, index uint64, d time.Duration) {
	if m != nil {
		m.snapshots.WithLabelValues(kind).Inc()
		m.snapshotIndex.Set(float64(index))
		if kind == "local" {
			m.snapshotTime.Observe(d.Seconds())
		}
	}
}
