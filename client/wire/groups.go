package wire

// The consumer-group protocol of strand-coordinator. Bodies are JSON; errors
// are the envelope of errors.go.
//
// # The protocol in one page
//
// The coordinator computes assignments itself (there is no group leader among
// the consumers) and rebalances incrementally: a member keeps the partitions
// that do not move and goes on consuming them; a partition that moves is first
// revoked from its owner, and only once the owner has confirmed that it let
// the partition go is it granted to its new owner. So a partition is never
// owned by two members at once, and a single join or leave never stops the
// whole group.
//
//  1. Find the coordinator: GET PathGroupCoordinator?group=G on any
//     coordinator (addresses in Metadata.Coordinators) answers the owner of
//     the group's offsets partition (FindCoordinatorResponse). Every other
//     request goes to that owner; a coordinator that does not own the group
//     answers NOT_COORDINATOR (with the owner's address in Error.LeaderAddr
//     when it knows it), and one still reading the partition answers
//     COORDINATOR_LOAD_IN_PROGRESS: find the coordinator again and retry.
//
//  2. Join: POST PathGroupJoin with a JoinGroupRequest. The client should
//     generate its member id itself (a random UUID) so that a retried join is
//     idempotent; an empty MemberID makes the coordinator choose one. The
//     answer (MemberAssignment) says what the member owns now: partitions that
//     were free are granted at once, partitions still owned by others follow
//     in later heartbeat answers once their owners have revoked them.
//
//  3. Heartbeat: POST PathGroupHeartbeat with a HeartbeatRequest, always
//     carrying the partitions the member owns right now (Owned) and how long
//     ago the application last polled (PollAgeMs). With MaxWaitMs > 0 the
//     heartbeat is a long poll: the coordinator answers as soon as the
//     member's assignment changes (something to revoke or to gain), or after
//     MaxWaitMs otherwise, so rebalances propagate in milliseconds. The
//     client keeps one heartbeat outstanding at a time and sends the next one
//     as soon as the previous one is answered (a long poll) or every
//     HeartbeatIntervalMs (a short one).
//
//     On each answer (MemberAssignment) the client:
//       - for Revoke (a subset of what it owns): stops fetching those
//         partitions, calls OnPartitionsRevoked(Revoke) (the place to commit
//         what it processed; commits are still accepted for them), drops
//         them, and heartbeats again at once with Owned without them;
//       - for Assigned minus what it owns: fetches their committed offsets
//         (PathGroupOffsetsFetch; auto.offset.reset when there is none),
//         calls OnPartitionsAssigned and starts consuming them;
//       - uses Generation in its commits from then on.
//
//  4. Commit: POST PathGroupCommit (OffsetCommitRequest) with the member id and
//     the generation of the last answer. It is answered once the commit is
//     durable (written with acks=all). A commit is accepted only for
//     partitions the member owns at that moment (including ones it is being
//     asked to revoke); a stale generation or a partition that has moved is
//     ILLEGAL_GENERATION, an expelled member UNKNOWN_MEMBER_ID, a member whose
//     group.instance.id was taken over by a newer process FENCED_INSTANCE_ID:
//     so a zombie cannot overwrite its successor's progress. A consumer
//     outside any group (manual assignment) commits with an empty MemberID
//     and Generation -1, which is accepted only while the group has no
//     members. The coordinator applies a group's commits in the order it
//     receives them; two requests in flight at once may arrive in either
//     order, so a client keeps at most one commit in flight per consumer
//     (CommitAsync queues and coalesces the next one), which is also what
//     keeps a later commit from being overwritten by an earlier one.
//
//  5. Leave: POST PathGroupLeave (LeaveGroupRequest) on Close: the member's
//     partitions are free at once and the rebalance starts immediately.
//     Members with a group.instance.id (static membership) usually do not
//     leave on a restart: a new process joining with the same instance id
//     takes over the old member's assignment without a rebalance, and the
//     old member id is fenced.
//
// A member that sends no heartbeat for SessionTimeoutMs, that reports a
// PollAgeMs above RebalanceTimeoutMs (max.poll.interval.ms: it stopped
// polling), or that does not confirm a revocation within RebalanceTimeoutMs is
// expelled: its partitions are freed and its next request is answered
// UNKNOWN_MEMBER_ID, after which it has lost all its partitions and must join
// again (with a new member id).

