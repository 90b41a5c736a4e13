package consumer

import (
	"fmt"
	"log/slog"
	"time"

	"strand.dev/client/internal/conn"
)

// Reset is what a consumer does when it has no valid offset for a partition
// (auto.offset.reset).
type Reset int

// The reset policies.
const (
	// ResetLatest starts at the end: only records produced from now on.
	ResetLatest Reset = iota
	// ResetEarliest starts at the log start offset: every record kept.
	ResetEarliest
	// ResetNone does not choose: Poll returns a *NoOffsetError (no position
	// was set with Seek) or an *OffsetOutOfRangeError (the position is
	// outside the log) for the partition, which stays stopped until Seek.
	ResetNone
)

// ParseReset parses earliest, latest or none.
func ParseReset(s string) (Reset, error) {
	switch s {
	case "earliest":
		return ResetEarliest, nil
	case "latest":
		return ResetLatest, nil
	case "none":
		return ResetNone, nil
	}
	return 0, fmt.Errorf("auto.offset.reset %q: want earliest, latest or none", s)
}

// String returns the policy as Kafka's auto.offset.reset writes it.
func (r Reset) String() string {
	switch r {
	case ResetLatest:
		return "latest"
	case ResetEarliest:
		return "earliest"
	case ResetNone:
		return "none"
	}
	return fmt.Sprintf("Reset(%d)", int(r))
}

// Option configures a Consumer.
type Option func(*config)

type config struct {
	conn              conn.Settings
	reset             Reset
	minBytes          int32
	maxWait           time.Duration
	maxPartitionBytes int32
	maxPollRecords    int
	requestTimeout    time.Duration
	grp               groupConfig // settings of a group consumer (group_options.go)
}

func defaults() config {
	return config{
		conn:              conn.Defaults(),
		reset:             ResetLatest,
		minBytes:          1,
		maxWait:           500 * time.Millisecond,
		maxPartitionBytes: 1 << 20,
		maxPollRecords:    500,
		requestTimeout:    30 * time.Second,
		grp:               groupDefaults(),
	}
}

func (c *config) validate() error {
	if err := c.conn.Validate(); err != nil {
		return err
	}
	if c.reset < ResetLatest || c.reset > ResetNone {
		return fmt.Errorf("unknown reset policy %d", int(c.reset))
	}
	if c.minBytes < 0 {
		return fmt.Errorf("fetch min bytes %d must not be negative", c.minBytes)
	}
	if c.maxWait < 0 || c.maxWait > time.Minute {
		return fmt.Errorf("fetch max wait %v must be within 0..1m", c.maxWait)
	}
	if c.maxPartitionBytes < 1024 {
		return fmt.Errorf("max partition fetch bytes %d is below 1024", c.maxPartitionBytes)
	}
	if c.maxPollRecords < 1 {
		return fmt.Errorf("max poll records %d must be at least 1", c.maxPollRecords)
	}
	if c.requestTimeout <= c.maxWait {
		return fmt.Errorf("request timeout %v must exceed the fetch max wait %v", c.requestTimeout, c.maxWait)
	}
	return nil
}

// Bootstrap sets the nodes asked first for the cluster's metadata: host:port
// of strand-meta nodes or data nodes, any mix. Default: the local
// development cluster (127.0.0.1:7001-7003 then 127.0.0.1:9001-9003).
func Bootstrap(addrs ...string) Option {
	return func(c *config) { c.conn.Bootstrap = append([]string(nil), addrs...) }
}

// Logger sets the logger. Default: none (the consumer is silent).
func Logger(l *slog.Logger) Option { return func(c *config) { c.conn.Logger = l } }

// DialTimeout bounds connecting to a node and each metadata request.
// Default 5 s.
func DialTimeout(d time.Duration) Option { return func(c *config) { c.conn.DialTimeout = d } }

// MetadataMaxAge is how long cached cluster metadata is used before it is
// refreshed even without an error. Default 5 minutes.
func MetadataMaxAge(d time.Duration) Option { return func(c *config) { c.conn.MetadataMaxAge = d } }

// AutoOffsetReset sets what happens when a partition has no valid position
// (auto.offset.reset). Default ResetLatest, as in Kafka.
func AutoOffsetReset(r Reset) Option { return func(c *config) { c.reset = r } }

// FetchMinBytes is how many bytes a fetch waits for before the leader
// answers (fetch.min.bytes). Default 1.
func FetchMinBytes(n int32) Option { return func(c *config) { c.minBytes = n } }

// FetchMaxWait bounds how long the leader holds a fetch waiting for
// FetchMinBytes (fetch.max.wait.ms). Default 500 ms.
func FetchMaxWait(d time.Duration) Option { return func(c *config) { c.maxWait = d } }

// MaxPartitionFetchBytes bounds the bytes one fetch of a partition returns
// (max.partition.fetch.bytes); a single larger batch still comes whole.
// Memory held per partition is at most about twice this. Default 1 MiB.
func MaxPartitionFetchBytes(n int32) Option { return func(c *config) { c.maxPartitionBytes = n } }

// MaxPollRecords bounds the records one Poll returns (max.poll.records).
// Default 500.
func MaxPollRecords(n int) Option { return func(c *config) { c.maxPollRecords = n } }

// RequestTimeout bounds one fetch or offset request, beyond the fetch's
// long-poll wait (request.timeout.ms). Default 30 s.
func RequestTimeout(d time.Duration) Option { return func(c *config) { c.requestTimeout = d } }

// RetryBackoff sets the delays between retries of failed fetches: base,
// doubling up to max, with jitter. Default 100 ms up to 1 s.
func RetryBackoff(base, max time.Duration) Option {
	return func(c *config) { c.conn.RetryBackoff.Base, c.conn.RetryBackoff.Max = base, max }
}
