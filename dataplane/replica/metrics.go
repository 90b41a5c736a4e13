package replica

import "github.com/prometheus/client_golang/prometheus"

// metrics are the replica layer's series.
type metrics struct {
	isrShrinks     prometheus.Counter
	isrExpands     prometheus.Counter
	isrFailures    prometheus.Counter
	notEnough      prometheus.Counter
	notEnoughAfter prometheus.Counter
	leaderships    prometheus.Counter
	duplicates     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, m *Manager) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "strand_data", Subsystem: "replica", Name: name, Help: help})
	}
	x := &metrics{
		isrShrinks:     c("isr_shrinks_total", "ISR changes that dropped followers (proposed by this node as a leader and accepted)."),
		isrExpands:     c("isr_expands_total", "ISR changes that added caught-up followers (accepted)."),
		isrFailures:    c("isr_change_failures_total", "ISR changes that failed or lost a compare-and-set race."),
		notEnough:      c("not_enough_replicas_total", "acks=all produces refused before the append: ISR below min.insync.replicas."),
		notEnoughAfter: c("not_enough_replicas_after_append_total", "acks=all produces answered NOT_ENOUGH_REPLICAS_AFTER_APPEND."),
		leaderships:    c("leaderships_total", "Times this node became the leader of a partition (cluster mode)."),
		duplicates:     c("duplicate_batches_total", "Idempotent batches answered as duplicates of batches already written (retries)."),
	}
	if reg != nil {
		reg.MustRegister(x.isrShrinks, x.isrExpands, x.isrFailures, x.notEnough, x.notEnoughAfter, x.leaderships, x.duplicates,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "strand_data", Subsystem: "replica", Name: "under_replicated_partitions",
				Help: "Partitions this node leads whose ISR is smaller than their replica set."},
				func() float64 {
					n := 0
					for _, p := range m.Partitions() {
						if p.underReplicated() {
							n++
						}
					}
					return float64(n)
				}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "strand_data", Subsystem: "replica", Name: "leader_partitions",
				Help: "Partitions this node leads."},
				func() float64 {
					n := 0
					for _, p := range m.Partitions() {
						if leader, _, _ := p.Role(); leader {
							n++
						}
					}
					return float64(n)
				}))
	}
	return x
}
