package raftnode

import "errors"

// Errors of the Node's API. The HTTP layer maps them to wire codes; the
// comment of each says whether the operation may still take effect.
var (
	// ErrStopped: the node is stopping or stopped. A proposal in flight
	// may or may not commit.
	ErrStopped = errors.New("raftnode: stopped")
	// ErrNotLeader: this member is not the leader, so it did not propose
	// (nothing was appended). Forward to the leader.
	ErrNotLeader = errors.New("raftnode: not the leader")
	// ErrDropped: raft refused the proposal before appending it (a leader
	// transfer in progress, too much uncommitted data, a conf change
	// refused while another is pending). It will never commit.
	ErrDropped = errors.New("raftnode: proposal dropped")
	// ErrSuperseded: the proposal was appended but another entry committed
	// at its index (leadership changed). It will never commit.
	ErrSuperseded = errors.New("raftnode: proposal superseded by another leader's entry")
	// ErrOutcomeUnknown: the proposal was handed to raft but its fate is
	// not known (the caller stopped waiting, the node stopped, or the
	// entry vanished from the leader's log in a leadership change). It may
	// or may not commit.
	ErrOutcomeUnknown = errors.New("raftnode: outcome unknown")
	// ErrConfChangePending: another configuration change is not applied
	// yet; retry once it is.
	ErrConfChangePending = errors.New("raftnode: another membership change is in progress")
	// ErrTooLarge: the proposal exceeds MaxEntryBytes.
	ErrTooLarge = errors.New("raftnode: proposal too large")
	// ErrRemoved: this member was removed from the cluster.
	ErrRemoved = errors.New("raftnode: member removed from the cluster")
	// ErrMemberExists: AddMember of an id or address already in use.
	ErrMemberExists = errors.New("raftnode: member already exists")
	// ErrMemberUnknown: RemoveMember of an id that is not a member.
	ErrMemberUnknown = errors.New("raftnode: no such member")
	// ErrMemberRemoved: AddMember of an id that was removed (raft ids are
	// never reused).
	ErrMemberRemoved = errors.New("raftnode: member id was removed and cannot be reused")
	// ErrLastVoter: RemoveMember of the only voter.
	ErrLastVoter = errors.New("raftnode: cannot remove the last voting member")
	// ErrDataDirLocked: another process runs on the data directory.
	ErrDataDirLocked = errors.New("raftnode: data directory locked")
	// ErrForeignData: the data directory belongs to another cluster or
	// member.
	ErrForeignData = errors.New("raftnode: data directory belongs to another cluster or member")
)
