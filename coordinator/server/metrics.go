package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the coordinator's Prometheus metrics.
type metrics struct {
	requests        *prometheus.CounterVec   // by path and code
	requestSeconds  *prometheus.HistogramVec // by path
	commits         prometheus.Counter       // partition offsets committed
	writes          prometheus.Counter       // produces to __consumer_offsets
	writeRecords    prometheus.Histogram     // records per produce
	writeSeconds    prometheus.Histogram
	writeErrors     prometheus.Counter
	rebalances      prometheus.Counter
	expirations     *prometheus.CounterVec // members expelled, by reason
	offsetsExpired  prometheus.Counter
	groups          prometheus.Gauge
	members         prometheus.Gauge
	partitions      *prometheus.GaugeVec // offsets partitions by state
	loadSeconds     prometheus.Histogram
	loadRecords     prometheus.Counter
	staleRecords    prometheus.Counter // replayed records of a deposed owner, ignored
	corruptRecords  prometheus.Counter
	ownershipErrors prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strand_coordinator_requests_total",
			Help: "Group API requests answered, by path and wire code (ok for success)."}, []string{"path", "code"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "strand_coordinator_request_seconds",
			Help: "Group API request latency (long-poll heartbeats included).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"path"}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{Name: "strand_coordinator_offsets_committed_total",
			Help: "Partition offsets committed durably."}),
		writes: prometheus.NewCounter(prometheus.CounterOpts{Name: "strand_coordinator_offsets_writes_total",
			Help: "Produce requests to __consumer_offsets."}),
		writeRecords: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "strand_coordinator_offsets_write_records",
			Help: "Records per produce to __consumer_offsets.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "strand_coordinator_offsets_write_seconds",
			Help: "Latency of acks=all produces to __consumer_offsets.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "strand_coordinator_offsets_write_errors_total",
			Help: "Failed produces to __consumer_offsets."}),
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{Name: "strand_coordinator_generations_total",
			Help: "Group generations started (rebalances)."}),
		expirations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strand_coordinator_members_expelled_total",
			Help: "Members expelled, by reason."}, []string{"reason"}),
		offsetsExpired: prometheus.NewCounter(prometheus.CounterOpts{Name: "strand_coordinator_offsets_expired_total",
			Help: "Committed offsets removed by offsets.retention.minutes."}),
		groups: prometheus.NewGauge(prometheus.GaugeOpts{Name: "strand_coordinator_groups",
			Help: "Groups held by this coordinator."}),
		members: prometheus.NewGauge(prometheus.GaugeOpts{Name: "strand_coordinator_members",
			Help: "Members of the groups held by this coordinator."}),
		partitions: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "strand_coordinator_offsets_partitions",
			Help: "Offsets partitions held, by state (loading, serving)."}, []string{"state"}),
		loadSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "strand_coordinator_load_seconds",
			Help: "Time to rebuild an offsets partition (lease wait included).", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}),
		loadRecords: prometheus.NewCounter(prometheus.CounterOpts{Name: "strand_coordinator_load_records_total",
			Help: "Records replayed while rebuilding offsets partitions."}),
		staleRecords: prometheus.NewCounter(prometheus.CounterOpts{Name: "strand_coordinator_load_stale_records_total",
			Help: "Replayed records written by a deposed owner, ignored."}),
		corruptRecords: prometheus.NewCounter(prometheus.CounterOpts{Name: "strand_coordinator_load_corrupt_records_total",
			Help: "Replayed records that could not be decoded, ignored."}),
		ownershipErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "strand_coordinator_ownership_errors_total",
			Help: "Failed ownership reconciles (strand-meta unreachable, lost claim races)."}),
	}
	reg.MustRegister(m.requests, m.requestSeconds, m.commits, m.writes, m.writeRecords, m.writeSeconds, m.writeErrors,
		m.rebalances, m.expirations, m.offsetsExpired, m.groups, m.members, m.partitions, m.loadSeconds,
		m.loadRecords, m.staleRecords, m.corruptRecords, m.ownershipErrors)
	return m
}

// newRegistry is the default registry: Go and process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
