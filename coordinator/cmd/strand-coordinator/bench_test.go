package main

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
	"strand.dev/coordinator/group"
	"strand.dev/coordinator/offsets"
)

// simMember is a consumer's group protocol in a goroutine: long-poll
// heartbeats, a commit in OnPartitionsRevoked, then the revocation
// confirmed at once. held is how many partitions it holds.
type simMember struct {
	addr  string
	group string
	id    string
	held  *atomic.Int64

	mu    sync.Mutex
	owned map[group.TopicPartition]bool
	gen   int32

	stop chan struct{}
	done chan struct{}
}

func newSimMember(addr, groupID, id string) *simMember {
	return &simMember{addr: addr, group: groupID, id: id, held: &atomic.Int64{}, owned: map[group.TopicPartition]bool{},
		stop: make(chan struct{}), done: make(chan struct{})}
}

func (m *simMember) ownedWire() []wire.TopicPartitions {
	var tps []group.TopicPartition
	for tp := range m.owned {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool { return tps[i].Compare(tps[j]) < 0 })
	return group.ToWire(tps)
}

func (m *simMember) apply(ans wire.MemberAssignment) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen = ans.Generation
	if len(ans.Revoke) > 0 {
		var offs []wire.OffsetCommit
		for _, tp := range group.FromWire(ans.Revoke) {
			if m.owned[tp] {
				offs = append(offs, wire.OffsetCommit{Topic: tp.Topic, Partition: tp.Partition, Offset: 1, LeaderEpoch: -1})
			}
		}
		if len(offs) > 0 {
			if err := call(m.addr, wire.PathGroupCommit, wire.OffsetCommitRequest{GroupID: m.group, MemberID: m.id, Generation: m.gen, Offsets: offs}, nil); err != nil {
				return fmt.Errorf("%s: commit of revoked partitions: %w", m.id, err)
			}
		}
		for _, tp := range group.FromWire(ans.Revoke) {
			delete(m.owned, tp)
		}
	}
	for _, tp := range group.FromWire(ans.Assigned) {
		m.owned[tp] = true
	}
	m.held.Store(int64(len(m.owned)))
	return nil
}

func (m *simMember) join() error {
	var ans wire.MemberAssignment
	if err := call(m.addr, wire.PathGroupJoin, wire.JoinGroupRequest{GroupID: m.group, MemberID: m.id, Topics: []string{"t"}, SessionTimeoutMs: 30000}, &ans); err != nil {
		return err
	}
	if err := m.apply(ans); err != nil {
		return err
	}
	go m.loop()
	return nil
}

