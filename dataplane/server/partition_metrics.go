package server

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"strand.dev/dataplane/partlog"
	"strand.dev/dataplane/replica"
)

// partitionCollector reports every local partition's offsets and storage at
// scrape time, so the series always match the partitions held.
type partitionCollector struct {
	rm *replica.Manager

	logStart, logEnd, hw, segments, size, leader *prometheus.Desc
	partitions                                   *prometheus.Desc
}

// newPartitionCollector describes the per-partition series.
func newPartitionCollector(rm *replica.Manager) *partitionCollector {
	labels := []string{"topic", "partition"}
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("strand_data_"+name, help, labels, nil)
	}
	return &partitionCollector{
		rm:         rm,
		logStart:   d("log_start_offset", "First offset of the partition's log."),
		logEnd:     d("log_end_offset", "Offset the partition's next record will get."),
		hw:         d("high_watermark", "First offset consumers cannot see yet."),
		segments:   d("log_segments", "Segment files of the partition's log."),
		size:       d("log_size_bytes", "Bytes of the partition's segment files."),
		leader:     d("partition_leader", "1 while this node leads the partition."),
		partitions: prometheus.NewDesc("strand_data_partitions", "Partitions held by this node.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.logStart, c.logEnd, c.hw, c.segments, c.size, c.leader, c.partitions} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *partitionCollector) Collect(ch chan<- prometheus.Metric) {
	parts := c.rm.Partitions()
	ch <- prometheus.MustNewConstMetric(c.partitions, prometheus.GaugeValue, float64(len(parts)))
	for _, p := range parts {
		info := p.Info()
		lv := []string{info.Topic, strconv.Itoa(int(info.Partition))}
		leader := 0.0
		if info.Leader {
			leader = 1
		}
		ch <- prometheus.MustNewConstMetric(c.logStart, prometheus.GaugeValue, float64(info.LogStartOffset), lv...)
		ch <- prometheus.MustNewConstMetric(c.logEnd, prometheus.GaugeValue, float64(info.LogEndOffset), lv...)
		ch <- prometheus.MustNewConstMetric(c.hw, prometheus.GaugeValue, float64(info.HighWatermark), lv...)
		ch <- prometheus.MustNewConstMetric(c.segments, prometheus.GaugeValue, float64(info.Stats.Segments), lv...)
		ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(info.Stats.SizeBytes), lv...)
		ch <- prometheus.MustNewConstMetric(c.leader, prometheus.GaugeValue, leader, lv...)
	}
}

// logManagerCollector reports the partition logs' shared state: descriptors
// and index memory of the file pool, and the background work's counters.
type logManagerCollector struct {
	logs *partlog.Manager

	openFiles, maxOpenFiles, indexBytes               *prometheus.Desc
	filesOpened, filesEvicted                         *prometheus.Desc
	flushes, flushErrors, retentionDeleted, retErrors *prometheus.Desc
	checkpoints, checkpointErrors                     *prometheus.Desc
}

// newLogManagerCollector describes the series.
func newLogManagerCollector(logs *partlog.Manager) *logManagerCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("strand_data_"+name, help, nil, nil)
	}
	return &logManagerCollector{
		logs:             logs,
		openFiles:        d("log_open_files", "Segment descriptors the logs hold open (fetches hold their own besides)."),
		maxOpenFiles:     d("log_open_files_limit", "The bound on segment descriptors kept open (--max-open-files)."),
		indexBytes:       d("log_index_cache_bytes", "Memory of loaded cold-segment indexes."),
		filesOpened:      d("log_files_opened_total", "Segment descriptors opened."),
		filesEvicted:     d("log_files_evicted_total", "Idle segment descriptors closed to stay within the bound."),
		flushes:          d("log_flushes_total", "Flushes started by flush.ms."),
		flushErrors:      d("log_flush_errors_total", "Failed flushes."),
		retentionDeleted: d("log_retention_deleted_segments_total", "Segments deleted by retention."),
		retErrors:        d("log_retention_errors_total", "Failed retention runs."),
		checkpoints:      d("log_checkpoints_total", "Recovery-point checkpoints written."),
		checkpointErrors: d("log_checkpoint_errors_total", "Failed checkpoint writes."),
	}
}

// Describe implements prometheus.Collector.
func (c *logManagerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.openFiles, c.maxOpenFiles, c.indexBytes, c.filesOpened, c.filesEvicted,
		c.flushes, c.flushErrors, c.retentionDeleted, c.retErrors, c.checkpoints, c.checkpointErrors} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *logManagerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.logs.Stats()
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	n := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	g(c.openFiles, float64(st.Files.Open))
	g(c.maxOpenFiles, float64(st.Files.MaxOpen))
	g(c.indexBytes, float64(st.Files.IndexBytes))
	n(c.filesOpened, st.Files.Opened)
	n(c.filesEvicted, st.Files.Evicted)
	n(c.flushes, st.Flushes)
	n(c.flushErrors, st.FlushErrors)
	n(c.retentionDeleted, st.RetentionDeleted)
	n(c.retErrors, st.RetentionErrors)
	n(c.checkpoints, st.Checkpoints)
	n(c.checkpointErrors, st.CheckpointErrors)
}
