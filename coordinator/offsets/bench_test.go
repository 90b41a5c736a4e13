package offsets

import (
	"fmt"
	"testing"

	"strand.dev/client/recordbatch"
)

// BenchmarkReplay replays 1,000,000 offset commits (1,000 groups over 1,000
// partitions) from LZ4 batches of 5,000 records, as a new owner does.
func BenchmarkReplay(b *testing.B) {
	const n, perBatch = 1_000_000, 5000
	var raw []byte
	recs := make([]recordbatch.Record, 0, perBatch)
	for i := 0; i < n; {
		recs = recs[:0]
		base := int64(i)
		for j := 0; j < perBatch && i < n; j, i = j+1, i+1 {
			recs = append(recs, rec(int64(i), 1, OffsetKey(fmt.Sprintf("g%d", i%1000), "t", int32(i/1000%1000)), OffsetValue{Offset: int64(i), LeaderEpoch: -1, CommitTimestampMs: 1}.Encode()))
		}
		batch, err := recordbatch.Encode(recs, recordbatch.EncodeOptions{Compression: recordbatch.LZ4, BaseOffset: base, KeepOffsets: true})
		if err != nil {
			b.Fatal(err)
		}
		raw = append(raw, batch...)
	}
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for range b.N {
		s := NewState()
		if _, err := s.ApplyBatches(raw, 1<<30); err != nil {
			b.Fatal(err)
		}
		if s.Applied != n {
			b.Fatalf("applied %d", s.Applied)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