func (m *simMember) loop() {
	defer close(m.done)
	for {
		select {
		case <-m.stop:
			return
		default:
		}
		m.mu.Lock()
		req := wire.HeartbeatRequest{GroupID: m.group, MemberID: m.id, Generation: m.gen, Owned: m.ownedWire(), MaxWaitMs: 1000}
		m.mu.Unlock()
		var ans wire.MemberAssignment
		if err := call(m.addr, wire.PathGroupHeartbeat, req, &ans); err != nil {
			select {
			case <-m.stop:
				return
			default:
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		_ = m.apply(ans)
	}
}

// leave stops the loop; the leave request goes out at once (Close), and the
// heartbeat still parked is abandoned.
func (m *simMember) leave() error {
	close(m.stop)
	return call(m.addr, wire.PathGroupLeave, wire.LeaveGroupRequest{GroupID: m.group, MemberID: m.id}, nil)
}

// settled reports whether the members hold want partitions each (all of
// the topic's partitions between them).
func settled(ms []*simMember, total int) bool {
	sum := 0
	lo, hi := int64(1<<30), int64(0)
	for _, m := range ms {
		h := m.held.Load()
		sum += int(h)
		lo, hi = min(lo, h), max(hi, h)
	}
	return sum == total && hi-lo <= 1
}

func waitSettled(b testing.TB, ms []*simMember, total int) time.Duration {
	start := time.Now()
	deadline := start.Add(30 * time.Second)
	for !settled(ms, total) {
		if time.Now().After(deadline) {
			b.Fatalf("the group did not settle")
		}
		time.Sleep(200 * time.Microsecond)
	}
	return time.Since(start)
}

func standaloneBench(b *testing.B, partitions int32) (coord string) {
	b.Helper()
	data := startData(b)
	if err := call(data, wire.PathAdminTopics, wire.CreateTopicRequest{Topic: "t", Partitions: partitions}, nil); err != nil {
		b.Fatal(err)
	}
	addr := freePort(b)
	args := []string{"--id", "c1", "--standalone", "--data", data, "--listen", addr, "--offsets-partitions", "10", "--log-level", "warn"}
	if w := os.Getenv("STRAND_BENCH_WRITERS"); w != "" {
		args = append(args, "--writers-per-partition", w)
	}
	start(b, bins.coordinator, args...)
	waitFor(b, 20*time.Second, "the coordinator to serve", func() bool {
		return call(addr, wire.PathGroupOffsetsFetch, wire.OffsetFetchRequest{GroupID: "warmup"}, nil) == nil
	})
	return addr
}

// BenchmarkRebalance10x100 measures, for 10 consumers over 100 partitions,
// the time from a join (the 10th member) to every member holding its new
// assignment, and from a leave back to 9 members holding theirs. Each
// iteration is one join and one leave.
func BenchmarkRebalance10x100(b *testing.B) {
	addr := standaloneBench(b, 100)
	var ms []*simMember
	for i := range 9 {
		m := newSimMember(addr, "g", fmt.Sprintf("m%d", i))
		if err := m.join(); err != nil {
			b.Fatal(err)
		}
		ms = append(ms, m)
		waitSettled(b, ms, 100)
	}
	var joins, leaves []time.Duration
	b.ResetTimer()
	for i := range b.N {
		m := newSimMember(addr, "g", fmt.Sprintf("x%d", i))
		start := time.Now()
		if err := m.join(); err != nil {
			b.Fatal(err)
		}
		all := append(ms[:9:9], m)
		waitSettled(b, all, 100)
		joins = append(joins, time.Since(start))
		start = time.Now()
		if err := m.leave(); err != nil {
			b.Fatal(err)
		}
		waitSettled(b, ms, 100)
		leaves = append(leaves, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(float64(median(joins).Microseconds())/1000, "join-ms")
	b.ReportMetric(float64(median(leaves).Microseconds())/1000, "leave-ms")
	b.ReportMetric(float64(maxOf(joins).Microseconds())/1000, "join-max-ms")
	b.ReportMetric(float64(maxOf(leaves).Microseconds())/1000, "leave-max-ms")
	for _, m := range ms {
		m.leave()
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func maxOf(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// BenchmarkCommits measures commits per second against one coordinator:
// 64 concurrent members (of 64 groups), each request committing one
// partition (commits/s) or ten (the partition offsets per second are then
// ten times the request rate), written with acks=all to __consumer_offsets
// and batched by the coordinator. The load generator uses fasthttp with
// pre-built bodies so that its own cost stays small on a 2-core machine.
func BenchmarkCommits(b *testing.B) {
	for _, per := range []int{1, 10} {
		b.Run(fmt.Sprintf("partitions-per-commit=%d", per), func(b *testing.B) { benchCommits(b, per) })
	}
}

func benchCommits(b *testing.B, per int) {
	addr := standaloneBench(b, 64)
	const members = 64
	gens := make([]int32, members)
	for i := range members {
		var a wire.MemberAssignment
		if err := call(addr, wire.PathGroupJoin, wire.JoinGroupRequest{GroupID: fmt.Sprintf("g%d", i), MemberID: "m", Topics: []string{"t"}, SessionTimeoutMs: 60000}, &a); err != nil {
			b.Fatal(err)
		}
		gens[i] = a.Generation
	}
	fc := &fasthttp.Client{MaxConnsPerHost: 1024}
	var next atomic.Int64
	b.SetParallelism(members / 2)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)-1) % members
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://" + addr + wire.PathGroupCommit)
		req.Header.SetMethod(fasthttp.MethodPost)
		req.Header.SetContentType(wire.ContentTypeJSON)
		var body []byte
		off := int64(0)
		for pb.Next() {
			off++
			body = fmt.Appendf(body[:0], `{"group_id":"g%d","member_id":"m","generation":%d,"offsets":[`, i, gens[i])
			for k := range per {
				if k > 0 {
					body = append(body, ',')
				}
				body = fmt.Appendf(body, `{"topic":"t","partition":%d,"offset":%d,"leader_epoch":-1}`, (int(off)*per+k)%64, off)
			}
			body = append(body, "]}"...)
			req.SetBodyRaw(body)
			if err := fc.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Errorf("commit: %v %s", err, resp.Body())
				return
			}
		}
	})
	b.StopTimer()
	secs := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N)/secs, "commits/s")
	b.ReportMetric(float64(b.N*per)/secs, "offsets/s")
	reportWrites(b, addr)
}

