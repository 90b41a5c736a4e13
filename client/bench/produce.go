package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"strand.dev/client/producer"
	"strand.dev/client/record"
)

// counters are a run's live counts.
type counters struct {
	records, bytes, errors atomic.Int64
	firstErr               atomic.Value // string
}

func (c *counters) fail(err error) {
	c.errors.Add(1)
	c.firstErr.CompareAndSwap(nil, err.Error())
}

func (c *counters) firstError() string {
	if v := c.firstErr.Load(); v != nil {
		return v.(string)
	}
	return ""
}

// reportProgress calls cfg.Progress every 500 ms until stop is closed.
func reportProgress(cfg *Config, mode string, target int64, cnt *counters, start time.Time, stop <-chan struct{}, wg *sync.WaitGroup) {
	if cfg.Progress == nil {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				cfg.Progress(Progress{Mode: mode, Records: cnt.records.Load(), Target: target,
					Bytes: cnt.bytes.Load(), Errors: cnt.errors.Load(), Elapsed: time.Since(start)})
			}
		}
	}()
}

// Produce sends cfg.Records records of cfg.RecordSize bytes to cfg.Topic
// from cfg.Producers producers and reports throughput and send-to-ack
// latency. A run that ctx cancels reports what was done so far.
func Produce(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if _, err := cfg.ensureTopic(ctx); err != nil {
		return nil, err
	}
	return produce(ctx, &cfg, "produce", nil)
}

// produce runs the producers. stamp, when set, writes the send time into
// each value (e2e).
func produce(ctx context.Context, cfg *Config, mode string, stamp func([]byte)) (*Report, error) {
	hist := newHistogram()
	cnt := &counters{}
	payload := cfg.payload()
	producers := make([]*producer.Producer, cfg.Producers)
	for i := range producers {
		p, err := producer.New(cfg.producerOptions()...)
		if err != nil {
			for _, q := range producers[:i] {
				q.Close(context.Background())
			}
			return nil, fmt.Errorf("bench: %w", err)
		}
		producers[i] = p
	}
	start := time.Now()
	stop := make(chan struct{})
	var bg sync.WaitGroup
	reportProgress(cfg, mode, cfg.Records, cnt, start, stop, &bg)
	var wg sync.WaitGroup
	for i, p := range producers {
		n := cfg.Records / int64(cfg.Producers)
		if int64(i) < cfg.Records%int64(cfg.Producers) {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pace := newPacer(cfg.Rate / float64(cfg.Producers))
			for j := int64(0); j < n; j++ {
				if pace.wait(ctx, j) != nil {
					return
				}
				value := payload
				if stamp != nil {
					value = append([]byte(nil), payload...)
					stamp(value)
				}
				sent := time.Now()
				p.Send(ctx, &record.Record{Topic: cfg.Topic, Value: value}, func(r *record.Record, err error) {
					if err != nil {
						cnt.fail(err)
						return
					}
					hist.record(time.Since(sent))
					cnt.records.Add(1)
					cnt.bytes.Add(int64(len(r.Value)))
				})
			}
		}()
	}
	wg.Wait()
	var closeErr error
	for _, p := range producers {
		if err := p.Close(context.Background()); err != nil && closeErr == nil {
			closeErr = err
		}
	}
	elapsed := time.Since(start)
	close(stop)
	bg.Wait()
	r := finish(&Report{Mode: mode, Records: cnt.records.Load(), Bytes: cnt.bytes.Load(), Errors: cnt.errors.Load(), FirstError: cnt.firstError()}, elapsed, hist)
	if closeErr != nil && r.FirstError == "" {
		r.FirstError = closeErr.Error()
	}
	return r, nil
}

// stampNow writes the current time (Unix ns) into the first 8 bytes.
func stampNow(v []byte) {
	if len(v) >= 8 {
		binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano()))
	}
}

// stampOf reads a value's send time.
func stampOf(v []byte) (time.Time, bool) {
	if len(v) < 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), true
}
