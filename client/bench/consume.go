package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"strand.dev/client/consumer"
)

// Consume reads cfg.Records records of cfg.Topic from the earliest offset
// with cfg.Consumers consumers (partitions dealt round-robin) and reports
// throughput and how long Polls waited. It stops early when no record
// arrived for cfg.IdleTimeout.
func Consume(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	parts, err := cfg.ensureTopic(ctx)
	if err != nil {
		return nil, err
	}
	return consume(ctx, &cfg, "consume", parts, consumer.ResetEarliest, nil, nil)
}

// consume runs the consumers until cfg.Records arrived, ctx ends or no
// record came for IdleTimeout. onRecord sees each value (e2e); ready, when
// set, is closed once every consumer knows its start position.
func consume(ctx context.Context, cfg *Config, mode string, parts int, reset consumer.Reset,
	onRecord func(v []byte, now time.Time), ready chan<- struct{}) (*Report, error) {
	hist := newHistogram()
	cnt := &counters{}
	n := min(cfg.Consumers, parts)
	cons := make([]*consumer.Consumer, n)
	for i := range cons {
		c, err := consumer.New(consumer.Bootstrap(cfg.Bootstrap...), consumer.Logger(cfg.Logger), consumer.AutoOffsetReset(reset),
			consumer.MaxPollRecords(10000), consumer.FetchMaxWait(100*time.Millisecond))
		if err != nil {
			for _, d := range cons[:i] {
				d.Close()
			}
			return nil, fmt.Errorf("bench: %w", err)
		}
		cons[i] = c
		var tps []consumer.TopicPartition
		for p := i; p < parts; p += n {
			tps = append(tps, consumer.TopicPartition{Topic: cfg.Topic, Partition: int32(p)})
		}
		c.Assign(tps...)
	}
	defer func() {
		for _, c := range cons {
			c.Close()
		}
	}()
	if ready != nil {
		if err := waitPositions(ctx, cons); err != nil {
			return nil, err
		}
		close(ready)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	stop := make(chan struct{})
	var bg sync.WaitGroup
	reportProgress(cfg, mode, cfg.Records, cnt, start, stop, &bg)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		lastRec = time.Now() // guarded by mu
	)
	for _, c := range cons {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for cnt.records.Load() < cfg.Records {
				pctx, pcancel := context.WithTimeout(ctx, time.Second)
				began := time.Now()
				recs, err := c.Poll(pctx)
				pcancel()
				now := time.Now()
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					if errors.Is(err, context.DeadlineExceeded) {
						mu.Lock()
						idle := now.Sub(lastRec)
						mu.Unlock()
						if idle >= cfg.IdleTimeout {
							cnt.fail(fmt.Errorf("no record for %v", cfg.IdleTimeout))
							cancel()
							return
						}
						continue
					}
					cnt.fail(err)
					continue
				}
				if onRecord == nil {
					hist.record(now.Sub(began))
				}
				var bytes int64
				for _, r := range recs {
					bytes += int64(len(r.Key) + len(r.Value))
					if onRecord != nil {
						onRecord(r.Value, now)
					}
				}
				mu.Lock()
				lastRec = now
				mu.Unlock()
				cnt.bytes.Add(bytes)
				if cnt.records.Add(int64(len(recs))) >= cfg.Records {
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	bg.Wait()
	return finish(&Report{Mode: mode, Records: cnt.records.Load(), Bytes: cnt.bytes.Load(), Errors: cnt.errors.Load(), FirstError: cnt.firstError()}, elapsed, hist), nil
}

// waitPositions waits until every assigned partition has a position.
func waitPositions(ctx context.Context, cons []*consumer.Consumer) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, c := range cons {
			for _, tp := range c.Assignment() {
				if p, _ := c.Position(tp); p < 0 {
					ok = false
				}
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("bench: consumers found no start position within 30s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
