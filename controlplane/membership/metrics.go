package membership

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the pool's Prometheus collectors.
type metrics struct {
	events  *prometheus.CounterVec
	dropped prometheus.Counter
	members *prometheus.GaugeVec
	joinErr prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strand_membership_events_total",
			Help: "Membership events delivered by gossip, by type.",
		}, []string{"type"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strand_membership_events_dropped_total",
			Help: "Membership events dropped because the consumer's channel was full.",
		}),
		members: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strand_membership_members",
			Help: "Members of the gossip pool as this process sees them, by role and status.",
		}, []string{"role", "status"}),
		joinErr: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strand_membership_join_errors_total",
			Help: "Failed attempts to join the gossip pool.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.events, m.dropped, m.members, m.joinErr} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("membership: metrics already registered (one pool per registry): %w", err)
			}
			return nil, fmt.Errorf("membership: register metrics: %w", err)
		}
	}
	return m, nil
}
