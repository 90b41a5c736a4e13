// Package conn holds the connection settings every client role shares
// (bootstrap list, logger, timeouts) and opens the transport and router
// they use.
package conn

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"strand.dev/client/internal/backoff"
	"strand.dev/client/internal/routing"
	"strand.dev/client/internal/transport"
)

// DefaultBootstrap is the bootstrap list used when none is given: the
// strand-meta nodes and then the data nodes of the local development
// cluster that `make run` starts.
var DefaultBootstrap = []string{
	"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003",
	"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003",
}

// Settings are the connection settings of a client role.
type Settings struct {
	Bootstrap      []string
	Logger         *slog.Logger
	DialTimeout    time.Duration
	MetadataMaxAge time.Duration
	RetryBackoff   backoff.Policy
}

// Defaults returns the default settings.
func Defaults() Settings {
	return Settings{
		Bootstrap:      append([]string(nil), DefaultBootstrap...),
		DialTimeout:    5 * time.Second,
		MetadataMaxAge: 5 * time.Minute,
		RetryBackoff:   backoff.Policy{Base: 100 * time.Millisecond, Max: time.Second, Jitter: 0.2},
	}
}

// Validate checks the settings.
func (s *Settings) Validate() error {
	if len(s.Bootstrap) == 0 {
		return errors.New("empty bootstrap list")
	}
	for _, a := range s.Bootstrap {
		if err := routing.CheckAddr(a); err != nil {
			return err
		}
	}
	if s.DialTimeout <= 0 {
		return fmt.Errorf("dial timeout %v must be positive", s.DialTimeout)
	}
	if s.MetadataMaxAge <= 0 {
		return fmt.Errorf("metadata max age %v must be positive", s.MetadataMaxAge)
	}
	if s.RetryBackoff.Base <= 0 || s.RetryBackoff.Max < s.RetryBackoff.Base {
		return fmt.Errorf("retry backoff %v..%v: the base must be positive and not above the maximum", s.RetryBackoff.Base, s.RetryBackoff.Max)
	}
	return nil
}

// Log returns the logger, a discarding one when none was set.
func (s *Settings) Log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Open builds the transport and router for validated settings.
func (s *Settings) Open() (*transport.Client, *routing.Router, error) {
	tr := transport.New(transport.Config{DialTimeout: s.DialTimeout, Logger: s.Logger})
	r, err := routing.New(routing.Config{
		Bootstrap: s.Bootstrap, Transport: tr, MaxAge: s.MetadataMaxAge,
		AttemptTimeout: s.DialTimeout, Logger: s.Logger,
	})
	if err != nil {
		tr.Close()
		return nil, nil, err
	}
	return tr, r, nil
}
