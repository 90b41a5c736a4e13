package metatest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
)

// The benchmarks run a real 3-member cluster of strand-meta processes on
// loopback (fsync on) and drive it from the test process over HTTP:
//
//	go test -run '^$' -bench . -benchtime 1x ./metatest
//
// Each reports its figures as custom metrics (cmds/s, p50-ms, p99-ms, ...);
// ns/op is meaningless for them.

// benchClient is a fasthttp client sized for many concurrent proposers.
var benchClient = &fasthttp.Client{MaxConnsPerHost: 2048, ReadTimeout: 30 * time.Second, WriteTimeout: 10 * time.Second}

// fastPropose proposes cmd (pre-encoded) to addr.
func fastPropose(addr string, body []byte) error {
	req := fasthttp.AcquireRequest()
	res := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(res)
	req.SetRequestURI("http://" + addr + wire.PathMetaPropose)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetBodyRaw(body)
	if err := benchClient.Do(req, res); err != nil {
		return err
	}
	if res.StatusCode() != 200 {
		return wire.UnmarshalError(res.StatusCode(), res.Body())
	}
	return nil
}

// warmUp opens conns connections to addr (concurrent proposals) so that
// the measurement does not pay for dialing.
func warmUp(addr string, body []byte, conns int) {
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fastPropose(addr, body)
		}()
	}
	wg.Wait()
}

// serverP99 reads a histogram (the bucket lines starting with prefix) from
// the /metrics of addr and returns the upper bound of the bucket holding the
// 99th percentile (coarse: the buckets double).
func serverP99(addr, prefix string) (time.Duration, error) {
	return serverQuantile(addr, prefix, 0.99)
}

// serverQuantile is serverP99 for quantile q (1 gives the bucket of the
// slowest observation).
func serverQuantile(addr, prefix string, q float64) (time.Duration, error) {
	resp, err := http.Get("http://" + addr + wire.PathMetrics)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	type bucket struct {
		le    float64
		count float64
	}
	var buckets []bucket
	for _, line := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		leStr, countStr, ok := strings.Cut(rest, `"} `)
		if !ok || leStr == "+Inf" {
			continue
		}
		le, err1 := strconv.ParseFloat(leStr, 64)
		count, err2 := strconv.ParseFloat(countStr, 64)
		if err1 == nil && err2 == nil {
			buckets = append(buckets, bucket{le, count})
		}
	}
	if len(buckets) == 0 {
		return 0, fmt.Errorf("no histogram %s", prefix)
	}
	total := buckets[len(buckets)-1].count
	for _, bk := range buckets {
		if bk.count >= q*total {
			return time.Duration(bk.le * float64(time.Second)), nil
		}
	}
	return 0, fmt.Errorf("p99 beyond the last bucket")
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// benchLeader returns the leader's API address of a process cluster.
func benchLeader(b *testing.B, pc *procCluster) string {
	var lead uint64
	checkForTB(b, 30*time.Second, 20*time.Millisecond, func() error {
		var err error
		lead, err = pc.leader(1)
		return err
	})
	return pc.addrs[lead]
}

// BenchmarkCommitThroughput: concurrent proposers (each waits for its
// command to be applied) against the leader; commands/s and latency.
func BenchmarkCommitThroughput(b *testing.B) {
	pc := newProcCluster(b, 3)
	leader := benchLeader(b, pc)
	body, _ := json.Marshal(allocate(1))
	for _, conc := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("proposers=%d", conc), func(b *testing.B) {
			const window = 5 * time.Second
			var (
				mu   sync.Mutex
				lats []time.Duration
				errs atomic.Int64
			)
			warmUp(leader, body, conc)
			start := time.Now()
			var wg sync.WaitGroup
			for w := 0; w < conc; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					local := make([]time.Duration, 0, 4096)
					for time.Since(start) < window {
						t0 := time.Now()
						if err := fastPropose(leader, body); err != nil {
							errs.Add(1)
							continue
						}
						local = append(local, time.Since(t0))
					}
					mu.Lock()
					lats = append(lats, local...)
					mu.Unlock()
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			slices.Sort(lats)
			b.ReportMetric(float64(len(lats))/elapsed.Seconds(), "cmds/s")
			b.ReportMetric(ms(percentile(lats, 0.5)), "p50-ms")
			b.ReportMetric(ms(percentile(lats, 0.99)), "p99-ms")
			b.ReportMetric(float64(errs.Load()), "errors")
		})
	}
}

