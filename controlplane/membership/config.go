package membership

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Role says what kind of Strand process a member is.
type Role string

// The roles that join the pool.
const (
	RoleData        Role = "data"
	RoleController  Role = "controller"
	RoleCoordinator Role = "coordinator"
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool {
	return r == RoleData || r == RoleController || r == RoleCoordinator
}

// The serf tag names a member carries.
const (
	TagRole    = "role"
	TagID      = "id"
	TagAPIAddr = "api"
	TagRack    = "rack"
)

// DefaultEventBuffer is the capacity of the Events channel when
// Config.EventBuffer is 0.
const DefaultEventBuffer = 1024

// DefaultGossipPort is the port BindAddr uses when it names none.
const DefaultGossipPort = 7946

// Config configures a Pool. Role, ID and BindAddr are required.
type Config struct {
	// Role of this process.
	Role Role
	// ID is the node id within its role: a data node's int32 id in decimal,
	// a controller's or coordinator's name. Letters, digits, '.', '_' and '-'.
	ID string
	// APIAddr is the host:port of the process's HTTP API, published as a tag.
	APIAddr string
	// Rack is the rack (or zone) of the process, empty when unknown.
	Rack string
	// BindAddr is the host:port gossip listens on (TCP and UDP); port 0 picks a
	// free one (see Pool.LocalAddr).
	BindAddr string
	// AdvertiseAddr is the host:port others reach this member at, when it
	// differs from BindAddr (NAT, 0.0.0.0 binds). Empty: derived from BindAddr.
	AdvertiseAddr string
	// Join lists host:port addresses of existing members (a list shared by
	// every process may include this member's own address). New joins at
	// least one of them or fails; empty starts a new pool.
	Join []string
	// RetryJoin, when positive, makes a failed join at start not an error
	// (unless the id is a duplicate): New returns a member alone in its pool
	// that keeps retrying Join every RetryJoin for as long as it sees no
	// other member alive, so processes may start in any order.
	RetryJoin time.Duration
	// Keys is the gossip keyring, primary key first (16, 24 or 32 bytes each,
	// AES-128/192/256). Empty: gossip is not encrypted.
	Keys [][]byte
	// Timing holds the failure-detection timings; the zero value means
	// DefaultTiming.
	Timing Timing
	// EventBuffer is the capacity of the Events channel (DefaultEventBuffer
	// when 0). Events that find it full are dropped and counted.
	EventBuffer int
	// Logger receives the pool's and memberlist's logs; nil discards them.
	Logger *slog.Logger
	// Registerer registers the pool's metrics; nil registers nowhere.
	Registerer prometheus.Registerer

	// transport, when set (tests only), wraps the network transport.
	transport func(t transportCore) transportCore
}

// Name is the member's gossip name: "<role>-<id>".
func (c *Config) Name() string { return MemberName(c.Role, c.ID) }

// MemberName is the gossip name of the member with role and id.
func MemberName(role Role, id string) string { return string(role) + "-" + id }

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("membership: invalid config")

// Validate checks the config and fills in defaults.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if !c.Role.Valid() {
		return bad("role %q is not one of data, controller, coordinator", c.Role)
	}
	if c.ID == "" {
		return bad("id is empty")
	}
	if err := validateIDChars(c.ID); err != nil {
		return bad("%v", err)
	}
	if c.Role == RoleData {
		if _, err := strconv.ParseInt(c.ID, 10, 32); err != nil {
			return bad("a data node's id must be an int32, got %q", c.ID)
		}
	}
	if c.BindAddr == "" {
		return bad("bind address is empty")
	}
	if _, _, err := splitHostPort(c.BindAddr, DefaultGossipPort); err != nil {
		return bad("bind address %q: %v", c.BindAddr, err)
	}
	if c.AdvertiseAddr != "" {
		host, _, err := splitHostPort(c.AdvertiseAddr, DefaultGossipPort)
		if err != nil {
			return bad("advertise address %q: %v", c.AdvertiseAddr, err)
		}
		if net.ParseIP(host) == nil {
			return bad("advertise address %q must be an IP address", c.AdvertiseAddr)
		}
	}
	for _, k := range c.Keys {
		if err := checkKeyLen(k); err != nil {
			return bad("%v", err)
		}
	}
	if c.Timing == (Timing{}) {
		c.Timing = DefaultTiming()
	}
	if err := c.Timing.Validate(); err != nil {
		return bad("%v", err)
	}
	if c.RetryJoin < 0 {
		return bad("retry-join interval %v is negative", c.RetryJoin)
	}
	if c.EventBuffer < 0 {
		return bad("event buffer %d is negative", c.EventBuffer)
	}
	if c.EventBuffer == 0 {
		c.EventBuffer = DefaultEventBuffer
	}
	if len(c.Rack) > 64 || len(c.APIAddr) > 256 {
		return bad("rack or API address too long")
	}
	return nil
}

func validateIDChars(id string) error {
	if len(id) > 64 {
		return fmt.Errorf("id %q is longer than 64 characters", id)
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		ok := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_' || ch == '-'
		if !ok {
			return fmt.Errorf("id %q has the character %q; only [a-zA-Z0-9._-] are allowed", id, ch)
		}
	}
	return nil
}

// splitHostPort splits host:port; a bare host gets defPort.
func splitHostPort(addr string, defPort int) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return addr, defPort, nil
		}
		return "", 0, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", portStr)
	}
	return host, port, nil
}