// Group protocol paths, served by every strand-coordinator.
const (
	// PathGroupCoordinator: GET ?group=G. Any coordinator answers which
	// coordinator owns the group (FindCoordinatorResponse), or
	// COORDINATOR_NOT_AVAILABLE while that offsets partition has no owner.
	PathGroupCoordinator = "/v1/groups/coordinator"
	// PathGroupJoin: POST JoinGroupRequest, answered with MemberAssignment.
	PathGroupJoin = "/v1/groups/join"
	// PathGroupHeartbeat: POST HeartbeatRequest, answered with
	// MemberAssignment (possibly after a long poll of up to MaxWaitMs).
	PathGroupHeartbeat = "/v1/groups/heartbeat"
	// PathGroupLeave: POST LeaveGroupRequest, answered with LeaveGroupResponse.
	PathGroupLeave = "/v1/groups/leave"
	// PathGroupCommit: POST OffsetCommitRequest, answered with
	// OffsetCommitResponse once the commit is durable.
	PathGroupCommit = "/v1/groups/commit"
	// PathGroupOffsetsFetch: POST OffsetFetchRequest, answered with
	// OffsetFetchResponse.
	PathGroupOffsetsFetch = "/v1/groups/offsets"
	// PathGroupList: GET, answered with ListGroupsResponse: the groups of
	// every live coordinator (the answering one asks the others), or only its
	// own with ?local=true.
	PathGroupList = "/v1/groups"
	// PathGroupDescribe: GET ?group=G, answered with GroupDescription (state,
	// members, assignment, committed offsets and lag). GROUP_ID_NOT_FOUND for
	// an unknown group.
	PathGroupDescribe = "/v1/groups/describe"
	// PathGroupDelete: POST DeleteGroupRequest: deletes an empty group and its
	// committed offsets (tombstones in __consumer_offsets). NON_EMPTY_GROUP
	// while it has members, GROUP_ID_NOT_FOUND when unknown.
	PathGroupDelete = "/v1/groups/delete"
	// PathGroupResetOffsets: POST ResetOffsetsRequest, answered with
	// ResetOffsetsResponse. Only while the group has no members
	// (NON_EMPTY_GROUP otherwise).
	PathGroupResetOffsets = "/v1/groups/reset-offsets"
)

// Query parameter names of the group paths.
const (
	ParamGroup = "group"
	ParamLocal = "local"
)

// OffsetsTopic is the internal compacted topic holding committed offsets and
// group metadata.
const OffsetsTopic = "__consumer_offsets"

// Assignor names (Kafka's names for the same strategies).
const (
	// AssignorRange gives each member a contiguous range of each subscribed
	// topic's partitions.
	AssignorRange = "range"
	// AssignorRoundRobin deals all subscribed partitions out to the members in
	// turn.
	AssignorRoundRobin = "roundrobin"
	// AssignorCooperativeSticky balances partitions over the members while
	// moving as few as possible from the previous assignment.
	AssignorCooperativeSticky = "cooperative-sticky"
)

// Group states as reported by describe and list.
const (
	// GroupStateEmpty: no members (committed offsets may remain).
	GroupStateEmpty = "Empty"
	// GroupStateReconciling: members are moving towards a new assignment
	// (some partitions are being revoked or are waiting for their new owner).
	GroupStateReconciling = "Reconciling"
	// GroupStateStable: every member owns exactly its target assignment.
	GroupStateStable = "Stable"
	// GroupStateDead: the group was deleted or expired.
	GroupStateDead = "Dead"
)

