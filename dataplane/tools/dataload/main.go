// Command dataload measures produce throughput against a running
// strand-data: it sends pre-built RecordBatch v2 batches over HTTP from
// several connections, round-robin over a topic's partitions, and prints
// records/s, MiB/s and request latency percentiles.
//
//	go run ./tools/dataload --addr 127.0.0.1:9092 --topic load --partitions 100 --create \
//		--record-size 1024 --batch-bytes 65536 --total-bytes 1GiB --concurrency 4 --acks 1
package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

// options are the command's flags.
type options struct {
	addr, topic, acks  string
	partitions         int
	create, quiet      bool
	asJSON             bool
	recordSize         int
	batchBytes, total  int64
	duration           time.Duration
	concurrency        int
	maxLatencySamples  int
	segmentBytesConfig string
}

func main() {
	var o options
	var total, batch string
	flag.StringVar(&o.addr, "addr", "127.0.0.1:9092", "strand-data host:port (env STRAND_ADDR)")
	flag.StringVar(&o.topic, "topic", "load", "topic to produce to")
	flag.IntVar(&o.partitions, "partitions", 1, "partitions to spread requests over (round-robin)")
	flag.BoolVar(&o.create, "create", false, "create the topic first (ignores TOPIC_ALREADY_EXISTS)")
	flag.StringVar(&o.segmentBytesConfig, "segment-bytes", "", "segment.bytes of a created topic (default: the node's)")
	flag.IntVar(&o.recordSize, "record-size", 1024, "value bytes per record")
	flag.StringVar(&batch, "batch-bytes", "16KiB", "batch size, framing included: as many --record-size records as fit (KiB/MiB suffixes)")
	flag.StringVar(&total, "total-bytes", "256MiB", "bytes to send in all (ignored with --duration)")
	flag.DurationVar(&o.duration, "duration", 0, "send for this long instead of --total-bytes")
	flag.IntVar(&o.concurrency, "concurrency", 2, "concurrent connections")
	flag.StringVar(&o.acks, "acks", "1", "acks: all, 1 or 0")
	flag.BoolVar(&o.quiet, "quiet", false, "print only the result line")
	flag.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	flag.Parse()
	if env := os.Getenv("STRAND_ADDR"); env != "" && !flagSet("addr") {
		o.addr = env
	}
	var err error
	if o.total, err = parseSize(total); err != nil {
		fatal(err)
	}
	if o.batchBytes, err = parseSize(batch); err != nil {
		fatal(err)
	}
	if o.recordSize < 1 || o.partitions < 1 || o.concurrency < 1 || o.batchBytes < int64(o.recordSize) {
		fatal(errors.New("--record-size, --partitions and --concurrency must be >= 1 and --batch-bytes >= --record-size"))
	}
	o.maxLatencySamples = 1 << 22
	res, err := run(o)
	if err != nil {
		fatal(err)
	}
	res.print(o)
}

// flagSet reports whether a flag was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// fatal prints err and exits 1.
func fatal(err error) {
	fmt.Fprintln(os.Stderr, "dataload:", err)
	os.Exit(1)
}

// parseSize reads 123, 64KiB, 64MiB, 1GiB.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suf, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suf) {
			s, mult = strings.TrimSuffix(s, suf), m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// result is what a run measured.
