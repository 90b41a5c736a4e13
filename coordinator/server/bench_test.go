package server

import (
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"strand.dev/client/wire"
)

// BenchmarkCommitInProcess measures the coordinator's commit path against
// the in-memory data node (no disk, no separate processes): one partition per
// commit request, 64 concurrent members of 64 groups.
func BenchmarkCommitInProcess(b *testing.B) {
	data := newFakeData(&testing.T{})
	data.createTopic("t", 64, nil)
	s, a, _ := startStandaloneB(b, data.addr)
	defer func() {
		r, err := a.hc.Get("http://" + s.Addr() + wire.PathMetrics)
		if err == nil && b.N >= 1000 {
			body, _ := io.ReadAll(r.Body)
			r.Body.Close()
			for _, l := range strings.Split(string(body), "\n") {
				if strings.HasPrefix(l, "strand_coordinator_offsets_write") && (strings.Contains(l, "_sum") || strings.Contains(l, "_count") || strings.Contains(l, "total")) {
					b.Log(l)
				}
			}
		}
	}()
	const members = 64
	gens := make([]int32, members)
	for i := range members {
		var ans wire.MemberAssignment
		if err := a.call(wire.PathGroupJoin, wire.JoinGroupRequest{GroupID: fmt.Sprintf("g%d", i), MemberID: "m", Topics: []string{"t"}, SessionTimeoutMs: 60000}, &ans); err != nil {
			b.Fatal(err)
		}
		gens[i] = ans.Generation
	}
	var next atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)-1) % members
		off := int64(0)
		req := wire.OffsetCommitRequest{GroupID: fmt.Sprintf("g%d", i), MemberID: "m", Generation: gens[i]}
		for pb.Next() {
			off++
			req.Offsets = []wire.OffsetCommit{{Topic: "t", Partition: int32(off % 64), Offset: off, LeaderEpoch: -1}}
			if err := a.call(wire.PathGroupCommit, req, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