// Defaults and limits of the group protocol (the coordinator's configuration
// may change the bounds; these are what it uses when not told otherwise).
const (
	// DefaultSessionTimeoutMs is session.timeout.ms.
	DefaultSessionTimeoutMs = 45000
	// DefaultHeartbeatIntervalMs is heartbeat.interval.ms.
	DefaultHeartbeatIntervalMs = 3000
	// DefaultRebalanceTimeoutMs is max.poll.interval.ms.
	DefaultRebalanceTimeoutMs = 300000
	// DefaultMaxOffsetMetadataBytes is offset.metadata.max.bytes: a commit's
	// metadata string longer than this is OFFSET_METADATA_TOO_LARGE.
	DefaultMaxOffsetMetadataBytes = 4096
	// MaxGroupIDLen bounds a group id's length.
	MaxGroupIDLen = 255
)

// NoOffset is the offset reported for a partition without a committed offset.
const NoOffset int64 = -1

// TopicPartitions names some partitions of one topic.
type TopicPartitions struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

// FindCoordinatorResponse names the coordinator owning a group: the owner of
// offsets partition OffsetsPartitionFor(group, partitions of OffsetsTopic).
type FindCoordinatorResponse struct {
	GroupID string `json:"group_id"`
	// Partition is the group's partition of OffsetsTopic.
	Partition int32 `json:"partition"`
	// CoordinatorID is the owner's id, Addr its API address.
	CoordinatorID string `json:"coordinator_id"`
	Addr          string `json:"addr"`
	// Epoch is the ownership epoch of that partition.
	Epoch int64 `json:"epoch"`
}

// JoinGroupRequest adds a member to a group (or, with a MemberID the group
// knows, updates its subscription; a retried join is idempotent).
type JoinGroupRequest struct {
	GroupID string `json:"group_id"`
	// MemberID is chosen by the client (a random UUID is best) or, when
	// empty, by the coordinator.
	MemberID string `json:"member_id,omitempty"`
	// GroupInstanceID (group.instance.id) makes the member static: a new
	// member with the same instance id replaces the old one, keeps its
	// assignment without a rebalance, and fences the old member id.
	GroupInstanceID string `json:"group_instance_id,omitempty"`
	// ClientID is client.id, for describe.
	ClientID string `json:"client_id,omitempty"`
	// Topics is the subscription.
	Topics []string `json:"topics"`
	// Assignors the member supports, in order of preference (AssignorRange,
	// AssignorRoundRobin, AssignorCooperativeSticky). The group uses the first
	// of the first member's list that every member supports; a join that
	// shares none with the group is INCONSISTENT_GROUP_PROTOCOL. Empty means
	// AssignorCooperativeSticky.
	Assignors []string `json:"assignors,omitempty"`
	// SessionTimeoutMs (session.timeout.ms), 0 for DefaultSessionTimeoutMs;
	// outside the coordinator's bounds it is INVALID_REQUEST.
	SessionTimeoutMs int32 `json:"session_timeout_ms,omitempty"`
	// RebalanceTimeoutMs (max.poll.interval.ms), 0 for
	// DefaultRebalanceTimeoutMs: the longest the member may go without
	// polling, and the longest it may take to confirm a revocation.
	RebalanceTimeoutMs int32 `json:"rebalance_timeout_ms,omitempty"`
}

