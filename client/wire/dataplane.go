package wire

// The data plane's HTTP interface (strand-data). Produce and fetch bodies are
// RecordBatch v2 bytes; everything else is JSON. Errors are the envelope of
// errors.go.

// ContentTypeBatch is the content type of produce and fetch bodies: one or
// more Kafka RecordBatch v2 (magic 2) batches, back to back.
const ContentTypeBatch = "application/vnd.strand.batch"

// ContentTypeJSON is the content type of every other body.
const ContentTypeJSON = "application/json"

// Data plane paths.
const (
	// PathProduce: POST, body = RecordBatch bytes, query: topic, partition,
	// acks (-1|all, 0, 1; default all), timeout_ms (how long acks=all may
	// wait; default 30000), replica_id is not allowed. Answer: ProduceResponse
	// (acks=0 is answered at once with base_offset -1).
	PathProduce = "/v1/produce"
	// PathFetch: GET, query: topic, partition, offset, max_bytes (default 1 MiB),
	// min_bytes (default 1), max_wait_ms (default 500), and for followers
	// replica_id and leader_epoch (-1 or absent for consumers). Answer: raw
	// RecordBatch bytes (possibly empty) with the headers below.
	PathFetch = "/v1/fetch"
	// PathOffsets: GET, query: topic, partition, at = earliest | latest |
	// a timestamp in Unix milliseconds. Answer: OffsetsResponse.
	PathOffsets = "/v1/offsets"
	// PathMetadata: GET. Answer: Metadata, the node's view of the cluster
	// (topics, partitions, leaders, node addresses). Served by data nodes from
	// their cached image and by strand-meta from the image itself.
	PathMetadata = "/v1/metadata"
	// PathAdminPartitions: GET lists the partition replicas a data node holds
	// (LocalPartitionsResponse), with their offsets and sizes.
	PathAdminPartitions = "/v1/admin/partitions"
	// PathAdminTopics: served by the active controller and by a standalone
	// data node (one that runs without the control plane). POST creates a
	// topic (CreateTopicRequest, answered with TopicMetadata); DELETE
	// ?topic=NAME deletes one and its data.
	PathAdminTopics = "/v1/admin/topics"
	// PathAdminConfigs: POST alters a topic's configs (AlterConfigsRequest),
	// answered with the topic's TopicMetadata. Served where PathAdminTopics is.
	PathAdminConfigs = "/v1/admin/configs"
	// PathHealth answers 200 "ok" when the process serves, 503 otherwise.
	PathHealth = "/healthz"
	// PathMetrics is the Prometheus exposition.
	PathMetrics = "/metrics"
)

// Response headers of a fetch.
const (
	HeaderHighWatermark  = "X-Strand-High-Watermark"
	HeaderLogStartOffset = "X-Strand-Log-Start-Offset"
	HeaderLogEndOffset   = "X-Strand-Log-End-Offset"
	HeaderLeaderEpoch    = "X-Strand-Leader-Epoch"
)

// Query parameter names shared by the data plane paths.
const (
	ParamTopic       = "topic"
	ParamPartition   = "partition"
	ParamAcks        = "acks"
	ParamTimeoutMs   = "timeout_ms"
	ParamOffset      = "offset"
	ParamMaxBytes    = "max_bytes"
	ParamMinBytes    = "min_bytes"
	ParamMaxWaitMs   = "max_wait_ms"
	ParamReplicaID   = "replica_id"
	ParamLeaderEpoch = "leader_epoch"
	ParamAt          = "at"
)

// Offset specifications for PathOffsets.
const (
	AtEarliest = "earliest"
	AtLatest   = "latest"
)

// ProduceResponse answers a produce.
type ProduceResponse struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// BaseOffset is the offset given to the first record; -1 for acks=0.
	BaseOffset int64 `json:"base_offset"`
	// LastOffset is the offset of the last record appended.
	LastOffset int64 `json:"last_offset"`
	// LogAppendTime is the broker time set on the batch when the topic uses
	// LogAppendTime, -1 otherwise (Unix ms).
	LogAppendTime  int64 `json:"log_append_time"`
	LogStartOffset int64 `json:"log_start_offset"`
}

// OffsetsResponse answers a list-offsets request. Offset is -1 when no
// record has a timestamp at or after the one asked for.
type OffsetsResponse struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Timestamp int64  `json:"timestamp"`
	// LeaderEpoch is the partition's leader epoch as this node knows it.
	LeaderEpoch int32 `json:"leader_epoch"`
}

// CreateTopicRequest creates a topic. Configs use Kafka's names
// (retention.ms, segment.bytes, cleanup.policy, ...). ReplicationFactor 0
// means the server's default.
type CreateTopicRequest struct {
	Topic             string            `json:"topic"`
	Partitions        int32             `json:"partitions"`
	ReplicationFactor int16             `json:"replication_factor"`
	Configs           map[string]string `json:"configs,omitempty"`
}

// AlterConfigsRequest sets and deletes a topic's configs.
type AlterConfigsRequest struct {
	Topic  string            `json:"topic"`
	Set    map[string]string `json:"set,omitempty"`
	Delete []string          `json:"delete,omitempty"`
}

// LocalPartition describes one partition replica held by a data node.
type LocalPartition struct {
	Topic          string `json:"topic"`
	Partition      int32  `json:"partition"`
	LogStartOffset int64  `json:"log_start_offset"`
	LogEndOffset   int64  `json:"log_end_offset"`
	HighWatermark  int64  `json:"high_watermark"`
	Segments       int    `json:"segments"`
	SizeBytes      int64  `json:"size_bytes"`
	Leader         bool   `json:"leader"`
	LeaderEpoch    int32  `json:"leader_epoch"`
}

// LocalPartitionsResponse lists a data node's partitions.
type LocalPartitionsResponse struct {
	NodeID     int32            `json:"node_id"`
	Partitions []LocalPartition `json:"partitions"`
}
