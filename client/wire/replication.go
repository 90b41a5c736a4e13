package wire

// Replication between data nodes: the replica stream (one long-lived
// connection per (follower node, leader node) carrying every partition they
// share) and the leader-epoch lookup a follower makes before it fetches
// (Kafka's OffsetsForLeaderEpoch, KIP-101/KIP-279). Only data nodes use
// these paths.
const (
	// PathReplicaStream: GET with "Connection: Upgrade" and
	// "Upgrade: <ReplicaStreamProtocol>", query replica_id = the follower's
	// node id. The leader answers 101 Switching Protocols and both sides then
	// exchange replica stream frames on the connection (see
	// ReplicaFrameType) until one closes it. An unknown replica_id, a missing
	// upgrade or a node that is stopping get the JSON error envelope
	// instead (INVALID_REQUEST, SHUTTING_DOWN).
	PathReplicaStream = "/v1/replica/stream"
	// PathReplicaEpochs: POST EpochEndRequest (JSON), answered with
	// EpochEndResponse: for each partition, where the leader's log ends for
	// the epoch asked about.
	PathReplicaEpochs = "/v1/replica/epochs"
)

// ReplicaStreamProtocol is the Upgrade token of the replica stream.
const ReplicaStreamProtocol = "strand-replication/1"

// ReplicaFrameType is the type byte of a replica stream frame.
//
// Every frame, in both directions, is a big-endian uint32 length (of what
// follows it: the type byte and the body), the type byte, then the body.
// Integers are big-endian; a string is a uint16 length then its bytes.
//
// Follower to leader:
//
//	ReplicaFrameFetch: sid u32, gen u32, leader_epoch i32, offset i64,
//	  topic string, partition i32.
//	  (Re)starts partition sid (a number the follower picks per partition
//	  and stream) at offset under generation gen: the leader sends from
//	  offset on and tags what it sends with gen, so that the follower can
//	  drop frames of an older generation still in flight. offset is also
//	  the follower's log end offset.
//	ReplicaFrameAck: count u32, then count times: sid u32, gen u32,
//	  log_end_offset i64. The follower's log end offsets after its appends:
//	  what the leader's high watermark and ISR decisions are made of.
//	ReplicaFrameStop: sid u32. The leader stops sending partition sid.
//
// Leader to follower:
//
//	ReplicaFrameData: sid u32, gen u32, leader_epoch i32, high_watermark i64,
//	  log_start_offset i64, log_end_offset i64, next_offset i64,
//	  records_len u32, then records_len bytes of RecordBatch v2 batches as
//	  they rest in the leader's log. next_offset is where the leader goes
//	  on; records may be empty (a high watermark update).
//	ReplicaFrameError: sid u32, gen u32, code string, message string,
//	  leader_epoch i32, log_start_offset i64, log_end_offset i64. The
//	  partition failed (NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH,
//	  UNKNOWN_LEADER_EPOCH, OFFSET_OUT_OF_RANGE, UNKNOWN_TOPIC_OR_PARTITION,
//	  ...); the leader sends nothing more for it until a new Fetch frame.
//	ReplicaFramePing: no body; sent when the stream was idle for a while,
//	  so that a follower notices a leader that stopped.
//	ReplicaFrameClose: code string, message string. The leader ends the
//	  stream (SHUTTING_DOWN, ...) and closes the connection.
type ReplicaFrameType uint8

// The replica stream frame types. The list is append-only.
const (
	ReplicaFrameFetch ReplicaFrameType = 1
	ReplicaFrameAck   ReplicaFrameType = 2
	ReplicaFrameStop  ReplicaFrameType = 3
	ReplicaFrameData  ReplicaFrameType = 16
	ReplicaFrameError ReplicaFrameType = 17
	ReplicaFramePing  ReplicaFrameType = 18
	ReplicaFrameClose ReplicaFrameType = 19
)

// EpochEndRequest asks a leader where its log ends for leader epochs the
// follower knows: a follower asks before it fetches as a follower of a new
// leader epoch, and truncates its log to what the leader says.
type EpochEndRequest struct {
	// ReplicaID is the asking follower's node id.
	ReplicaID  int32                `json:"replica_id"`
	Partitions []EpochEndPartitionQ `json:"partitions"`
}

// EpochEndPartitionQ is one partition of an EpochEndRequest.
type EpochEndPartitionQ struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// CurrentLeaderEpoch is the leader epoch the follower believes current:
	// an older one is FENCED_LEADER_EPOCH, a newer one
	// UNKNOWN_LEADER_EPOCH.
	CurrentLeaderEpoch int32 `json:"current_leader_epoch"`
	// Epoch is the leader epoch to look up: the newest in the follower's
	// leader-epoch history.
	Epoch int32 `json:"epoch"`
}

// EpochEndResponse answers an EpochEndRequest, one entry per partition asked
// about, in the same order.
type EpochEndResponse struct {
	Partitions []EpochEndPartition `json:"partitions"`
}

// EpochEndPartition is one partition's answer.
type EpochEndPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Error is set when the partition could not be answered; the rest is
	// then meaningless.
	Error *Error `json:"error,omitempty"`
	// Epoch is the largest epoch <= the one asked about that the leader
	// knows, and EndOffset where it ends in the leader's log (the start of
	// the next epoch, or the log end offset for the latest); both -1 when
	// the leader knows no such epoch.
	Epoch     int32 `json:"epoch"`
	EndOffset int64 `json:"end_offset"`
	// LogStartOffset and LogEndOffset are the leader's.
	LogStartOffset int64 `json:"log_start_offset"`
	LogEndOffset   int64 `json:"log_end_offset"`
}
