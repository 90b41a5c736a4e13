package transport

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the transport's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	sent      *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	received  prometheus.Counter
	bytesOut  prometheus.Counter
	snapshots *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strand_meta_peer_messages_sent_total", Help: "Raft messages written to peer streams.",
		}, []string{"peer"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strand_meta_peer_messages_dropped_total", Help: "Raft messages dropped (queue full, peer unreachable, filtered).",
		}, []string{"peer", "reason"}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strand_meta_peer_messages_received_total", Help: "Raft messages received from peers.",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strand_meta_peer_bytes_sent_total", Help: "Bytes written to peer streams.",
		}),
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strand_meta_snapshots_sent_total", Help: "Snapshots sent to peers, by outcome.",
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.sent, m.dropped, m.received, m.bytesOut, m.snapshots)
	return m
}

func (m *Metrics) incSent(peer string, n int) {
	if m != nil {
		m.sent.WithLabelValues(peer).Add(float64(n))
	}
}

func (m *Metrics) incDropped(peer, reason string, n int) {
	if m != nil && n > 0 {
		m.dropped.WithLabelValues(peer, reason).Add(float64(n))
	}
}

func (m *Metrics) incReceived() {
	if m != nil {
		m.received.Inc()
	}
}

func (m *Metrics) addBytesOut(n int) {
	if m != nil {
		m.bytesOut.Add(float64(n))
	}
}

func (m *Metrics) incSnapshot(outcome string) {
	if m != nil {
		m.snapshots.WithLabelValues(outcome).Inc()
	}
}
