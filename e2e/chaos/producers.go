package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"strand.dev/client/partitioner"
	"strand.dev/client/producer"
	"strand.dev/client/record"
)

// ProducerConfig is the produce side of the workload.
type ProducerConfig struct {
	// Run names the run; it is in every record's value.
	Run       string
	Bootstrap []string
	// Topics are written to, each by PerTopic producers, each sending Rate
	// records per second round-robin over the topic's Partitions.
	Topics     []string
	Partitions int32
	PerTopic   int
	Rate       float64
	// ValueBytes pads each record's value.
	ValueBytes int
	// Idempotence asks for idempotent producers (no duplicates on retries);
	// where the client library does not support it yet, the producers run
	// without it and Idempotent reports so.
	Idempotence bool
	Logger      *slog.Logger
}

// Producers is the running produce workload: acks=all producers with one
// request in flight per partition (so retries keep order), each writing
// sequence-numbered records and reporting every outcome to the Ledger.
type Producers struct {
	cfg     ProducerConfig
	ledger  *Ledger
	clients []*producer.Producer
	stop    chan struct{}
	wg      sync.WaitGroup // the sending goroutines, one per producer
	// Idempotent reports whether the producers are idempotent.
	Idempotent bool
}

// StartProducers starts the produce workload.
func StartProducers(cfg ProducerConfig, ledger *Ledger) (*Producers, error) {
	if cfg.Rate <= 0 || cfg.PerTopic < 1 || cfg.Partitions < 1 {
		return nil, fmt.Errorf("chaos: producers: rate %v, %d per topic, %d partitions", cfg.Rate, cfg.PerTopic, cfg.Partitions)
	}
	ps := &Producers{cfg: cfg, ledger: ledger, stop: make(chan struct{}), Idempotent: cfg.Idempotence}
	if ps.Idempotent {
		// New does no I/O: this only asks the library whether it can.
		p, err := producer.New(producer.Bootstrap(cfg.Bootstrap...), producer.Idempotence(true))
		switch {
		case errors.Is(err, producer.ErrIdempotenceUnsupported):
			ps.Idempotent = false
		case err == nil:
			p.Close(context.Background())
		}
	}
	id := 0
	for _, topic := range cfg.Topics {
		for i := 0; i < cfg.PerTopic; i++ {
			opts := []producer.Option{
				producer.Bootstrap(cfg.Bootstrap...),
				producer.RequiredAcks(producer.AcksAll),
				producer.WithPartitioner(partitioner.Manual()),
				producer.MaxInFlight(1),
				producer.Linger(5 * time.Millisecond),
				producer.RequestTimeout(10 * time.Second),
				producer.DeliveryTimeout(5 * time.Minute),
				producer.MaxBlock(30 * time.Second),
				producer.MetadataMaxAge(5 * time.Second),
			}
			if cfg.Logger != nil {
				opts = append(opts, producer.Logger(cfg.Logger.With("producer", id)))
			}
			if ps.Idempotent {
				opts = append(opts, producer.Idempotence(true))
			}
			p, err := producer.New(opts...)
			if err != nil {
				ps.Stop(context.Background())
				return nil, err
			}
			ps.clients = append(ps.clients, p)
			ps.wg.Add(1)
			go ps.send(p, id, topic)
			id++
		}
	}
	return ps, nil
}

// send is one producer's loop: a record every 1/Rate seconds, to the
// topic's partitions in turn.
func (ps *Producers) send(p *producer.Producer, id int, topic string) {
	defer ps.wg.Done()
	tick := time.NewTicker(time.Duration(float64(time.Second) / ps.cfg.Rate))
	defer tick.Stop()
	seqs := make([]int64, ps.cfg.Partitions)
	part := int32(id) % ps.cfg.Partitions
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-ps.stop
		cancel()
	}()
	for {
		select {
		case <-ps.stop:
			return
		case <-tick.C:
		}
		tp := TP{Topic: topic, Partition: part}
		rid := RecordID{Producer: id, Seq: seqs[part]}
		seqs[part]++
		part = (part + 1) % ps.cfg.Partitions
		rec := &record.Record{Topic: topic, Partition: tp.Partition, Value: EncodeValue(ps.cfg.Run, tp, rid, ps.cfg.ValueBytes)}
		ps.ledger.Sent(tp, rid)
		p.Send(ctx, rec, func(r *record.Record, err error) {
			if err != nil {
				ps.ledger.Failed(tp, rid, err)
				return
			}
			ps.ledger.Acked(tp, rid, r.Offset)
		})
	}
}

// Stop stops sending and closes the producers, waiting until ctx ends for
// what is buffered to be acknowledged (what is not fails).
func (ps *Producers) Stop(ctx context.Context) error {
	select {
	case <-ps.stop:
	default:
		close(ps.stop)
	}
	ps.wg.Wait()
	var firstErr error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, p := range ps.clients {
		wg.Add(1)
		go func(p *producer.Producer) {
			defer wg.Done()
			if err := p.Close(ctx); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}(p)
	}
	wg.Wait()
	return firstErr
}
