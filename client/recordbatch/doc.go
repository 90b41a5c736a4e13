// Package recordbatch reads, checks, edits and writes Kafka RecordBatch v2
// (magic 2) bytes, the format records travel and rest in everywhere in
// Strand. It wraps github.com/twmb/franz-go/pkg/kmsg, which defines the
// format, and adds what a broker and a client need around it:
//
//   - Validate checks one or many back-to-back batches (magic, lengths,
//     CRC-32C, record count against the offset range, the records section,
//     a size limit) and returns each batch's header, with *wire.Error values
//     (CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, INVALID_RECORD) on failure.
//   - SetBaseOffset, SetPartitionLeaderEpoch and SetLogAppendTime edit a
//     batch in place, without re-encoding its records.
//   - Builder and Encode produce batches, compressed with gzip, snappy, lz4
//     or zstd; Decode and DecodeBatches read records back, decompressing
//     within a caller-given limit.
//
// Compression formats: gzip is RFC 1952; snappy is written as a plain
// snappy block (what franz-go and librdkafka write; Kafka's Java client reads
// it) and read both as a plain block and in the xerial framing the Java
// producer writes; lz4 is the LZ4 frame format; zstd is a zstd frame.
//
// Every function here is safe for concurrent use; the in-place setters
// modify the caller's slice and so need the caller's own synchronisation.
//
// Example:
//
//	b, err := recordbatch.Encode([]recordbatch.Record{{Timestamp: ts, Value: v}},
//		recordbatch.EncodeOptions{Compression: recordbatch.Zstd})
//	hdrs, err := recordbatch.Validate(b, 1<<20)
//	recs, err := recordbatch.Decode(b, 64<<20)
package recordbatch
