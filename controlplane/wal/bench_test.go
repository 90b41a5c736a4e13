package wal

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// BenchmarkSaveSync measures one Save with fdatasync: the cost the raft loop
// pays per Ready. It reports the p50 and p99 of the Save latency.
//
//	go test -run '^$' -bench SaveSync -benchtime 2000x ./wal
func BenchmarkSaveSync(b *testing.B) {
	for _, batch := range []int{1, 16, 128} {
		b.Run(fmt.Sprintf("entries=%d", batch), func(b *testing.B) {
			w, _, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			payload := make([]byte, 256)
			var index uint64
			lat := make([]time.Duration, 0, b.N)
			b.SetBytes(int64(batch * len(payload)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				es := make([]*raftpb.Entry, batch)
				for j := range es {
					index++
					es[j] = &raftpb.Entry{Index: new(index), Term: new(uint64(1)), Data: payload}
				}
				start := time.Now()
				if err := w.Save(hardState(1, 1, index), es, true); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
