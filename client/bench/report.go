package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Report is the outcome of a run.
type Report struct {
	Mode          string        `json:"mode"` // produce, consume or e2e
	Records       int64         `json:"records"`
	Bytes         int64         `json:"bytes"` // key+value bytes
	Errors        int64         `json:"errors"`
	Elapsed       time.Duration `json:"elapsed_ns"`
	RecordsPerSec float64       `json:"records_per_sec"`
	MBPerSec      float64       `json:"mb_per_sec"` // 10^6 bytes per second
	// Latency is send-to-ack (produce), send-to-consume (e2e), or the time
	// a Poll waited (consume).
	Latency Latency `json:"latency"`
	// FirstError is the first error seen, if any.
	FirstError string `json:"first_error,omitempty"`
}

// Latency summarises a latency histogram. Durations are in nanoseconds in
// JSON; the histogram's resolution is one microsecond.
type Latency struct {
	Count int64         `json:"count"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P95   time.Duration `json:"p95_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
}

// histogram is a latency histogram safe for concurrent use.
type histogram struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

// maxLatency is the largest latency recorded; larger values are clamped.
const maxLatency = time.Hour

func newHistogram() *histogram {
	return &histogram{h: hdrhistogram.New(1, int64(maxLatency/time.Microsecond), 3)}
}

func (h *histogram) record(d time.Duration) {
	us := int64(d / time.Microsecond)
	if us < 1 {
		us = 1
	}
	if us > int64(maxLatency/time.Microsecond) {
		us = int64(maxLatency / time.Microsecond)
	}
	h.mu.Lock()
	_ = h.h.RecordValue(us)
	h.mu.Unlock()
}

func (h *histogram) summary() Latency {
	h.mu.Lock()
	defer h.mu.Unlock()
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return Latency{
		Count: h.h.TotalCount(),
		Mean:  time.Duration(h.h.Mean() * float64(time.Microsecond)),
		P50:   us(h.h.ValueAtQuantile(50)),
		P95:   us(h.h.ValueAtQuantile(95)),
		P99:   us(h.h.ValueAtQuantile(99)),
		P999:  us(h.h.ValueAtQuantile(99.9)),
		Max:   us(h.h.Max()),
	}
}

func finish(r *Report, elapsed time.Duration, h *histogram) *Report {
	r.Elapsed = elapsed
	if s := elapsed.Seconds(); s > 0 {
		r.RecordsPerSec = float64(r.Records) / s
		r.MBPerSec = float64(r.Bytes) / s / 1e6
	}
	r.Latency = h.summary()
	return r
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
	what := map[string]string{"produce": "send to ack", "consume": "poll wait", "e2e": "send to consume"}[r.Mode]
	_, err := fmt.Fprintf(w,
		"%s: %d records (%d errors), %.1f MB in %.2f s\n"+
			"throughput: %.0f records/s, %.2f MB/s\n"+
			"latency (%s): p50 %s, p95 %s, p99 %s, p99.9 %s, max %s (mean %s)\n",
		r.Mode, r.Records, r.Errors, float64(r.Bytes)/1e6, r.Elapsed.Seconds(),
		r.RecordsPerSec, r.MBPerSec,
		what, ms(r.Latency.P50), ms(r.Latency.P95), ms(r.Latency.P99), ms(r.Latency.P999), ms(r.Latency.Max), ms(r.Latency.Mean))
	if err == nil && r.FirstError != "" {
		_, err = fmt.Fprintf(w, "first error: %s\n", r.FirstError)
	}
	return err
}

// WriteJSON writes the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Progress is a run's counts so far.
type Progress struct {
	Mode    string
	Records int64 // done
	Target  int64 // to do
	Bytes   int64
	Errors  int64
	Elapsed time.Duration
}

// Line renders a progress line: records, MB/s and ETA.
func (p Progress) Line() string {
	s := p.Elapsed.Seconds()
	var rate, mbps float64
	if s > 0 {
		rate = float64(p.Records) / s
		mbps = float64(p.Bytes) / s / 1e6
	}
	eta := "?"
	if rate > 0 && p.Target > p.Records {
		eta = (time.Duration(float64(p.Target-p.Records)/rate) * time.Second).Round(time.Second).String()
	} else if p.Target <= p.Records {
		eta = "0s"
	}
	pct := 0.0
	if p.Target > 0 {
		pct = 100 * float64(p.Records) / float64(p.Target)
	}
	return fmt.Sprintf("%s: %d/%d records (%.0f%%), %.0f rec/s, %.2f MB/s, %d errors, ETA %s",
		p.Mode, p.Records, p.Target, pct, rate, mbps, p.Errors, eta)
}
