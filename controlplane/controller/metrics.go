package controller

import "github.com/prometheus/client_golang/prometheus"

// metrics are the controller's Prometheus collectors, registered in its own
// registry (served at /metrics).
type metrics struct {
	active          prometheus.Gauge
	epoch           prometheus.Gauge
	leaseRenewals   *prometheus.CounterVec
	leadershipLost  *prometheus.CounterVec
	reconciles      *prometheus.CounterVec
	reconcileTime   prometheus.Histogram
	commands        *prometheus.CounterVec
	elections       *prometheus.CounterVec
	rejectedChanges prometheus.Counter
	offline         prometheus.Gauge
	fencedNodes     prometheus.Gauge
	gossipWakeups   prometheus.Counter
	adminRequests   *prometheus.CounterVec
	forwarded       prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "strand_controller_active",
			Help: "1 while this controller holds the lease and acts, else 0."}),
		epoch: prometheus.NewGauge(prometheus.GaugeOpts{Name: "strand_controller_epoch",
			Help: "The controller epoch this controller acts with (0 when standby)."}),
		leaseRenewals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strand_controller_lease_renewals_total",
			Help: "Lease renewals, by result (ok, error)."}, []string{"result"}),
		leadershipLost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strand_controller_leadership_lost_total",
			Help: "Times this controller stopped acting, by reason."}, []string{"reason"}),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strand_controller_reconciles_total",
			Help: "Reconcile passes of the leader loop, by trigger."}, []string{"trigger"}),
		reconcileTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "strand_controller_reconcile_seconds",
			Help:    "Time of one reconcile pass, computing and writing its plan.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strand_controller_commands_total",
			Help: "Commands proposed to strand-meta, by type and result."}, []string{"type", "result"}),
		elections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strand_controller_leader_changes_total",
			Help: "Partition leader changes decided, by kind (election, unclean, shutdown, rebalance)."}, []string{"kind"}),
		rejectedChanges: prometheus.NewCounter(prometheus.CounterOpts{Name: "strand_controller_rejected_changes_total",
			Help: "Partition changes strand-meta rejected (a concurrent change won; recomputed next pass)."}),
		offline: prometheus.NewGauge(prometheus.GaugeOpts{Name: "strand_controller_offline_partitions",
			Help: "Partitions without a leader at the last reconcile."}),
		fencedNodes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "strand_controller_fenced_nodes",
			Help: "Registered data nodes that are fenced, at the last reconcile."}),
		gossipWakeups: prometheus.NewCounter(prometheus.CounterOpts{Name: "strand_controller_gossip_events_total",
			Help: "Gossip membership events received."}),
		adminRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strand_controller_admin_requests_total",
			Help: "Admin API requests, by path and result code."}, []string{"path", "code"}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{Name: "strand_controller_forwarded_requests_total",
			Help: "Admin requests a standby forwarded to the active controller."}),
	}
	reg.MustRegister(m.active, m.epoch, m.leaseRenewals, m.leadershipLost, m.reconciles, m.reconcileTime,
		m.commands, m.elections, m.rejectedChanges, m.offline, m.fencedNodes, m.gossipWakeups, m.adminRequests, m.forwarded)
	return m
}
