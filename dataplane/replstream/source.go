package replstream

import (
	"strand.dev/dataplane/partlog"
)

// Source is what the leader side of the stream needs from this node's
// replica layer. Its methods are called from the stream's goroutines and
// must be safe for concurrent use.
type Source interface {
	// KnownReplica reports whether id is a data node of the cluster; a
	// stream from any other id is refused.
	KnownReplica(id int32) bool
	// LeaderPartition returns the partition for a follower's stream, or an
	// error carrying a wire code (UNKNOWN_TOPIC_OR_PARTITION, ...).
	LeaderPartition(topic string, partition int32) (LeaderPartition, error)
}

// LeaderState is a leader partition's offsets as the stream reports them.
type LeaderState struct {
	LeaderEpoch    int32
	HighWatermark  int64
	LogStartOffset int64
	LogEndOffset   int64
}

// LeaderPartition is one partition as its leader serves it to a follower.
type LeaderPartition interface {
	// CheckFollower fails unless this node leads the partition at
	// leaderEpoch and replica is one of its replicas: NOT_LEADER_OR_FOLLOWER,
	// FENCED_LEADER_EPOCH (leaderEpoch is older), UNKNOWN_LEADER_EPOCH
	// (newer), UNKNOWN_TOPIC_OR_PARTITION, each a *wire.Error. It returns
	// the partition's offsets.
	CheckFollower(replica, leaderEpoch int32) (LeaderState, error)
	// ReadReplica reads from offset up to the log end offset, at most
	// maxBytes (but always a whole first batch), as a file region whose
	// descriptor the caller closes. offset outside [log start, log end] is
	// OFFSET_OUT_OF_RANGE.
	ReadReplica(offset int64, maxBytes int32) (partlog.Region, error)
	// FollowerAck records that replica's log ends at leo (it fetched under
	// leaderEpoch): the leader's high watermark and ISR follow from these.
	FollowerAck(replica, leaderEpoch int32, leo int64)
	// Subscribe calls fn (which must not block) whenever the log end offset
	// or the leadership changes, until cancel is called. (High watermark
	// moves may notify too; the stream also polls them every
	// ServerConfig.HighWatermarkInterval.)
	Subscribe(fn func()) (cancel func())
}