// BenchmarkFixedRate: an open-loop load of 1,000 commands/s; latency is
// measured from each command's scheduled send time (no coordinated
// omission).
func BenchmarkFixedRate(b *testing.B) {
	pc := newProcCluster(b, 3)
	leader := benchLeader(b, pc)
	body, _ := json.Marshal(allocate(1))
	const (
		rate     = 1000
		duration = 10 * time.Second
	)
	total := int(rate * duration.Seconds())
	lats := make([]time.Duration, total)
	warmUp(leader, body, 64)
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Second / rate
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func(i int, due time.Time) {
			defer wg.Done()
			if err := fastPropose(leader, body); err != nil {
				errs.Add(1)
			}
			lats[i] = time.Since(due)
		}(i, due)
	}
	wg.Wait()
	slices.Sort(lats)
	if p99, err := serverP99(leader, `strand_meta_http_request_seconds_bucket{path="`+wire.PathMetaPropose+`",status="200",le="`); err == nil {
		b.ReportMetric(ms(p99), "server-p99-ms")
	}
	if p99, err := serverP99(leader, `strand_meta_wal_fsync_seconds_bucket{le="`); err == nil {
		b.ReportMetric(ms(p99), "fsync-p99-ms")
	}
	if max, err := serverQuantile(leader, `strand_meta_wal_fsync_seconds_bucket{le="`, 1); err == nil {
		b.ReportMetric(ms(max), "fsync-max-ms")
	}
	b.ReportMetric(rate, "target-cmds/s")
	b.ReportMetric(ms(percentile(lats, 0.5)), "p50-ms")
	b.ReportMetric(ms(percentile(lats, 0.99)), "p99-ms")
	b.ReportMetric(ms(percentile(lats, 0.999)), "p999-ms")
	b.ReportMetric(float64(errs.Load()), "errors")
}

// BenchmarkWatchers: 100 long-polling watchers spread over the members while
// a writer commits 200 commands/s; how long after a commit is acknowledged
// the watchers see it.
func BenchmarkWatchers(b *testing.B) {
	pc := newProcCluster(b, 3)
	leader := benchLeader(b, pc)
	body, _ := json.Marshal(allocate(1))
	const (
		watchers = 100
		rate     = 200
		duration = 10 * time.Second
	)
	// committedAt[v] is when the write that produced version v was acknowledged.
	var committedAt sync.Map
	var (
		mu    sync.Mutex
		lags  []time.Duration
		wakes atomic.Int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	ids := []uint64{1, 2, 3}
	for w := 0; w < watchers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			addr := pc.addrs[ids[w%3]]
			var version uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				var img struct {
					Version uint64 `json:"version"`
				}
				if err := call(http.MethodGet, addr, fmt.Sprintf("%s?version=%d&timeout_ms=2000", wire.PathMetaWatch, version), nil, &img); err != nil {
					continue
				}
				seen := time.Now()
				if img.Version > version {
					wakes.Add(1)
					if t, ok := committedAt.Load(img.Version); ok {
						mu.Lock()
						lags = append(lags, seen.Sub(t.(time.Time)))
						mu.Unlock()
					}
				}
				version = img.Version
			}
		}(w)
	}
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	for i := 0; time.Since(start) < duration; i++ {
		due := start.Add(time.Duration(i) * time.Second / rate)
		time.Sleep(time.Until(due))
		var resp wire.ProposeResponse
		if err := call(http.MethodPost, leader, wire.PathMetaPropose, json.RawMessage(body), &resp); err == nil {
			committedAt.Store(resp.Version, time.Now())
		}
	}
	close(stop)
	wg.Wait()
	slices.Sort(lags)
	b.ReportMetric(float64(wakes.Load())/duration.Seconds(), "wakeups/s")
	b.ReportMetric(ms(percentile(lags, 0.5)), "notify-p50-ms")
	b.ReportMetric(ms(percentile(lags, 0.99)), "notify-p99-ms")
}

// BenchmarkLeaderFailover SIGKILLs the leader of a 3-process cluster several
// times (restarting it each time) and reports how long until a surviving
// member accepted a write.
func BenchmarkLeaderFailover(b *testing.B) {
	pc := newProcCluster(b, 3)
	const rounds = 8
	var took []time.Duration
	for r := 0; r < rounds; r++ {
		killed, d := pc.killLeaderAndTime(b)
		took = append(took, d)
		pc.start(killed)
		pc.waitHealthy(killed)
		// Let the restarted member catch up before the next kill.
		time.Sleep(500 * time.Millisecond)
	}
	slices.Sort(took)
	b.ReportMetric(ms(percentile(took, 0.5)), "p50-ms")
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
	b.Logf("failover times: %v", took)
	_ = syscall.SIGKILL
}