// reportWrites reports the coordinator's produce count and latency.
func reportWrites(b *testing.B, addr string) {
	r, err := hc.Get("http://" + addr + wire.PathMetrics)
	if err != nil {
		return
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	vals := map[string]float64{}
	for _, l := range strings.Split(string(body), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && strings.HasPrefix(f[0], "strand_coordinator_offsets_write") {
			v, _ := strconv.ParseFloat(f[1], 64)
			vals[f[0]] = v
		}
	}
	if n := vals["strand_coordinator_offsets_write_seconds_count"]; n > 0 {
		b.ReportMetric(vals["strand_coordinator_offsets_write_seconds_sum"]/n*1000, "produce-ms")
		b.ReportMetric(vals["strand_coordinator_offsets_write_records_sum"]/n, "records/produce")
	}
}

// BenchmarkTakeover1M: one offsets partition holds 1,000,000 commits (of
// 1,000 groups over 1,000 partitions); its owner is SIGKILLed; the figure is
// the time until the other coordinator answers the group (gossip failure
// detection, the 2 s ownership lease and the replay), with the replay time
// alone from the new owner's log.
func BenchmarkTakeover1M(b *testing.B) {
	const records = 1_000_000
	for range b.N {
		c := newCluster(b, 1, map[string]int32{"t": 1000})
		// Fill partition 0 of __consumer_offsets directly, as a previous
		// owner at epoch 0 would have.
		fill(b, c.data, records)
		c.startCoordinator("c1")
		waitFor(b, 120*time.Second, "c1 to serve", func() bool {
			return call(c.addrs["c1"], wire.PathGroupOffsetsFetch, wire.OffsetFetchRequest{GroupID: "g0"}, nil) == nil
		})
		var replay time.Duration
		if m := loadRe.FindStringSubmatch(c.coords["c1"].output()); m != nil {
			if d, err := time.ParseDuration(m[2]); err == nil {
				replay = d
				b.Logf("c1 replayed %s records in %s from a standing start (no lease to wait out)", m[1], m[2])
			}
		}
		c.startCoordinator("c2")
		time.Sleep(time.Second) // gossip settles; c1 keeps the single partition (rendezvous may move it: then c2 serves it)
		g := &groupClient{c: c, group: "g0"}
		var fc wire.FindCoordinatorResponse
		if err := g.do(wire.PathGroupCoordinator+"?group=g0", nil, &fc, 30*time.Second); err != nil {
			b.Fatal(err)
		}
		waitFor(b, 120*time.Second, "the owner to serve", func() bool {
			return call(fc.Addr, wire.PathGroupOffsetsFetch, wire.OffsetFetchRequest{GroupID: "g0"}, nil) == nil
		})
		victim := fc.CoordinatorID
		survivor := "c1"
		if victim == "c1" {
			survivor = "c2"
		}
		b.ResetTimer()
		killed := time.Now()
		c.coords[victim].cmd.Process.Kill()
		c.coords[victim].wait(b, 10*time.Second)
		var of wire.OffsetFetchResponse
		waitFor(b, 120*time.Second, "the survivor to serve", func() bool {
			return call(c.addrs[survivor], wire.PathGroupOffsetsFetch, wire.OffsetFetchRequest{GroupID: "g0"}, &of) == nil
		})
		took := time.Since(killed)
		b.StopTimer()
		if len(of.Offsets) == 0 {
			b.Fatal("the survivor has no offsets for g0")
		}
		b.ReportMetric(float64(took.Milliseconds()), "kill-to-serve-ms")
		if replay > 0 {
			b.ReportMetric(float64(replay.Milliseconds()), "cold-replay-ms")
		}
		if m := loadRe.FindAllStringSubmatch(c.coords[survivor].output(), -1); len(m) > 0 {
			last := m[len(m)-1]
			if d, err := time.ParseDuration(last[2]); err == nil {
				b.ReportMetric(float64(d.Milliseconds()), "claim-to-serve-ms")
				b.Logf("%s replayed %s records and served %s after its claim (the 2 s lease wait overlaps the replay)", survivor, last[1], last[2])
			}
		}
	}
}

// loadRe reads a coordinator's "serving offsets partition" log line.
var loadRe = regexp.MustCompile(`serving offsets partition.*records=(\d+).* took=(\S+)`)

// fill writes n commit records to __consumer_offsets-0 on the data node.
func fill(b testing.TB, data string, n int) {
	b.Helper()
	const perBatch = 5000
	rec := make([]recordbatch.Record, 0, perBatch)
	for i := 0; i < n; {
		rec = rec[:0]
		for j := 0; j < perBatch && i < n; j, i = j+1, i+1 {
			g := fmt.Sprintf("g%d", i%1000)
			rec = append(rec, recordbatch.Record{
				Timestamp: time.Now().UnixMilli(),
				Key:       offsets.OffsetKey(g, "t", int32(i/1000%1000)).Encode(),
				Value:     offsets.OffsetValue{Offset: int64(i), LeaderEpoch: -1, CommitTimestampMs: time.Now().UnixMilli()}.Encode(),
			})
		}
		batch, err := recordbatch.Encode(rec, recordbatch.EncodeOptions{Compression: recordbatch.LZ4})
		if err != nil {
			b.Fatal(err)
		}
		if err := produce(data, wire.OffsetsTopic, 0, batch); err != nil {
			b.Fatal(err)
		}
	}
}
