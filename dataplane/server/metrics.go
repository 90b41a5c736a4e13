package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the node's Prometheus series. Each Node has its own registry,
// so several nodes can live in one test process.
type metrics struct {
	reg *prometheus.Registry

	requests *prometheus.CounterVec   // endpoint, code
	latency  *prometheus.HistogramVec // endpoint
	inflight *prometheus.GaugeVec     // endpoint

	bytesIn    prometheus.Counter // produce payload bytes appended
	recordsIn  prometheus.Counter // records appended
	bytesOut   prometheus.Counter // fetch payload bytes handed to the socket
	fetchWaits prometheus.Counter // fetches that long-polled
	copyFetch  prometheus.Counter // fetch bodies sent by copying (CopyFetchBody)
	connErrors *prometheus.CounterVec
}

// newMetrics registers the series, plus Go runtime and process collectors
// (the latter gives process_open_fds).
func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "strand_data", Name: "http_requests_total",
			Help: "HTTP requests answered, by endpoint and wire code (ok for success).",
		}, []string{"endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "strand_data", Name: "http_request_duration_seconds",
			Help: "Time from the request's arrival to the handler's return, by endpoint. " +
				"Fetch bodies are sent after the handler returns; long-poll waits are included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "strand_data", Name: "http_requests_in_flight",
			Help: "Requests being handled, by endpoint.",
		}, []string{"endpoint"}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "strand_data", Name: "produce_bytes_total",
			Help: "Record batch bytes appended by produce requests.",
		}),
		recordsIn: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "strand_data", Name: "produce_records_total",
			Help: "Records appended by produce requests.",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "strand_data", Name: "fetch_bytes_total",
			Help: "Record batch bytes answered to fetch requests.",
		}),
		fetchWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "strand_data", Name: "fetch_long_polls_total",
			Help: "Fetches that waited for min_bytes (long-polled).",
		}),
		copyFetch: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "strand_data", Name: "fetch_copied_bodies_total",
			Help: "Fetch bodies sent by read/write copying instead of sendfile (benchmark mode).",
		}),
		connErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "strand_data", Name: "http_request_errors_total",
			Help: "Requests the HTTP layer rejected before a handler ran (too large, timed out, malformed).",
		}, []string{"code"}),
	}
	reg.MustRegister(m.requests, m.latency, m.inflight, m.bytesIn, m.recordsIn, m.bytesOut,
		m.fetchWaits, m.copyFetch, m.connErrors,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