type result struct {
	Requests  int64         `json:"requests"`
	Records   int64         `json:"records"`
	Bytes     int64         `json:"bytes"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	RecordsPS float64       `json:"records_per_sec"`
	MiBPS     float64       `json:"mib_per_sec"`
	P50, P99  time.Duration `json:"-"`
	P999, Max time.Duration `json:"-"`
	P50ms     float64       `json:"p50_ms"`
	P99ms     float64       `json:"p99_ms"`
	P999ms    float64       `json:"p999_ms"`
	MaxMs     float64       `json:"max_ms"`
}

// run creates the topic if asked and sends batches until done.
func run(o options) (*result, error) {
	hc := &fasthttp.HostClient{Addr: o.addr, MaxConns: o.concurrency, ReadTimeout: time.Minute, WriteTimeout: time.Minute}
	if o.create {
		if err := createTopic(hc, o); err != nil {
			return nil, err
		}
	}
	// As many records as fit in --batch-bytes, framing included.
	perBatch := int(o.batchBytes / int64(o.recordSize))
	batch, err := buildBatch(o.recordSize, perBatch)
	for err == nil && int64(len(batch)) > o.batchBytes && perBatch > 1 {
		perBatch = max(1, int(int64(perBatch)*o.batchBytes/int64(len(batch))))
		batch, err = buildBatch(o.recordSize, perBatch)
	}
	if err != nil {
		return nil, err
	}
	requests := (o.total + int64(len(batch)) - 1) / int64(len(batch))
	var (
		next     atomic.Int64
		mu       sync.Mutex
		lat      []time.Duration
		firstErr error
		wg       sync.WaitGroup
	)
	deadline := time.Time{}
	start := time.Now()
	if o.duration > 0 {
		deadline = start.Add(o.duration)
		requests = -1
	}
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			local := make([]time.Duration, 0, 1024)
			defer func() {
				mu.Lock()
				if len(lat) < o.maxLatencySamples {
					lat = append(lat, local...)
				}
				mu.Unlock()
			}()
			for {
				i := next.Add(1) - 1
				if requests >= 0 && i >= requests || !deadline.IsZero() && time.Now().After(deadline) {
					next.Add(-1)
					return
				}
				uri := "http://" + o.addr + wire.PathProduce + "?topic=" + o.topic + "&partition=" +
					strconv.Itoa(int(i%int64(o.partitions))) + "&acks=" + o.acks
				req.SetRequestURI(uri)
				req.Header.SetMethod(fasthttp.MethodPost)
				req.Header.SetContentType(wire.ContentTypeBatch)
				req.SetBodyRaw(batch)
				t0 := time.Now()
				err := hc.Do(req, resp)
				if err == nil && resp.StatusCode() != fasthttp.StatusOK {
					err = wire.UnmarshalError(resp.StatusCode(), resp.Body())
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("request %d: %w", i, err)
					}
					mu.Unlock()
					next.Store(1 << 62)
					return
				}
				local = append(local, time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return nil, firstErr
	}
	n := next.Load()
	r := &result{Requests: n, Records: n * int64(perBatch), Bytes: n * int64(len(batch)), Elapsed: elapsed}
	r.RecordsPS = float64(r.Records) / elapsed.Seconds()
	r.MiBPS = float64(r.Bytes) / (1 << 20) / elapsed.Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	r.P50, r.P99, r.P999 = pct(0.50), pct(0.99), pct(0.999)
	if len(lat) > 0 {
		r.Max = lat[len(lat)-1]
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	r.P50ms, r.P99ms, r.P999ms, r.MaxMs = ms(r.P50), ms(r.P99), ms(r.P999), ms(r.Max)
	return r, nil
}

// print writes the result.
func (r *result) print(o options) {
	if o.asJSON {
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
		return
	}
	if !o.quiet {
		fmt.Printf("produced to %s (%d partitions), %d-byte records, %d per batch of %d bytes, %d connections, acks=%s\n",
			o.topic, o.partitions, o.recordSize, r.Records/max(r.Requests, 1), r.Bytes/max(r.Requests, 1), o.concurrency, o.acks)
	}
	fmt.Printf("%d requests, %d records, %.1f MiB in %v: %.0f records/s, %.1f MiB/s; latency p50 %v p99 %v p99.9 %v max %v\n",
		r.Requests, r.Records, float64(r.Bytes)/(1<<20), r.Elapsed.Round(time.Millisecond), r.RecordsPS, r.MiBPS,
		r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.P999.Round(time.Microsecond), r.Max.Round(time.Microsecond))
}

// createTopic creates the topic, ignoring TOPIC_ALREADY_EXISTS.
func createTopic(hc *fasthttp.HostClient, o options) error {
	ct := wire.CreateTopicRequest{Topic: o.topic, Partitions: int32(o.partitions)}
	if o.segmentBytesConfig != "" {
		ct.Configs = map[string]string{"segment.bytes": o.segmentBytesConfig}
	}
	body, _ := json.Marshal(ct)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + o.addr + wire.PathAdminTopics)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType(wire.ContentTypeJSON)
	req.SetBodyRaw(body)
	if err := hc.Do(req, resp); err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	if resp.StatusCode() == fasthttp.StatusOK {
		return nil
	}
	we := wire.UnmarshalError(resp.StatusCode(), resp.Body())
	if we.Code == wire.CodeTopicAlreadyExists {
		return nil
	}
	return fmt.Errorf("create topic: %w", we)
}

// buildBatch builds one uncompressed batch of count random records.
func buildBatch(size, count int) ([]byte, error) {
	b := recordbatch.NewBuilder(recordbatch.EncodeOptions{})
	ts := time.Now().UnixMilli()
	v := make([]byte, size*count)
	rand.Read(v)
	for i := range count {
		b.Add(recordbatch.Record{Timestamp: ts, Value: v[i*size : (i+1)*size]})
	}
	return b.Build()
}
