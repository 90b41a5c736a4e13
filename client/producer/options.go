package producer

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"strand.dev/client/internal/conn"
	"strand.dev/client/partitioner"
)

// Acks is how many replicas must have a batch before the leader answers.
type Acks int

// The acks levels, as Kafka's acks setting.
const (
	// AcksAll: every in-sync replica has the batch (acks=all, -1), and the
	// ISR has at least min.insync.replicas members.
	AcksAll Acks = -1
	// AcksNone: the leader answers at once (acks=0); offsets are unknown (-1)
	// and a failure to append is not seen.
	AcksNone Acks = 0
	// AcksLeader: the leader appended the batch to its log (acks=1).
	AcksLeader Acks = 1
)

// ParseAcks parses "all", "-1", "0" or "1".
func ParseAcks(s string) (Acks, error) {
	switch s {
	case "all", "-1":
		return AcksAll, nil
	case "0":
		return AcksNone, nil
	case "1":
		return AcksLeader, nil
	}
	return 0, fmt.Errorf("acks %q: want all, -1, 0 or 1", s)
}

// String returns the acks level as Kafka writes it.
func (a Acks) String() string {
	switch a {
	case AcksAll:
		return "all"
	case AcksNone:
		return "0"
	case AcksLeader:
		return "1"
	}
	return fmt.Sprintf("Acks(%d)", int(a))
}

// Option configures a Producer.
type Option func(*config)

type config struct {
	conn            conn.Settings
	acks            Acks
	batchSize       int
	linger          time.Duration
	compression     Compression
	maxRequestSize  int
	bufferMemory    int64
	maxBlock        time.Duration
	deliveryTimeout time.Duration
	requestTimeout  time.Duration
	retries         int
	maxInFlight     int
	partitioner     partitioner.Partitioner
	idempotent      bool
	// idempotentSet and maxInFlightSet: the option was given (else the
	// default follows from the other settings, as in Kafka).
	idempotentSet  bool
	maxInFlightSet bool
}

// MaxInFlightIdempotent is the most requests per partition an idempotent
// producer may have in flight: the partition leaders remember the last five
// batches of each producer, so a retry is always one they recognise.
const MaxInFlightIdempotent = 5

func defaults() config {
	return config{
		conn:            conn.Defaults(),
		acks:            AcksAll,
		batchSize:       16 << 10,
		linger:          5 * time.Millisecond,
		compression:     CompressionNone,
		maxRequestSize:  1 << 20,
		bufferMemory:    32 << 20,
		maxBlock:        60 * time.Second,
		deliveryTimeout: 120 * time.Second,
		requestTimeout:  30 * time.Second,
		retries:         math.MaxInt32,
		maxInFlight:     1,
		partitioner:     partitioner.Default(),
	}
}

func (c *config) validate() error {
	if err := c.conn.Validate(); err != nil {
		return err
	}
	switch c.acks {
	case AcksAll, AcksNone, AcksLeader:
	default:
		return fmt.Errorf("acks %d: want -1 (all), 0 or 1", int(c.acks))
	}
	if c.batchSize < 1 {
		return fmt.Errorf("batch size %d must be positive", c.batchSize)
	}
	if c.linger < 0 {
		return fmt.Errorf("linger %v must not be negative", c.linger)
	}
	if !c.compression.valid() {
		return fmt.Errorf("unknown compression %d", int(c.compression))
	}
	if c.maxRequestSize < 1024 {
		return fmt.Errorf("max request size %d is below 1024 bytes", c.maxRequestSize)
	}
	if c.bufferMemory < int64(c.maxRequestSize) {
		return fmt.Errorf("buffer memory %d is smaller than the max request size %d", c.bufferMemory, c.maxRequestSize)
	}
	if c.maxBlock <= 0 {
		return fmt.Errorf("max block %v must be positive", c.maxBlock)
	}
	if c.requestTimeout <= 0 {
		return fmt.Errorf("request timeout %v must be positive", c.requestTimeout)
	}
	if c.deliveryTimeout < c.linger+c.requestTimeout {
		return fmt.Errorf("delivery timeout %v must be at least linger + request timeout (%v)", c.deliveryTimeout, c.linger+c.requestTimeout)
	}
	if c.retries < 0 {
		return fmt.Errorf("retries %d must not be negative", c.retries)
	}
	if c.maxInFlight < 1 {
		return fmt.Errorf("max in flight %d must be at least 1", c.maxInFlight)
	}
	if c.partitioner == nil {
		return fmt.Errorf("no partitioner")
	}
	if c.idempotentSet && c.idempotent {
		switch {
		case c.acks != AcksAll:
			return fmt.Errorf("idempotence needs acks=all, not acks=%v", c.acks)
		case c.retries < 1:
			return fmt.Errorf("idempotence needs retries (retries is %d)", c.retries)
		case c.maxInFlightSet && c.maxInFlight > MaxInFlightIdempotent:
			return fmt.Errorf("idempotence allows at most %d requests in flight per partition, not %d", MaxInFlightIdempotent, c.maxInFlight)
		}
	}
	return nil
}

// resolve fills in the defaults that depend on other settings: idempotence
// is on unless switched off or in conflict with acks, retries or max in
// flight (Kafka 3.2 and later behave so when enable.idempotence is not
// set); requests in flight per partition default to MaxInFlightIdempotent
// with idempotence and to 1 without.
func (c *config) resolve() {
	if !c.idempotentSet {
		c.idempotent = c.acks == AcksAll && c.retries > 0 && (!c.maxInFlightSet || c.maxInFlight <= MaxInFlightIdempotent)
	}
	if !c.maxInFlightSet {
		c.maxInFlight = 1
		if c.idempotent {
			c.maxInFlight = MaxInFlightIdempotent
		}
	}
}

