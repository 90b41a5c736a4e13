package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"strand.dev/dataplane/partlog"
)

// cleanerCollector reports the log cleaner: per compacted log its
// cleanable ratio and dirty bytes, and node-wide the bytes cleaned and the
// time of the last run. Values are read at scrape time.
type cleanerCollector struct {
	logs *partlog.Manager

	ratio, dirty, lastCleaned                   *prometheus.Desc
	bytesRead, bytesWritten, runs, errors       *prometheus.Desc
	lastRun, lastRunDuration, throttle, threads *prometheus.Desc
}

// newCleanerCollector describes the series.
func newCleanerCollector(logs *partlog.Manager) *cleanerCollector {
	labels := []string{"topic", "partition"}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc("strand_data_log_cleaner_"+name, help, labels, nil)
	}
	return &cleanerCollector{
		logs:            logs,
		ratio:           d("cleanable_ratio", "Dirty share of a compacted log's cleanable bytes (cleaned when >= min.cleanable.dirty.ratio).", labels),
		dirty:           d("dirty_bytes", "Bytes of a compacted log's closed segments not yet cleaned.", labels),
		lastCleaned:     d("log_last_cleaned_timestamp_seconds", "When the cleaner last finished with the log (0: not since the node started).", labels),
		bytesRead:       d("read_bytes_total", "Bytes the cleaner read (bytes cleaned).", nil),
		bytesWritten:    d("written_bytes_total", "Bytes the cleaner wrote.", nil),
		runs:            d("runs_total", "Cleanings that rewrote segments.", nil),
		errors:          d("errors_total", "Cleanings that failed.", nil),
		lastRun:         d("last_run_timestamp_seconds", "When the last cleaning ended (0: none yet).", nil),
		lastRunDuration: d("last_run_duration_seconds", "How long the last cleaning took.", nil),
		throttle:        d("throttle_seconds_total", "Time the cleaner slept to stay within --log-cleaner-io-max-bytes-per-second.", nil),
		threads:         d("threads", "Cleaner threads running (--log-cleaner-threads).", nil),
	}
}

// Describe implements prometheus.Collector.
func (c *cleanerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.ratio, c.dirty, c.lastCleaned, c.bytesRead, c.bytesWritten, c.runs,
		c.errors, c.lastRun, c.lastRunDuration, c.throttle, c.threads} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *cleanerCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, pl := range c.logs.All() {
		if !pl.Log.Config().Compacted() {
			continue
		}
		ci := pl.Log.CleanerInfo(now)
		lv := []string{pl.Topic, strconv.Itoa(int(pl.Partition))}
		ch <- prometheus.MustNewConstMetric(c.ratio, prometheus.GaugeValue, ci.CleanableRatio, lv...)
		ch <- prometheus.MustNewConstMetric(c.dirty, prometheus.GaugeValue, float64(ci.DirtyBytes), lv...)
		ch <- prometheus.MustNewConstMetric(c.lastCleaned, prometheus.GaugeValue, unixSeconds(ci.LastCleaned), lv...)
	}
	st := c.logs.CleanerStats()
	n := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	n(c.bytesRead, float64(st.BytesRead))
	n(c.bytesWritten, float64(st.BytesWritten))
	n(c.runs, float64(st.Runs))
	n(c.errors, float64(st.Errors))
	n(c.throttle, st.ThrottleSleep.Seconds())
	g(c.lastRun, unixSeconds(st.LastRun))
	g(c.lastRunDuration, st.LastRunTook.Seconds())
	g(c.threads, float64(st.Threads))
}

// unixSeconds is t in Unix seconds, 0 for the zero time.
func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
