package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"strand.dev/client/consumer"
)

// E2E produces cfg.Records records at cfg.Rate while cfg.Consumers
// consumers read the topic from its end, and reports the latency from each
// record's send to its consumption. Throughput figures are the consumers'.
func E2E(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.RecordSize < 8 {
		return nil, errors.New("bench: e2e needs records of at least 8 bytes (they carry the send time)")
	}
	parts, err := cfg.ensureTopic(ctx)
	if err != nil {
		return nil, err
	}
	hist := newHistogram()
	ready := make(chan struct{})
	type result struct {
		r   *Report
		err error
	}
	cres := make(chan result, 1)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ccfg := cfg
	ccfg.Progress = nil
	go func() {
		r, err := consume(cctx, &ccfg, "e2e", parts, consumer.ResetLatest, func(v []byte, now time.Time) {
			if sent, ok := stampOf(v); ok {
				hist.record(now.Sub(sent))
			}
		}, ready)
		cres <- result{r, err}
	}()
	select {
	case <-ready:
	case res := <-cres:
		return nil, fmt.Errorf("bench: consumers: %v", res.err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	pr, err := produce(ctx, &cfg, "e2e", stampNow)
	if err != nil {
		cancel()
		<-cres
		return nil, err
	}
	res := <-cres
	if res.err != nil {
		return nil, res.err
	}
	r := res.r
	r.Errors += pr.Errors
	if r.FirstError == "" {
		r.FirstError = pr.FirstError
	}
	r.Latency = hist.summary()
	return r, nil
}
