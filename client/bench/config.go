package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"strand.dev/client/admin"
	"strand.dev/client/producer"
)

// Config describes a run. Zero fields take the defaults noted.
type Config struct {
	// Bootstrap is the cluster's bootstrap list (required).
	Bootstrap []string
	// Topic to use (required).
	Topic string
	// Records to produce (produce, e2e) or consume (consume). Required.
	Records int64
	// RecordSize is the value size in bytes. Default 1024.
	RecordSize int
	// Producers and Consumers are how many clients run in parallel, each
	// with its own connections. Default 1 each.
	Producers int
	Consumers int
	// Partitions, when > 0, creates the topic with this many partitions if
	// it does not exist (ReplicationFactor replicas; 0 = cluster default).
	Partitions        int32
	ReplicationFactor int16
	// Acks, Compression, BatchSize, Linger and MaxInFlight are the
	// producers' settings. Defaults: all, none, 256 KiB, 5 ms, and the
	// producer's own default in flight (5 with idempotence, as with
	// acks=all; 1 without).
	Acks        producer.Acks
	AcksSet     bool // Acks was set (AcksNone is 0)
	Compression producer.Compression
	BatchSize   int
	Linger      time.Duration
	MaxInFlight int
	// Rate is the target records per second over all producers; 0 is as
	// fast as possible.
	Rate float64
	// IdleTimeout ends a consume or e2e run when no record arrived for
	// this long. Default 30 s.
	IdleTimeout time.Duration
	// Logger for the clients; nil is silent.
	Logger *slog.Logger
	// Progress, when set, is called about every 500 ms.
	Progress func(Progress)
}

func (c *Config) defaults() error {
	if len(c.Bootstrap) == 0 {
		return errors.New("bench: no bootstrap address")
	}
	if c.Topic == "" {
		return errors.New("bench: no topic")
	}
	if c.Records <= 0 {
		return fmt.Errorf("bench: records %d must be positive", c.Records)
	}
	if c.RecordSize == 0 {
		c.RecordSize = 1024
	}
	if c.RecordSize < 0 {
		return fmt.Errorf("bench: record size %d must be positive", c.RecordSize)
	}
	if c.Producers == 0 {
		c.Producers = 1
	}
	if c.Consumers == 0 {
		c.Consumers = 1
	}
	if c.Producers < 0 || c.Consumers < 0 {
		return errors.New("bench: producers and consumers must be positive")
	}
	if !c.AcksSet {
		c.Acks = producer.AcksAll
	}
	if c.BatchSize == 0 {
		c.BatchSize = 256 << 10
	}
	if c.Linger == 0 {
		c.Linger = 5 * time.Millisecond
	}
	if c.MaxInFlight < 0 {
		return fmt.Errorf("bench: max in flight %d must not be negative", c.MaxInFlight)
	}
	if c.Rate < 0 {
		return fmt.Errorf("bench: rate %v must not be negative", c.Rate)
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 30 * time.Second
	}
	return nil
}

// ensureTopic creates the topic when Partitions is set and it is missing,
// and returns its partition count.
func (c *Config) ensureTopic(ctx context.Context) (int, error) {
	adm, err := admin.New(admin.Bootstrap(c.Bootstrap...), admin.Logger(c.Logger))
	if err != nil {
		return 0, err
	}
	defer adm.Close()
	if c.Partitions > 0 {
		_, err := adm.CreateTopic(ctx, admin.NewTopic{Name: c.Topic, Partitions: c.Partitions, ReplicationFactor: c.ReplicationFactor})
		if err != nil && !errors.Is(err, admin.ErrTopicExists) {
			return 0, fmt.Errorf("bench: creating topic %s: %w", c.Topic, err)
		}
	}
	// The topic may take a moment to reach every node's metadata.
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := adm.DescribeTopic(ctx, c.Topic)
		if err == nil {
			ready := true
			for _, p := range d.Partitions {
				if p.Leader < 0 || p.Error != "" {
					ready = false
				}
			}
			if ready {
				return len(d.Partitions), nil
			}
		} else if errors.Is(err, admin.ErrUnknownTopic) && c.Partitions == 0 {
			return 0, fmt.Errorf("bench: topic %s does not exist; give a partition count (--partitions N) to create it", c.Topic)
		} else if !errors.Is(err, admin.ErrUnknownTopic) {
			return 0, fmt.Errorf("bench: topic %s: %w", c.Topic, err)
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("bench: topic %s has no leader for every partition after 30s", c.Topic)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// payload returns RecordSize random letters.
func (c *Config) payload() []byte {
	b := make([]byte, c.RecordSize)
	for i := range b {
		b[i] = byte('A' + rand.IntN(26))
	}
	return b
}

func (c *Config) producerOptions() []producer.Option {
	opts := []producer.Option{
		producer.Bootstrap(c.Bootstrap...), producer.Logger(c.Logger),
		producer.RequiredAcks(c.Acks), producer.WithCompression(c.Compression),
		producer.BatchSize(c.BatchSize), producer.Linger(c.Linger),
		producer.BufferMemory(64 << 20), producer.MaxRequestSize(max(1<<20, c.BatchSize+c.RecordSize+1024)),
	}
	if c.MaxInFlight > 0 {
		opts = append(opts, producer.MaxInFlight(c.MaxInFlight))
	}
	return opts
}

// pacer spaces sends to a rate.
type pacer struct {
	start    time.Time
	interval time.Duration // 0: no pacing
}

func newPacer(rate float64) *pacer {
	p := &pacer{start: time.Now()}
	if rate > 0 {
		p.interval = time.Duration(float64(time.Second) / rate)
	}
	return p
}

// wait blocks until record i is due.
func (p *pacer) wait(ctx context.Context, i int64) error {
	if p.interval == 0 {
		return ctx.Err()
	}
	due := p.start.Add(time.Duration(i) * p.interval)
	d := time.Until(due)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
