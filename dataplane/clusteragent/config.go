package clusteragent

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"strand.dev/controlplane/membership"
)

// Config configures an Agent.
type Config struct {
	// NodeID is this data node's id.
	NodeID int32
	// Addr is this node's data-plane API address (host:port) as clients
	// reach it; it is registered in strand-meta and published in gossip.
	Addr string
	// Rack is the node's rack or zone (optional).
	Rack string
	// DataDir is the node's data directory; the agent keeps the topic ids of
	// the replicas it holds there (ClusterTopicsFile).
	DataDir string
	// MetaAddrs are the strand-meta API addresses.
	MetaAddrs []string
	// Gossip configures the membership pool; Role, ID, APIAddr and Rack are
	// set by the agent.
	Gossip membership.Config
	// CheckCluster, when set, is called with the metadata cluster's id
	// before the node registers; an error stops the start (a data
	// directory of another cluster).
	CheckCluster func(clusterID string) error
	// RegisterTimeout bounds registration at start: a registration refused
	// because the id is still registered live at another address
	// (DUPLICATE_BROKER_REGISTRATION) is retried until the controller
	// fences the old record, for at most this long. Default 60 s.
	RegisterTimeout time.Duration
	// MetaTimeout bounds one strand-meta request. Default 5 s.
	MetaTimeout time.Duration
	// WatchWait is the long-poll wait of the image watch. Default 30 s.
	WatchWait time.Duration
	// RetryInterval: assignments that failed to apply are retried this
	// often. Default 2 s.
	RetryInterval time.Duration
	// ShutdownTimeout bounds the controlled shutdown on stop: the agent
	// asks the controller to move its leaderships until none that can move
	// is left or this much time passed. Default 30 s.
	ShutdownTimeout time.Duration
	// Logger receives the agent's logs; nil discards them.
	Logger *slog.Logger
	// Registerer registers the agent's (and the gossip pool's) metrics; nil
	// registers nowhere.
	Registerer prometheus.Registerer
}

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("clusteragent: invalid config")

// Validate checks the config and fills in defaults.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c.NodeID < 0 {
		return bad("node id %d is negative", c.NodeID)
	}
	if c.Addr == "" {
		return bad("the node's API address is empty")
	}
	if c.DataDir == "" {
		return bad("the data directory is empty")
	}
	if len(c.MetaAddrs) == 0 {
		return bad("no strand-meta address (--meta)")
	}
	c.Gossip.Role = membership.RoleData
	c.Gossip.ID = strconv.Itoa(int(c.NodeID))
	c.Gossip.APIAddr = c.Addr
	c.Gossip.Rack = c.Rack
	if c.Gossip.Logger == nil {
		c.Gossip.Logger = c.Logger
	}
	if c.Gossip.Registerer == nil {
		c.Gossip.Registerer = c.Registerer
	}
	if err := c.Gossip.Validate(); err != nil {
		return fmt.Errorf("%w: gossip: %w", ErrInvalidConfig, err)
	}
	if c.RegisterTimeout <= 0 {
		c.RegisterTimeout = 60 * time.Second
	}
	if c.MetaTimeout <= 0 {
		c.MetaTimeout = 5 * time.Second
	}
	if c.WatchWait <= 0 {
		c.WatchWait = 30 * time.Second
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = 2 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