// MemberAssignment answers a join and a heartbeat: what the member owns now.
type MemberAssignment struct {
	MemberID string `json:"member_id"`
	// Generation is the group generation this answer belongs to; carry it in
	// commits. It increases on every change of membership, subscriptions or
	// topic partition counts.
	Generation int32 `json:"generation"`
	// Assignor is the assignor the group uses.
	Assignor string `json:"assignor"`
	// Assigned is every partition the member owns and may consume, including
	// newly granted ones; it never includes a partition in Revoke.
	Assigned []TopicPartitions `json:"assigned"`
	// Revoke lists partitions the member owns and must give up: stop, call
	// OnPartitionsRevoked (commit there), then heartbeat without them.
	Revoke []TopicPartitions `json:"revoke,omitempty"`
	// Reconciling is true while the group has not reached its target
	// assignment (some member still has something to revoke or to gain).
	Reconciling bool `json:"reconciling"`
	// HeartbeatIntervalMs is how often to heartbeat when not long-polling.
	HeartbeatIntervalMs int32 `json:"heartbeat_interval_ms"`
	// SessionTimeoutMs and RebalanceTimeoutMs are the values in force.
	SessionTimeoutMs   int32 `json:"session_timeout_ms"`
	RebalanceTimeoutMs int32 `json:"rebalance_timeout_ms"`
}

// HeartbeatRequest keeps a member alive and reports what it owns.
type HeartbeatRequest struct {
	GroupID         string `json:"group_id"`
	MemberID        string `json:"member_id"`
	GroupInstanceID string `json:"group_instance_id,omitempty"`
	// Generation is the generation of the last answer the member acted on.
	Generation int32 `json:"generation"`
	// Owned is every partition the member owns right now (after running
	// OnPartitionsRevoked for anything it was told to revoke). Leaving a
	// revoked partition out confirms the revocation; a partition listed that
	// the member does not own is answered in Revoke.
	Owned []TopicPartitions `json:"owned"`
	// PollAgeMs is how long ago the application last called Poll. Above
	// RebalanceTimeoutMs the member is expelled.
	PollAgeMs int64 `json:"poll_age_ms"`
	// MaxWaitMs makes the heartbeat a long poll (see the package doc); the
	// coordinator caps it at a third of the session timeout.
	MaxWaitMs int32 `json:"max_wait_ms,omitempty"`
}

// LeaveGroupRequest removes a member at once.
type LeaveGroupRequest struct {
	GroupID         string `json:"group_id"`
	MemberID        string `json:"member_id"`
	GroupInstanceID string `json:"group_instance_id,omitempty"`
	// Reason is logged by the coordinator (for example "closing").
	Reason string `json:"reason,omitempty"`
}

// LeaveGroupResponse answers a leave.
type LeaveGroupResponse struct {
	// Generation is the group's generation after the leave.
	Generation int32 `json:"generation"`
}

// OffsetCommit is one partition's offset to commit: the offset of the next
// record to consume (the last processed offset plus one).
type OffsetCommit struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	// LeaderEpoch is the leader epoch of the last consumed record, -1 if
	// unknown.
	LeaderEpoch int32 `json:"leader_epoch"`
	// Metadata is an application string, at most the coordinator's
	// offset.metadata.max.bytes (DefaultMaxOffsetMetadataBytes).
	Metadata string `json:"metadata,omitempty"`
}

// OffsetCommitRequest commits offsets. It is all or nothing: any invalid
// partition (unknown topic or partition, negative offset, oversized metadata,
// not owned by the member) rejects the whole request and nothing is written.
type OffsetCommitRequest struct {
	GroupID string `json:"group_id"`
	// MemberID and Generation identify a group member; an empty MemberID with
	// Generation -1 commits for a consumer outside the group (only while the
	// group has no members).
	MemberID        string         `json:"member_id"`
	GroupInstanceID string         `json:"group_instance_id,omitempty"`
	Generation      int32          `json:"generation"`
	Offsets         []OffsetCommit `json:"offsets"`
}

// OffsetCommitResponse answers a durable commit.
type OffsetCommitResponse struct {
	// Committed is the number of partitions committed.
	Committed int `json:"committed"`
	// CommitTimestampMs is the commit time recorded (Unix ms).
	CommitTimestampMs int64 `json:"commit_timestamp_ms"`
}

// OffsetFetchRequest asks for committed offsets. Topics nil means every
// partition the group has an offset for; a TopicPartitions with no partitions
// means every partition of that topic.
type OffsetFetchRequest struct {
	GroupID string            `json:"group_id"`
	Topics  []TopicPartitions `json:"topics,omitempty"`
}

