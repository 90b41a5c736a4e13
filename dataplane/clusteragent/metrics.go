package clusteragent

import "github.com/prometheus/client_golang/prometheus"

// metrics are the agent's series.
type metrics struct {
	imageVersion   prometheus.Gauge
	appliedVersion prometheus.Gauge
	applied        prometheus.Counter
	applyErrors    prometheus.Counter
	removed        prometheus.Counter
	isrChanges     prometheus.Counter
	isrErrors      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, a *Agent) *metrics {
	m := &metrics{
		imageVersion: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "strand_data", Subsystem: "cluster", Name: "image_version",
			Help: "Version of the newest metadata image this node has seen.",
		}),
		appliedVersion: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "strand_data", Subsystem: "cluster", Name: "applied_image_version",
			Help: "Version of the last metadata image this node applied in full.",
		}),
		applied: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "strand_data", Subsystem: "cluster", Name: "assignments_applied_total",
			Help: "Partition assignments (lead, follow, configs) applied from the image.",
		}),
		applyErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "strand_data", Subsystem: "cluster", Name: "assignment_errors_total",
			Help: "Partition assignments that failed to apply (retried).",
		}),
		removed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "strand_data", Subsystem: "cluster", Name: "replicas_deleted_total",
			Help: "Partition replicas deleted because the image no longer assigns them here.",
		}),
		isrChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "strand_data", Subsystem: "cluster", Name: "isr_changes_total",
			Help: "ISR changes this node proposed as a leader and strand-meta accepted.",
		}),
		isrErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "strand_data", Subsystem: "cluster", Name: "isr_change_errors_total",
			Help: "ISR changes this node proposed that failed or were rejected.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.imageVersion, m.appliedVersion, m.applied, m.applyErrors, m.removed, m.isrChanges, m.isrErrors,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: "strand_data", Subsystem: "cluster", Name: "registered",
				Help: "1 once this node registered in strand-meta.",
			}, func() float64 {
				if a.registered.Load() {
					return 1
				}
				return 0
			}))
	}
	return m
}
