package metaserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"strand.dev/controlplane/raftnode"
)

// Defaults of Config.
const (
	DefaultMaxRequestBytes = 8 << 20
	DefaultProposeTimeout  = 10 * time.Second
	DefaultReadTimeout     = 5 * time.Second
	DefaultWatchTimeout    = 30 * time.Second
	DefaultMaxWatchTimeout = 5 * time.Minute
	DefaultShutdownTimeout = 10 * time.Second
)

// Config configures a strand-meta member.
type Config struct {
	// ID is this member's raft id (1, 2, ...).
	ID uint64
	// ClusterID names the cluster; it is checked against the data
	// directory and on every peer stream.
	ClusterID string
	// ListenAddr is the API listener (host:port). The peer transport is
	// served there too unless PeerListenAddr is set.
	ListenAddr string
	// PeerListenAddr, if set, is a separate listener for the peer transport.
	PeerListenAddr string
	// APIListener and PeerListener, when set, are used instead of listening
	// on ListenAddr and PeerListenAddr (tests pass listeners on port 0).
	APIListener  net.Listener
	PeerListener net.Listener
	// InitialCluster lists the members of a new cluster with their peer and
	// API addresses (see ParseInitialCluster). For a member joining a
	// running cluster it lists the running members and this one.
	InitialCluster []raftnode.Member
	// Join starts this member empty, to be brought up by the leader of a
	// running cluster that added it (strand meta add-member). Ignored once
	// the data directory holds state.
	Join bool
	// DataDir holds member.json, the WAL and the snapshots.
	DataDir string

	// SnapshotCount, ElectionTick, HeartbeatTick and TickInterval are
	// raftnode's (defaults 10000, 10, 1, 100 ms).
	SnapshotCount uint64
	// CatchUpEntries are kept behind a snapshot for followers a little
	// behind (default 5000).
	CatchUpEntries uint64
	ElectionTick   int
	HeartbeatTick  int
	TickInterval   time.Duration
	// MaxRequestBytes bounds a request body, and so one command (default 8 MiB).
	MaxRequestBytes int
	// ProposeTimeout bounds how long a proposal waits to be applied
	// (default 10 s).
	ProposeTimeout time.Duration
	// NoLeaderWait is how long a request waits for a leader to be elected
	// before NO_LEADER (default: two election timeouts).
	NoLeaderWait time.Duration
	// ReadTimeout bounds a linearizable read (default 5 s).
	ReadTimeout time.Duration
	// ShutdownTimeout bounds the graceful stop (default 10 s).
	ShutdownTimeout time.Duration

	// PeerFilter, when set, is asked before sending anything to another
	// member (raft messages and forwarded requests); false drops it. Fault
	// injection for tests.
	PeerFilter func(from, to uint64) bool

	// Logger. Default: slog.Default.
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.ProposeTimeout <= 0 {
		c.ProposeTimeout = DefaultProposeTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.ElectionTick == 0 {
		c.ElectionTick = raftnode.DefaultElectionTick
	}
	if c.HeartbeatTick == 0 {
		c.HeartbeatTick = raftnode.DefaultHeartbeatTick
	}
	if c.TickInterval == 0 {
		c.TickInterval = raftnode.DefaultTickInterval
	}
	if c.NoLeaderWait <= 0 {
		c.NoLeaderWait = 2 * time.Duration(c.ElectionTick) * c.TickInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.ID == 0 {
		errs = append(errs, errors.New("--id must be a positive member id"))
	}
	if c.ClusterID == "" {
		errs = append(errs, errors.New("--cluster-id is required"))
	}
	if c.ListenAddr == "" && c.APIListener == nil {
		errs = append(errs, errors.New("--listen is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir is required"))
	}
	if len(c.InitialCluster) == 0 {
		errs = append(errs, errors.New("--initial-cluster is required"))
	}
	found := false
	for _, m := range c.InitialCluster {
		found = found || m.ID == c.ID
	}
	if len(c.InitialCluster) > 0 && !found {
		errs = append(errs, fmt.Errorf("--initial-cluster does not list member %d (--id)", c.ID))
	}
	if c.ElectionTick != 0 && c.ElectionTick <= c.HeartbeatTick {
		errs = append(errs, fmt.Errorf("--election-tick %d must exceed --heartbeat-tick %d", c.ElectionTick, c.HeartbeatTick))
	}
	if c.ElectionTick < 0 || c.HeartbeatTick < 0 || c.TickInterval < 0 {
		errs = append(errs, errors.New("ticks must be positive"))
	}
	if c.MaxRequestBytes < 0 {
		errs = append(errs, errors.New("--max-request-bytes must be positive"))
	}
	return errors.Join(errs...)
}

// ParseInitialCluster parses "1=peerhost:port@apihost:port,2=...". The
// "@apihost:port" part may be left out when a member serves its API and the
// peer transport on one listener.
func ParseInitialCluster(s string) ([]raftnode.Member, error) {
	var out []raftnode.Member
	seen := map[uint64]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		idStr, addrs, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("initial cluster: %q is not id=peer-addr[@api-addr]", part)
		}
		id, err := strconv.ParseUint(strings.TrimSpace(idStr), 10, 64)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("initial cluster: %q: the id must be a positive integer", part)
		}
		if seen[id] {
			return nil, fmt.Errorf("initial cluster: member %d listed twice", id)
		}
		seen[id] = true
		peer, api, hasAPI := strings.Cut(addrs, "@")
		if !hasAPI {
			api = peer
		}
		for _, a := range []string{peer, api} {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, fmt.Errorf("initial cluster: member %d: address %q: %w", id, a, err)
			}
		}
		out = append(out, raftnode.Member{ID: id, PeerAddr: peer, APIAddr: api})
	}
	if len(out) == 0 {
		return nil, errors.New("initial cluster: no members")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// FormatInitialCluster renders members in the form ParseInitialCluster reads.
func FormatInitialCluster(ms []raftnode.Member) string {
	parts := make([]string, 0, len(ms))
	for _, m := range ms {
		parts = append(parts, fmt.Sprintf("%d=%s@%s", m.ID, m.PeerAddr, m.APIAddr))
	}
	return strings.Join(parts, ",")
}