// CommittedOffset is a partition's committed offset (NoOffset when none).
type CommittedOffset struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	Offset      int64  `json:"offset"`
	LeaderEpoch int32  `json:"leader_epoch"`
	Metadata    string `json:"metadata,omitempty"`
	// CommitTimestampMs is when it was committed (Unix ms), 0 when none.
	CommitTimestampMs int64 `json:"commit_timestamp_ms,omitempty"`
}

// OffsetFetchResponse answers an offset fetch; an unknown group has no
// offsets (it is not an error).
type OffsetFetchResponse struct {
	GroupID string            `json:"group_id"`
	Offsets []CommittedOffset `json:"offsets"`
}

// GroupListing is one group in a list.
type GroupListing struct {
	GroupID  string `json:"group_id"`
	State    string `json:"state"`
	Members  int    `json:"members"`
	Assignor string `json:"assignor,omitempty"`
	// Coordinator is the owning coordinator's API address.
	Coordinator string `json:"coordinator"`
}

// ListGroupsResponse lists groups, sorted by id.
type ListGroupsResponse struct {
	Groups []GroupListing `json:"groups"`
	// Unreachable lists coordinators that did not answer (the list may then
	// be incomplete).
	Unreachable []string `json:"unreachable,omitempty"`
}

// MemberDescription describes one member.
type MemberDescription struct {
	MemberID        string   `json:"member_id"`
	GroupInstanceID string   `json:"group_instance_id,omitempty"`
	ClientID        string   `json:"client_id,omitempty"`
	ClientHost      string   `json:"client_host,omitempty"`
	Topics          []string `json:"topics"`
	// Generation is the generation of the member's last heartbeat.
	Generation int32 `json:"generation"`
	// Assigned is what the member owns (including Revoking).
	Assigned []TopicPartitions `json:"assigned"`
	// Revoking is what it has been asked to give up.
	Revoking []TopicPartitions `json:"revoking,omitempty"`
	// Target is what the current assignment gives it.
	Target []TopicPartitions `json:"target"`
	// LastHeartbeatAgoMs is the time since its last heartbeat.
	LastHeartbeatAgoMs int64 `json:"last_heartbeat_ago_ms"`
}

// PartitionLag is a committed offset with the partition's end and the lag.
type PartitionLag struct {
	CommittedOffset
	// LogEndOffset is the partition's high watermark, -1 if unknown.
	LogEndOffset int64 `json:"log_end_offset"`
	// Lag is LogEndOffset minus the committed offset, -1 if either is
	// unknown.
	Lag int64 `json:"lag"`
	// MemberID is the member owning the partition, empty if none.
	MemberID string `json:"member_id,omitempty"`
}

// GroupDescription answers describe.
type GroupDescription struct {
	GroupID    string `json:"group_id"`
	State      string `json:"state"`
	Generation int32  `json:"generation"`
	Assignor   string `json:"assignor,omitempty"`
	// Coordinator is the owning coordinator's id, CoordinatorAddr its API
	// address.
	Coordinator     string              `json:"coordinator"`
	CoordinatorAddr string              `json:"coordinator_addr"`
	Members         []MemberDescription `json:"members"`
	// Offsets lists the committed offsets and, for the subscribed topics'
	// partitions, the lag.
	Offsets []PartitionLag `json:"offsets"`
}

// DeleteGroupRequest deletes an empty group.
type DeleteGroupRequest struct {
	GroupID string `json:"group_id"`
}

// DeleteGroupResponse answers a delete.
type DeleteGroupResponse struct {
	GroupID string `json:"group_id"`
	// OffsetsDeleted is the number of committed offsets removed.
	OffsetsDeleted int `json:"offsets_deleted"`
}

