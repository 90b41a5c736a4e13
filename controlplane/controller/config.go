package controller

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"strand.dev/controlplane/membership"
)

// Config configures a controller.
type Config struct {
	// ID names this controller (the lease holder and its gossip id).
	ID string
	// ListenAddr is the admin API's host:port (port 0 picks one).
	ListenAddr string
	// AdvertiseAddr is the admin API address written into the lease, where
	// standbys forward to and clients send admin requests; empty: the
	// listener's address.
	AdvertiseAddr string
	// Lease is the controller lease duration (default 3 s): a standby takes
	// over this long after the active controller's last renewal.
	Lease time.Duration
	// ReconcileInterval is the period of the full reconcile of gossip
	// against the image (default 2 s).
	ReconcileInterval time.Duration
	// RebalanceInterval is how often preferred leaders are restored
	// (default 10 s).
	RebalanceInterval time.Duration
	// AutoLeaderRebalance enables preferred-leader rebalancing
	// (Kafka's auto.leader.rebalance.enable, default true).
	AutoLeaderRebalance bool
	// UncleanLeaderElection is the default of the topic config
	// unclean.leader.election.enable (default false).
	UncleanLeaderElection bool
	// DefaultReplicationFactor is used by create-topic requests that give
	// none (default 3).
	DefaultReplicationFactor int
	// MaxPartitionsPerTopic bounds a create-topic request (default 10000).
	MaxPartitionsPerTopic int
	// MaxChangesPerCommand bounds one update_partitions command (default 5000).
	MaxChangesPerCommand int
	// MaxRequestBytes bounds an admin request body (default 1 MiB).
	MaxRequestBytes int
	// ShutdownWaitMax caps a controlled-shutdown request's wait (default 30 s).
	ShutdownWaitMax time.Duration
	// ShutdownMarkTTL is how long a node stays marked as shutting down
	// after its last controlled-shutdown request (default 2 min).
	ShutdownMarkTTL time.Duration
	// RequestTimeout bounds one write to strand-meta and one forwarded
	// request (default 10 s).
	RequestTimeout time.Duration
	// Membership configures the gossip pool the controller joins (its Role
	// and ID are set from the controller's). Ignored when Deps.Gossip is set.
	Membership membership.Config
	// Logger receives logs; nil discards them.
	Logger *slog.Logger
}

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("controller: invalid config")

// Validate checks the config and fills in defaults.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c.ID == "" {
		return bad("id is empty")
	}
	if c.ListenAddr == "" {
		return bad("listen address is empty")
	}
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		return bad("listen address %q: %v", c.ListenAddr, err)
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdvertiseAddr); err != nil {
			return bad("advertise address %q: %v", c.AdvertiseAddr, err)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Lease, 3*time.Second)
	def(&c.ReconcileInterval, 2*time.Second)
	def(&c.RebalanceInterval, 10*time.Second)
	def(&c.ShutdownWaitMax, 30*time.Second)
	def(&c.ShutdownMarkTTL, 2*time.Minute)
	def(&c.RequestTimeout, 10*time.Second)
	defInt(&c.DefaultReplicationFactor, 3)
	defInt(&c.MaxPartitionsPerTopic, 10000)
	defInt(&c.MaxChangesPerCommand, 5000)
	defInt(&c.MaxRequestBytes, 1<<20)
	switch {
	case c.Lease < 300*time.Millisecond || c.Lease > 10*time.Minute:
		return bad("lease %v must be 300ms to 10m", c.Lease)
	case c.ReconcileInterval < 10*time.Millisecond:
		return bad("reconcile interval %v is too short", c.ReconcileInterval)
	case c.RebalanceInterval < 10*time.Millisecond:
		return bad("rebalance interval %v is too short", c.RebalanceInterval)
	case c.DefaultReplicationFactor < 1 || c.DefaultReplicationFactor > 64:
		return bad("default replication factor %d must be 1 to 64", c.DefaultReplicationFactor)
	case c.MaxPartitionsPerTopic < 1 || c.MaxPartitionsPerTopic > 100_000:
		return bad("max partitions per topic %d must be 1 to 100000", c.MaxPartitionsPerTopic)
	case c.MaxChangesPerCommand < 1:
		return bad("max changes per command must be positive")
	case c.MaxRequestBytes < 1024:
		return bad("max request bytes %d is too small", c.MaxRequestBytes)
	case c.ShutdownWaitMax < 0 || c.ShutdownMarkTTL < 0 || c.RequestTimeout < 0:
		return bad("durations must not be negative")
	}
	return nil
}
