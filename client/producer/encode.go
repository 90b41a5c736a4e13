package producer

import (
	"sync"

	"strand.dev/client/recordbatch"
)

// builders recycles batch builders (and their record buffers).
var builders = sync.Pool{New: func() any { return recordbatch.NewBuilder(recordbatch.EncodeOptions{}) }}

// encodeBatch writes a batch's records as one RecordBatch v2, compressed
// with c, with its producer id, epoch and base sequence when it has them.
// The records' timestamps are CreateTime in Unix milliseconds.
func encodeBatch(b *batch, c Compression) ([]byte, error) {
	bld := builders.Get().(*recordbatch.Builder)
	defer builders.Put(bld)
	opts := recordbatch.EncodeOptions{Compression: recordbatch.Compression(c)}
	if b.seq >= 0 {
		opts.Idempotent, opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = true, b.id.id, b.id.epoch, b.seq
	}
	bld.Reset(opts)
	var hdrs []recordbatch.Header
	for _, pr := range b.records {
		r := pr.rec
		hdrs = hdrs[:0]
		for _, h := range r.Headers {
			hdrs = append(hdrs, recordbatch.Header{Key: h.Key, Value: h.Value})
		}
		bld.Add(recordbatch.Record{Timestamp: r.Timestamp.UnixMilli(), Key: r.Key, Value: r.Value, Headers: hdrs})
	}
	return bld.Build()
}