// Reset targets of ResetOffsetsRequest.
const (
	ResetToEarliest = "earliest"
	ResetToLatest   = "latest"
	ResetToOffset   = "offset"
	// ResetToDatetime sets each partition to its first record with a
	// timestamp at or after TimestampMs, or to its end when there is none
	// (Kafka's --to-datetime). A coordinator older than this target answers
	// INVALID_REQUEST.
	ResetToDatetime = "datetime"
)

// ResetOffsetsRequest sets the committed offsets of one topic's partitions
// of an empty group.
type ResetOffsetsRequest struct {
	GroupID string `json:"group_id"`
	Topic   string `json:"topic"`
	// Partitions to reset; empty means all of the topic's partitions.
	Partitions []int32 `json:"partitions,omitempty"`
	// To is ResetToEarliest, ResetToLatest, ResetToOffset (with Offset,
	// clamped to the partition's earliest and latest offsets) or
	// ResetToDatetime (with TimestampMs).
	To     string `json:"to"`
	Offset int64  `json:"offset,omitempty"`
	// TimestampMs is the time of ResetToDatetime (Unix ms).
	TimestampMs int64 `json:"timestamp_ms,omitempty"`
	// DryRun answers the offsets without committing them.
	DryRun bool `json:"dry_run,omitempty"`
}

// ResetOffsetsResponse lists the offsets set (or that would be set).
type ResetOffsetsResponse struct {
	GroupID string            `json:"group_id"`
	Offsets []CommittedOffset `json:"offsets"`
}

// OffsetsPartitionFor is the partition of OffsetsTopic holding group's
// offsets and metadata when the topic has n partitions: Kafka's choice,
// abs(javaStringHashCode(group)) % n, so that a group lands where Kafka would
// put it. n must be positive.
func OffsetsPartitionFor(group string, n int32) int32 {
	var h int32
	for _, r := range utf16Units(group) {
		h = 31*h + int32(r)
	}
	// Kafka's Utils.abs maps MinInt32 to 0 (h & 0x7fffffff).
	return (h & 0x7fffffff) % n
}

// utf16Units returns s as Java's String sees it: UTF-16 code units.
func utf16Units(s string) []uint16 {
	out := make([]uint16, 0, len(s))
	for _, r := range s {
		switch {
		case r >= 0x10000:
			r -= 0x10000
			out = append(out, uint16(0xd800+(r>>10)), uint16(0xdc00+(r&0x3ff)))
		default:
			out = append(out, uint16(r))
		}
	}
	return out
}

// ValidateGroupID checks a group id: 1 to MaxGroupIDLen bytes. The error is
// INVALID_REQUEST.
func ValidateGroupID(group string) error {
	switch {
	case group == "":
		return Errorf(CodeInvalidRequest, "group id is empty")
	case len(group) > MaxGroupIDLen:
		return Errorf(CodeInvalidRequest, "group id is %d bytes long, the limit is %d", len(group), MaxGroupIDLen)
	}
	return nil
}

// Sentinels of the group protocol's codes, for errors.Is at call sites.
var (
	ErrUnknownMember             = &Error{Code: CodeUnknownMember}
	ErrIllegalGeneration         = &Error{Code: CodeIllegalGeneration}
	ErrFencedInstanceID          = &Error{Code: CodeFencedInstanceID}
	ErrRebalanceInProgress       = &Error{Code: CodeRebalanceInProgress}
	ErrCoordinatorNotAvailable   = &Error{Code: CodeCoordinatorNotAvailable}
	ErrNotCoordinator            = &Error{Code: CodeNotCoordinator}
	ErrCoordinatorLoadInProgress = &Error{Code: CodeCoordinatorLoadInProgress}
	ErrGroupIDNotFound           = &Error{Code: CodeGroupIDNotFound}
	ErrNonEmptyGroup             = &Error{Code: CodeNonEmptyGroup}
	ErrInconsistentGroupProtocol = &Error{Code: CodeInconsistentGroupProtocol}
	ErrOffsetMetadataTooLarge    = &Error{Code: CodeOffsetMetadataTooLarge}
)
