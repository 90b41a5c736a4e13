package metastate

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"strand.dev/client/wire"
)

// Large-image shape of the benchmarks: 1,000 topics x 100 partitions, RF 3,
// over 12 nodes = 100,000 partitions.
const (
	bigTopics = 1000
	bigParts  = 100
	bigRF     = 3
	bigNodes  = 12
)

var (
	bigOnce sync.Once
	bigSnap []byte
	bigIdx  uint64
)

// bigMachine returns a fresh machine holding the large image (built once by
// commands, then restored from its snapshot for each caller).
func bigMachine(tb testing.TB) *Machine {
	tb.Helper()
	bigOnce.Do(func() {
		m := New("bench")
		idx := uint64(0)
		must := func(c *wire.Command) {
			idx++
			if _, err := m.ApplyCommand(idx, c); err != nil {
				panic(err)
			}
		}
		for id := int32(1); id <= bigNodes; id++ {
			must(register(id, addr(id), 1))
		}
		must(acquire("c1", 0, 0))
		for id := int32(1); id <= bigNodes; id++ {
			must(fence(1, id, false))
		}
		for ti := 0; ti < bigTopics; ti++ {
			reps := make([][]int32, bigParts)
			for p := range reps {
				for k := 0; k < bigRF; k++ {
					reps[p] = append(reps[p], int32((ti+p+k)%bigNodes+1))
				}
			}
			must(withConfigs(createTopic(1, fmt.Sprintf("topic-%04d", ti), reps...), map[string]string{"retention.ms": "604800000"}))
		}
		for p := int32(0); p < 50; p++ {
			must(claim(p, "coordinator-1", 0))
		}
		bigSnap, _ = m.Snapshot()
		bigIdx = idx
	})
	m := New("bench")
	if err := m.Restore(bigSnap); err != nil {
		tb.Fatal(err)
	}
	return m
}

func BenchmarkSnapshot100k(b *testing.B) {
	m := bigMachine(b)
	b.ResetTimer()
	var data []byte
	for i := 0; i < b.N; i++ {
		data, _ = m.Snapshot()
	}
	b.ReportMetric(float64(len(data)), "snapshot-bytes")
}

func BenchmarkRestore100k(b *testing.B) {
	bigMachine(b)
	m := New("bench")
	b.SetBytes(int64(len(bigSnap)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := m.Restore(bigSnap); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImageJSON100k is what a watch or image read of the large image
// costs the server (encoding/json).
func BenchmarkImageJSON100k(b *testing.B) {
	m := bigMachine(b)
	b.ResetTimer()
	var body []byte
	for i := 0; i < b.N; i++ {
		body, _ = json.Marshal(m.Image())
	}
	b.ReportMetric(float64(len(body)), "json-bytes")
}

// benchApply applies pre-encoded commands made by next(i) against m.
func benchApply(b *testing.B, m *Machine, next func(i int, img *wire.Image) *wire.Command) {
	b.Helper()
	idx := m.AppliedIndex()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		data, _ := json.Marshal(next(i, m.Image()))
		idx++
		b.StartTimer()
		if _, err := m.Apply(idx, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApplyNoop(b *testing.B) {
	benchApply(b, New("bench"), func(int, *wire.Image) *wire.Command { return noop() })
}

// BenchmarkApplyAlterISR100k: ISR changes on the large image, each on a
// different topic (the copy-on-write cost of a partition command).
func BenchmarkApplyAlterISR100k(b *testing.B) {
	benchApply(b, bigMachine(b), func(i int, img *wire.Image) *wire.Command {
		name := fmt.Sprintf("topic-%04d", i%bigTopics)
		p := img.Topics[name].Partitions[(i/bigTopics)%bigParts]
		isr := []int32{p.Leader}
		if len(p.ISR) == 1 {
			isr = p.Replicas
		}
		return alterISR(name, p.Partition, p.Leader, p.LeaderEpoch, p.PartitionEpoch, isr)
	})
}

// BenchmarkApplyRenewLease100k: lease renewals on the large image.
func BenchmarkApplyRenewLease100k(b *testing.B) {
	benchApply(b, bigMachine(b), func(int, *wire.Image) *wire.Command { return acquire("c1", 1, 0) })
}

// BenchmarkApplyFenceNode100k: fencing one of 12 nodes of the large image,
// which takes it out of 25,000 ISRs and clears its 8,334 leaderships.
func BenchmarkApplyFenceNode100k(b *testing.B) {
	m := bigMachine(b)
	data, _ := json.Marshal(fence(1, 1, true))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if err := m.Restore(bigSnap); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := m.Apply(bigIdx+1, data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLargeImageTimes checks the targets on the large image: snapshot and
// restore each well under 2 s. The bound is generous for a loaded machine and
// the race detector.
func TestLargeImageTimes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-partition image")
	}
	m := bigMachine(t)
	start := time.Now()
	data, err := m.Snapshot()
	snapTime := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	r := New("bench")
	start = time.Now()
	if err := r.Restore(data); err != nil {
		t.Fatal(err)
	}
	restoreTime := time.Since(start)
	t.Logf("100,000 partitions: snapshot %d bytes in %v, restore in %v", len(data), snapTime, restoreTime)
	limit := 2 * time.Second
	if raceEnabled {
		limit = 10 * time.Second
	}
	if snapTime > limit || restoreTime > limit {
		t.Fatalf("snapshot %v / restore %v over %v", snapTime, restoreTime, limit)
	}
	parts := 0
	for _, tr := range r.Image().Topics {
		parts += len(tr.Partitions)
	}
	if parts != bigTopics*bigParts || r.AppliedIndex() != bigIdx {
		t.Fatalf("restored %d partitions at index %d", parts, r.AppliedIndex())
	}
}
