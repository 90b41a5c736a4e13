package wire

// Idempotent producers: a producer asks any data node for a producer id
// before it sends idempotent batches (RecordBatch v2 with producer id,
// producer epoch and base sequence set). Partition leaders keep, per
// producer id, the sequence numbers of its last five batches: a retried
// batch is answered again with its first offsets without being written
// twice; a batch that does not continue the sequence is
// OUT_OF_ORDER_SEQUENCE_NUMBER; an older producer epoch is
// INVALID_PRODUCER_EPOCH.
const (
	// PathInitProducerID: POST (no body). Answer: InitProducerIDResponse, a
	// producer id no other producer of the cluster has (data nodes take
	// blocks of ids from strand-meta's allocate_producer_ids; a standalone
	// node from a counter in its data directory) at epoch 0.
	PathInitProducerID = "/v1/producer/init"
)

// InitProducerIDResponse answers PathInitProducerID.
type InitProducerIDResponse struct {
	ProducerID    int64 `json:"producer_id"`
	ProducerEpoch int16 `json:"producer_epoch"`
}
