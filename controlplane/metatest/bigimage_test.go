package metatest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"strand.dev/client/wire"
	"strand.dev/controlplane/raftnode"
)

// buildBigImage registers three data nodes, takes the controller lease and
// creates topics with partitions partitions in all (replication factor 3)
// through the API of addr. It returns the image version.
func buildBigImage(t testing.TB, addr string, partitions, perTopic int) uint64 {
	t.Helper()
	for id := int32(1); id <= 3; id++ {
		proposeRetry(t, addr, &wire.Command{Type: wire.CmdRegisterNode, RegisterNode: &wire.RegisterNodeCmd{Node: wire.NodeRecord{
			ID: id, Addr: fmt.Sprintf("127.0.0.1:%d", 9000+id), GossipAddr: fmt.Sprintf("127.0.0.1:%d", 9100+id), Incarnation: time.Now().UnixNano()}}})
	}
	lease := proposeRetry(t, addr, &wire.Command{Type: wire.CmdAcquireLease, AcquireLease: &wire.AcquireLeaseCmd{
		Holder: "bench-controller", Addr: "127.0.0.1:9200", Epoch: 0, LeaseMs: 600000}})
	var v uint64
	for topic := 0; topic*perTopic < partitions; topic++ {
		tr := wire.TopicRecord{Name: fmt.Sprintf("topic-%03d", topic)}
		for p := 0; p < perTopic && topic*perTopic+p < partitions; p++ {
			r := int32(p % 3)
			tr.Partitions = append(tr.Partitions, &wire.PartitionRecord{Partition: int32(p), Replicas: []int32{1 + r, 1 + (r+1)%3, 1 + (r+2)%3}})
		}
		v = proposeRetry(t, addr, &wire.Command{Type: wire.CmdCreateTopic, CreateTopic: &wire.CreateTopicCmd{ControllerEpoch: lease.Epoch, Topic: tr}}).Version
	}
	return v
}

// BenchmarkImage100k builds an image of 100,000 partitions on a 3-member
// cluster and measures: the image's JSON size and a linearizable read of
// it, a snapshot taken by the leader (size, time), a new member catching up
// end to end through that snapshot (sent over the transport, restored), and
// a restart of a member from its snapshot on disk.
//
//	go test -run '^$' -bench Image100k -benchtime 1x ./metatest
func BenchmarkImage100k(b *testing.B) {
	c := newCluster(b, 3, clusterOpts{snapshotCount: 1 << 40, catchUp: 5})
	leader := c.waitOnLeader()
	start := time.Now()
	v := buildBigImage(b, leader.addr, 100_000, 10_000)
	b.Logf("built the image (version %d) in %v", v, time.Since(start))
	c.waitConverged(v)

	// The image over the API.
	t0 := time.Now()
	resp, err := httpClient.Get("http://" + leader.addr + wire.PathMetaImage)
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	buf := make([]byte, 1<<20)
	for {
		n, err := resp.Body.Read(buf)
		size += int64(n)
		if err != nil {
			break
		}
	}
	resp.Body.Close()
	b.ReportMetric(float64(size)/(1<<20), "image-json-MiB")
	b.ReportMetric(ms(time.Since(t0)), "image-read-ms")

	// A snapshot on the leader (state machine + cluster state, written
	// and fsynced, log compacted behind it).
	info, err := leader.srv.Node().Snapshot(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(info.Bytes)/(1<<20), "snapshot-MiB")
	b.ReportMetric(ms(info.Took), "snapshot-ms")
	// Commit a few more entries so the compacted log no longer reaches
	// back to what a new member needs.
	for i := 0; i < 10; i++ {
		proposeRetry(b, leader.addr, noop())
	}
	if _, err := leader.srv.Node().Snapshot(context.Background()); err != nil {
		b.Fatal(err)
	}
	st, _ := leader.srv.Node().Status(context.Background())
	if st.FirstIndex <= 2 {
		b.Fatalf("the leader's log was not compacted: %+v", st)
	}

	// A new member catches up end to end: added, started empty, sent the
	// snapshot, restores it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := call(http.MethodPost, leader.addr, wire.PathMetaMembers, wire.AddMemberRequest{ID: 4, PeerAddr: addr, APIAddr: addr}, nil); err != nil {
		b.Fatal(err)
	}
	c.mu.Lock()
	c.members = append(c.members, raftnode.Member{ID: 4, PeerAddr: addr, APIAddr: addr})
	c.mu.Unlock()
	target := c.waitConverged(0).Version
	t0 = time.Now()
	n4 := c.start(4, ln, true)
	checkFor(b, 5*time.Minute, 5*time.Millisecond, func() error {
		if got := n4.srv.Machine().Image().Version; got < target {
			return fmt.Errorf("member 4 at version %d, want %d", got, target)
		}
		return nil
	})
	b.ReportMetric(ms(time.Since(t0)), "new-member-catchup-ms")
	if n := countPartitions(n4.srv.Machine().Image()); n != 100_000 {
		b.Fatalf("member 4 holds %d partitions", n)
	}

	// Restart a member from its snapshot on disk.
	var follower uint64 = 1
	if leader.id == 1 {
		follower = 2
	}
	if _, err := c.node(follower).srv.Node().Snapshot(context.Background()); err != nil {
		b.Fatal(err)
	}
	c.stop(follower)
	t0 = time.Now()
	fn := c.start(follower, nil, false)
	restored := time.Since(t0)
	if got := fn.srv.Machine().Image().Version; got < target {
		b.Fatalf("restarted member at version %d, want >= %d", got, target)
	}
	if n := countPartitions(fn.srv.Machine().Image()); n != 100_000 {
		b.Fatalf("the restarted member holds %d partitions", n)
	}
	b.ReportMetric(ms(restored), "restart-from-snapshot-ms")
}

func countPartitions(img *wire.Image) int {
	n := 0
	for _, t := range img.Topics {
		n += len(t.Partitions)
	}
	return n
}
