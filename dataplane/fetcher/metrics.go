package fetcher

import "github.com/prometheus/client_golang/prometheus"

// metrics are the fetcher's series.
type metrics struct {
	bytes       prometheus.Counter
	frames      prometheus.Counter
	staleFrames prometheus.Counter
	truncations prometheus.Counter
	reconnects  prometheus.Counter
	errors      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, f *Fetcher) *metrics {
	m := &metrics{
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "strand_data", Subsystem: "fetcher", Name: "appended_bytes_total",
			Help: "Record bytes this follower appended from its leaders' streams.",
		}),
		frames: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "strand_data", Subsystem: "fetcher", Name: "appended_frames_total",
			Help: "Data frames with records this follower appended.",
		}),
		staleFrames: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "strand_data", Subsystem: "fetcher", Name: "stale_frames_total",
			Help: "Frames dropped because they belonged to an older assignment of their partition.",
		}),
		truncations: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "strand_data", Subsystem: "fetcher", Name: "truncations_total",
			Help: "Follower logs cut by leader-epoch truncation (or restarted at the leader's log start).",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "strand_data", Subsystem: "fetcher", Name: "stream_failures_total",
			Help: "Replica streams that failed to open or broke.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "strand_data", Subsystem: "fetcher", Name: "partition_errors_total",
			Help: "Per-partition replication errors, by wire code.",
		}, []string{"code"}),
	}
	if reg != nil {
		reg.MustRegister(m.bytes, m.frames, m.staleFrames, m.truncations, m.reconnects, m.errors,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: "strand_data", Subsystem: "fetcher", Name: "streams",
				Help: "Replica streams open or opening (one per leader node followed).",
			}, func() float64 { return float64(f.Streams()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: "strand_data", Subsystem: "fetcher", Name: "max_lag_records",
				Help: "The largest lag (leader log end offset minus ours) over the partitions followed.",
			}, func() float64 {
				var m int64
				for _, st := range f.Status() {
					m = max(m, st.Lag())
				}
				return float64(m)
			}))
	}
	return m
}