// Bootstrap sets the nodes asked first for the cluster's metadata: host:port
// of strand-meta nodes or data nodes, any mix. Default: the local
// development cluster (127.0.0.1:7001-7003 then 127.0.0.1:9001-9003).
func Bootstrap(addrs ...string) Option {
	return func(c *config) { c.conn.Bootstrap = append([]string(nil), addrs...) }
}

// Logger sets the logger. Default: none (the producer is silent).
func Logger(l *slog.Logger) Option { return func(c *config) { c.conn.Logger = l } }

// DialTimeout bounds connecting to a node and each metadata request.
// Default 5 s.
func DialTimeout(d time.Duration) Option { return func(c *config) { c.conn.DialTimeout = d } }

// MetadataMaxAge is how long cached cluster metadata is used before it is
// refreshed even without an error. Default 5 minutes.
func MetadataMaxAge(d time.Duration) Option { return func(c *config) { c.conn.MetadataMaxAge = d } }

// RequiredAcks sets acks. Default AcksAll. With AcksNone nothing tells the
// producer that a batch was lost; records are reported delivered with offset
// -1 once sent.
func RequiredAcks(a Acks) Option { return func(c *config) { c.acks = a } }

// BatchSize is the size in bytes (uncompressed estimate) at which a
// partition's batch is sealed and sent (batch.size). A record larger than it
// goes in a batch of its own. Default 16 KiB.
func BatchSize(n int) Option { return func(c *config) { c.batchSize = n } }

// Linger is how long a partition's batch waits for more records before it
// is sent when it is not full (linger.ms). 0 sends at once, but a batch
// still collects records while the partition's previous request is in
// flight. Default 5 ms.
func Linger(d time.Duration) Option { return func(c *config) { c.linger = d } }

// WithCompression sets the codec batches are compressed with. Default
// CompressionNone.
func WithCompression(c Compression) Option { return func(cf *config) { cf.compression = c } }

// MaxRequestSize bounds the bytes of one produce request, and so the largest
// record (max.request.size). Several sealed batches of a partition go in one
// request up to this size. Default 1 MiB. The topic's max.message.bytes,
// enforced by the data node, may be smaller.
func MaxRequestSize(n int) Option { return func(c *config) { c.maxRequestSize = n } }

// BufferMemory bounds the bytes of records buffered and in flight
// (buffer.memory), counted as their uncompressed size. When it is used up,
// Send waits (back-pressure) up to MaxBlock. The encoded batches of requests
// in flight come on top: at most about as much again. Default 32 MiB.
func BufferMemory(n int64) Option { return func(c *config) { c.bufferMemory = n } }

// MaxBlock bounds how long Send waits for buffer memory and for the topic's
// metadata (max.block.ms); the context given to Send may end it sooner.
// Default 60 s.
func MaxBlock(d time.Duration) Option { return func(c *config) { c.maxBlock = d } }

// DeliveryTimeout bounds the time from Send buffering a record to its
// callback (delivery.timeout.ms), retries included. It must be at least
// Linger + RequestTimeout. Default 120 s.
func DeliveryTimeout(d time.Duration) Option { return func(c *config) { c.deliveryTimeout = d } }

// RequestTimeout bounds one produce request, the leader's wait for acks=all
// included (request.timeout.ms). Default 30 s.
func RequestTimeout(d time.Duration) Option { return func(c *config) { c.requestTimeout = d } }

// Retries bounds how many times a batch is sent again after a retriable
// error (retries). Default: unlimited within DeliveryTimeout.
func Retries(n int) Option { return func(c *config) { c.retries = n } }

// RetryBackoff sets the delays between retries: base, doubling up to max,
// with jitter (retry.backoff.ms, retry.backoff.max.ms). The cluster metadata
// is refreshed before every retry. Default 100 ms up to 1 s.
func RetryBackoff(base, max time.Duration) Option {
	return func(c *config) { c.conn.RetryBackoff.Base, c.conn.RetryBackoff.Max = base, max }
}

// MaxInFlight bounds the produce requests in flight per partition
// (max.in.flight.requests.per.connection). Default MaxInFlightIdempotent (5)
// for an idempotent producer, which keeps records in order across retries
// at any setting up to 5; 1 without idempotence. Without idempotence and
// with more than one, a request that fails and is retried may land after a
// later one that succeeded, so order holds only while there are no retries
// (as in Kafka); after a failure the partition drops back to one request in
// flight until a request succeeds again.
func MaxInFlight(n int) Option {
	return func(c *config) { c.maxInFlight, c.maxInFlightSet = n, true }
}

// WithPartitioner sets how records are spread over partitions. Default
// partitioner.Default(): Kafka's murmur2 for keys, sticky batches otherwise.
func WithPartitioner(p partitioner.Partitioner) Option { return func(c *config) { c.partitioner = p } }

// Idempotence switches idempotent produce on or off (enable.idempotence).
// An idempotent producer takes a producer id from the cluster and numbers
// each partition's batches; a retry carries the same numbers, so the
// partition leader answers a batch it already has with its offsets instead
// of writing it twice, and refuses a batch that would leave a gap. Every
// acknowledged record is then written exactly once, in the order sent,
// whatever the retries (a record that fails, after DeliveryTimeout for
// example, may or may not have been written).
//
// Default: on, as in Kafka 3.x, unless RequiredAcks is not AcksAll, Retries
// is 0 or MaxInFlight is above MaxInFlightIdempotent, in which case it is
// off. Asking for it explicitly together with one of those is an error.
func Idempotence(on bool) Option {
	return func(c *config) { c.idempotent, c.idempotentSet = on, true }
}
