package admin

import (
	"fmt"
	"log/slog"
	"time"

	"strand.dev/client/internal/conn"
)

// Option configures an Admin.
type Option func(*config)

type config struct {
	conn         conn.Settings
	retryTimeout time.Duration
	coordinators []string
}

func defaults() config {
	return config{conn: conn.Defaults(), retryTimeout: 30 * time.Second}
}

func (c *config) validate() error {
	if err := c.conn.Validate(); err != nil {
		return err
	}
	if c.retryTimeout <= 0 {
		return fmt.Errorf("retry timeout %v must be positive", c.retryTimeout)
	}
	return nil
}

// Bootstrap sets the nodes asked first for the cluster's metadata: host:port
// of strand-meta nodes or data nodes, any mix. Default: the local
// development cluster (127.0.0.1:7001-7003 then 127.0.0.1:9001-9003).
func Bootstrap(addrs ...string) Option {
	return func(c *config) { c.conn.Bootstrap = append([]string(nil), addrs...) }
}

// Logger sets the logger. Default: none (the client is silent).
func Logger(l *slog.Logger) Option { return func(c *config) { c.conn.Logger = l } }

// DialTimeout bounds connecting to a node and each metadata request.
// Default 5 s.
func DialTimeout(d time.Duration) Option { return func(c *config) { c.conn.DialTimeout = d } }

// RetryTimeout is how long a request that fails retriably is retried when
// the caller's context has no earlier deadline. Default 30 s.
func RetryTimeout(d time.Duration) Option { return func(c *config) { c.retryTimeout = d } }

// RetryBackoff sets the delays between retries: base, doubling up to max.
// Default 100 ms up to 1 s.
func RetryBackoff(base, max time.Duration) Option {
	return func(c *config) { c.conn.RetryBackoff.Base, c.conn.RetryBackoff.Max = base, max }
}

// Coordinators sets the strand-coordinator API addresses (host:port) asked
// to find a group's coordinator, in place of the live coordinators the
// cluster metadata names. Needed for a standalone coordinator, which no
// metadata lists. Default: the metadata's.
func Coordinators(addrs ...string) Option {
	return func(c *config) { c.coordinators = append([]string(nil), addrs...) }
}
