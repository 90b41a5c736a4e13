package raftnode

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"strand.dev/client/wire"
	"strand.dev/controlplane/transport"
)

// StateMachine is what the node applies committed commands to. Only the loop
// calls Apply, Snapshot and Restore.
type StateMachine interface {
	// Apply applies the command data committed at index. A rejected command
	// returns a *wire.Error and changes nothing.
	Apply(index uint64, data []byte) (wire.ProposeResponse, error)
	// Snapshot encodes the whole state.
	Snapshot() ([]byte, error)
	// Restore replaces the state with a snapshot's.
	Restore(data []byte) error
}

// Member is a raft member and its addresses.
type Member struct {
	ID       uint64 `json:"id"`
	PeerAddr string `json:"peer_addr"`
	APIAddr  string `json:"api_addr"`
	// Learner is set while a member added at runtime catches up; the
	// leader promotes it to voter once it has.
	Learner bool `json:"learner,omitempty"`
}

// Defaults of Config.
const (
	DefaultSnapshotCount     = 10000
	DefaultCatchUpEntries    = 5000
	DefaultElectionTick      = 10
	DefaultHeartbeatTick     = 1
	DefaultTickInterval      = 100 * time.Millisecond
	DefaultMaxSizePerMsg     = 1 << 20
	DefaultMaxInflightMsgs   = 256
	DefaultMaxUncommitted    = 64 << 20
	DefaultMaxEntryBytes     = 8 << 20
	DefaultInboxSize         = 4096
	DefaultKeepSnapshotFiles = 3
)

// Config configures a Node.
type Config struct {
	// ID is this member's raft id (non-zero).
	ID uint64
	// ClusterID names the cluster; peers of another cluster are refused.
	ClusterID string
	// Dir holds the WAL (Dir/wal) and the snapshots (Dir/snap).
	Dir string
	// InitialMembers are the members of a new cluster (bootstrap), or
	// the addresses of the existing members for a node that joins. It
	// must contain ID.
	InitialMembers []Member
	// Join starts an empty node that waits to be brought up to date by the
	// leader of an existing cluster (it was added with AddMember) instead
	// of bootstrapping a new cluster. Ignored when Dir holds state.
	Join bool
	// Machine is the state machine.
	Machine StateMachine

	// SnapshotCount is how many applied entries trigger a snapshot
	// (default 10000).
	SnapshotCount uint64
	// CatchUpEntries are kept in memory behind a snapshot so that a
	// follower a little behind gets entries, not a snapshot (default 5000).
	CatchUpEntries uint64
	// ElectionTick and HeartbeatTick are raft's, in ticks of TickInterval
	// (defaults 10 and 1 of 100 ms).
	ElectionTick  int
	HeartbeatTick int
	TickInterval  time.Duration
	// MaxSizePerMsg bounds one append message (default 1 MiB).
	MaxSizePerMsg uint64
	// MaxInflightMsgs bounds the append messages in flight per follower
	// (default 256).
	MaxInflightMsgs int
	// MaxUncommittedBytes bounds the leader's uncommitted log; proposals
	// beyond it are refused (default 64 MiB).
	MaxUncommittedBytes uint64
	// MaxEntryBytes bounds one proposal (default 8 MiB).
	MaxEntryBytes int
	// KeepSnapshotFiles is how many snapshot files stay on disk (default 3).
	KeepSnapshotFiles int

	// Transport is the peer transport's configuration; ClusterID, LocalID,
	// Raft, IsRemoved and Logger are filled in by the node.
	Transport transport.Config

	// OnApply, when set, is called by the loop after each batch of applied
	// entries. It must be quick and must not call into the Node.
	OnApply func()
	// OnLeadership, when set, is called by the loop when this node becomes
	// leader (true) or stops being leader (false). Same rules as OnApply.
	OnLeadership func(leader bool, term uint64)

	// Logger (component=raft). Default: slog.Default.
	Logger *slog.Logger
	// Metrics, optional.
	Metrics *Metrics
}

func (c *Config) defaults() {
	if c.SnapshotCount == 0 {
		c.SnapshotCount = DefaultSnapshotCount
	}
	if c.CatchUpEntries == 0 {
		c.CatchUpEntries = DefaultCatchUpEntries
	}
	if c.ElectionTick == 0 {
		c.ElectionTick = DefaultElectionTick
	}
	if c.HeartbeatTick == 0 {
		c.HeartbeatTick = DefaultHeartbeatTick
	}
	if c.TickInterval == 0 {
		c.TickInterval = DefaultTickInterval
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = DefaultMaxSizePerMsg
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = DefaultMaxInflightMsgs
	}
	if c.MaxUncommittedBytes == 0 {
		c.MaxUncommittedBytes = DefaultMaxUncommitted
	}
	if c.MaxEntryBytes == 0 {
		c.MaxEntryBytes = DefaultMaxEntryBytes
	}
	if c.KeepSnapshotFiles == 0 {
		c.KeepSnapshotFiles = DefaultKeepSnapshotFiles
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.ID == 0 {
		errs = append(errs, errors.New("member id must be non-zero"))
	}
	if c.ClusterID == "" {
		errs = append(errs, errors.New("cluster id is required"))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("data directory is required"))
	}
	if c.Machine == nil {
		errs = append(errs, errors.New("state machine is required"))
	}
	if c.ElectionTick != 0 && c.ElectionTick <= c.HeartbeatTick {
		errs = append(errs, fmt.Errorf("election tick %d must exceed heartbeat tick %d", c.ElectionTick, c.HeartbeatTick))
	}
	if c.HeartbeatTick < 0 || c.ElectionTick < 0 || c.TickInterval < 0 {
		errs = append(errs, errors.New("ticks must be positive"))
	}
	seen := map[uint64]bool{}
	self := false
	for _, m := range c.InitialMembers {
		if m.ID == 0 {
			errs = append(errs, errors.New("initial member with id 0"))
		}
		if seen[m.ID] {
			errs = append(errs, fmt.Errorf("initial member %d listed twice", m.ID))
		}
		seen[m.ID] = true
		if m.PeerAddr == "" {
			errs = append(errs, fmt.Errorf("initial member %d has no peer address", m.ID))
		}
		self = self || m.ID == c.ID
	}
	if !self {
		errs = append(errs, fmt.Errorf("member %d is not in the initial members", c.ID))
	}
	return errors.Join(errs...)
}
