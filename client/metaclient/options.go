package metaclient

import (
	"log/slog"
	"time"
)

// Option configures a Client.
type Option func(*config)

type config struct {
	timeout       time.Duration
	dialTimeout   time.Duration
	watchWait     time.Duration
	maxResponse   int
	maxConns      int
	backoffBase   time.Duration
	backoffMax    time.Duration
	maxAttempts   int
	logger        *slog.Logger
	userAgentName string
}

func defaultConfig() config {
	return config{
		timeout:     10 * time.Second,
		dialTimeout: 3 * time.Second,
		watchWait:   30 * time.Second,
		maxResponse: 256 << 20,
		maxConns:    512,
		backoffBase: 50 * time.Millisecond,
		backoffMax:  2 * time.Second,
	}
}

// WithTimeout bounds one attempt of a request (connect, send, wait for the
// answer, read it). Default 10 s. A Propose waits for raft to commit and
// apply the command, so keep it above strand-meta's own propose timeout.
// The whole call, with its retries, is bounded by the caller's context.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithDialTimeout bounds connecting to a node. Default 3 s; never more than
// the attempt timeout.
func WithDialTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.dialTimeout = d
		}
	}
}

// WithWatchWait is how long one watch long-poll asks the server to wait for a
// newer image (the server caps it). Default 30 s. The attempt's deadline is
// this wait plus the attempt timeout.
func WithWatchWait(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.watchWait = d
		}
	}
}

// WithMaxResponseBytes bounds an answer's body; a longer one fails with
// ErrResponseTooLarge. Default 256 MiB (the JSON image of 100,000 partitions
// is about 10 MiB).
func WithMaxResponseBytes(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxResponse = n
		}
	}
}

// WithMaxConnsPerNode bounds the connections kept to one node. Default 512
// (each watcher holds one for its long-poll).
func WithMaxConnsPerNode(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxConns = n
		}
	}
}

// WithBackoff sets the retry delays: base before the first retry round,
// doubling up to max, with jitter. Defaults 50 ms and 2 s.
func WithBackoff(base, max time.Duration) Option {
	return func(c *config) {
		if base > 0 {
			c.backoffBase = base
		}
		if max > 0 {
			c.backoffMax = max
		}
	}
}

// WithMaxAttempts bounds the attempts of one call (across all addresses);
// 0, the default, retries until the caller's context ends. Tools that must
// not wait long (the CLI) set it, or pass a context with a deadline.
func WithMaxAttempts(n int) Option {
	return func(c *config) {
		if n >= 0 {
			c.maxAttempts = n
		}
	}
}

// WithLogger receives the client's debug logs (retries, failovers). The
// default logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithName sets the User-Agent the client sends. Default "strand-metaclient".
func WithName(name string) Option {
	return func(c *config) { c.userAgentName = name }
}
