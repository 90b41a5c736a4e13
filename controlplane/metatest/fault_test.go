package metatest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"strand.dev/client/wire"
	"strand.dev/controlplane/raftnode"
)

// TestMinorityCannotCommit isolates the leader: what it is asked to commit
// alone never becomes part of the image, while the majority elects a new
// leader and goes on; once the cut heals everyone holds the majority's image.
func TestMinorityCannotCommit(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, clusterOpts{proposeTimeout: 3 * time.Second})
	old := c.waitOnLeader()
	base := proposeRetry(t, old.addr, allocate(1)).Version
	c.waitConverged(base)

	var others []uint64
	for id := uint64(1); id <= 3; id++ {
		if id != old.id {
			others = append(others, id)
		}
	}
	c.links.partition([]uint64{old.id}, others)

	// Proposals to the isolated old leader: none may be acknowledged.
	var acked atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := propose(old.addr, allocate(1000)); err == nil {
				acked.Add(1)
			}
		}()
	}
	newLeader := c.waitOnLeader(others...)
	if newLeader.id == old.id {
		t.Fatalf("the isolated member is still the leader")
	}
	v := proposeRetry(t, newLeader.addr, allocate(1)).Version
	wg.Wait()
	if n := acked.Load(); n != 0 {
		t.Fatalf("the isolated old leader acknowledged %d proposals", n)
	}
	// The old leader stepped down (check quorum) and knows no leader.
	checkFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if old.srv.Node().IsLeader() {
			return errors.New("the isolated member still acts as leader")
		}
		return nil
	})

	c.links.heal()
	img := c.waitConverged(v)
	if img.NextProducerID != 2 {
		t.Fatalf("next producer id %d: a minority proposal was applied", img.NextProducerID)
	}
}

// TestRestartFromDisk stops every member and starts them again on their
// data directories: the image comes back identical, and commits continue.
func TestRestartFromDisk(t *testing.T) {
	c := newCluster(t, 3, clusterOpts{snapshotCount: 300})
	leader := c.waitOnLeader()
	for i := 0; i < 500; i++ {
		cmd := allocate(1)
		if i%3 == 0 {
			cmd = claim(int32(i%7), fmt.Sprintf("coord-%d", i), -1)
			cmd.ClaimOffsetsOwner.ExpectedEpoch = 0
		}
		propose(leader.addr, cmd) // rejections are part of the history too
	}
	v := proposeRetry(t, leader.addr, noop()).Version
	before := imageJSON(t, c.waitConverged(v))
	c.stopAll()
	for id := uint64(1); id <= 3; id++ {
		c.start(id, nil, false)
	}
	c.waitOnLeader()
	after := c.waitConverged(v)
	if got := imageJSON(t, after); got != before {
		t.Fatalf("image after restart differs:\n%s\n%s", got, before)
	}
	proposeRetry(t, c.addr(1), noop())
}

// TestSnapshotCatchUp: a member down while 10,000 commands commit comes back
// through a snapshot (the leader compacted its log) and converges.
func TestSnapshotCatchUp(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 commands")
	}
	c := newCluster(t, 3, clusterOpts{snapshotCount: 1000})
	leader := c.waitOnLeader()
	var down uint64 = 1
	if leader.id == down {
		down = 2
	}
	c.stop(down)
	const total = 10000
	var next atomic.Int64
	var wg sync.WaitGroup
	body, _ := json.Marshal(allocate(1))
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= total {
				if err := fastPropose(leader.addr, body); err != nil {
					proposeRetry(t, leader.addr, allocate(1))
				}
			}
		}()
	}
	wg.Wait()
	v := proposeRetry(t, leader.addr, noop()).Version

	st, err := leader.srv.Node().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.SnapshotIndex == 0 || st.FirstIndex <= 1 {
		t.Fatalf("leader did not snapshot and compact: %+v", st)
	}
	c.start(down, nil, false)
	img := c.waitConverged(v)
	if img.NextProducerID < total {
		t.Fatalf("next producer id %d after %d allocations", img.NextProducerID, total)
	}
	dst, err := c.node(down).srv.Node().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if dst.SnapshotIndex == 0 {
		t.Fatalf("the returning member caught up without a snapshot: %+v", dst)
	}
	// And it survives a restart from its snapshot.
	c.restart(down)
	c.waitConverged(v)
}

// TestMembershipChangeWhileWriting grows the cluster 3 -> 5 and shrinks it
// back to 3 (removing two original members, the leader among them) while
// writers keep committing; every acknowledged write is in the final image.
func TestMembershipChangeWhileWriting(t *testing.T) {
	c := newCluster(t, 3, clusterOpts{})
	stop := make(chan struct{})
	var acked atomic.Int64
	var wg sync.WaitGroup
	var addrsMu sync.Mutex
	addrs := []string{c.addr(1), c.addr(2), c.addr(3)}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				addrsMu.Lock()
				addr := addrs[(w+i)%len(addrs)]
				addrsMu.Unlock()
				if _, err := propose(addr, allocate(1)); err == nil {
					acked.Add(1)
				} else {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}(w)
	}
	waitAcked := func(n int64) {
		target := acked.Load() + n
		checkFor(t, 60*time.Second, 20*time.Millisecond, func() error {
			if acked.Load() < target {
				return fmt.Errorf("%d acknowledged writes, waiting for %d", acked.Load(), target)
			}
			return nil
		})
	}
	waitAcked(20)

	// Grow: add 4 and 5 (learners first), start them, wait until voters.
	for _, id := range []uint64{4, 5} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		var out wire.MembersResponse
		checkFor(t, 30*time.Second, 100*time.Millisecond, func() error {
			return call(http.MethodPost, c.addr(2), wire.PathMetaMembers, wire.AddMemberRequest{ID: id, PeerAddr: addr, APIAddr: addr}, &out)
		})
		c.mu.Lock()
		c.members = append(c.members, membersFrom(out, id)...)
		c.mu.Unlock()
		c.start(id, ln, true)
		waitVoter(t, c, id)
		addrsMu.Lock()
		addrs = append(addrs, addr)
		addrsMu.Unlock()
		waitAcked(20)
	}
	if n := len(voters(t, c)); n != 5 {
		t.Fatalf("%d voters after growing", n)
	}

	// Shrink: remove the leader, then another original member.
	for round := 0; round < 2; round++ {
		leader := c.waitOnLeader()
		victim := leader.id
		for id := uint64(1); victim > 3 && id <= 3; id++ {
			if c.node(id) != nil {
				victim = id
			}
		}
		checkFor(t, 30*time.Second, 100*time.Millisecond, func() error {
			err := call(http.MethodDelete, c.addr(4), fmt.Sprintf("%s?id=%d", wire.PathMetaMembers, victim), nil, nil)
			if isCode(err, wire.CodeMemberNotFound) {
				return nil // an earlier attempt with an unknown outcome did it
			}
			if err != nil {
				t.Logf("remove member %d: %v", victim, err)
			}
			return err
		})
		addrsMu.Lock()
		victimAddr := c.addr(victim)
		kept := addrs[:0]
		for _, a := range addrs {
			if a != victimAddr {
				kept = append(kept, a)
			}
		}
		addrs = kept
		addrsMu.Unlock()
		// The removed member stops by itself.
		vn := c.node(victim)
		select {
		case <-vn.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("removed member %d did not stop", victim)
		}
		c.mu.Lock()
		delete(c.nodes, victim)
		c.mu.Unlock()
		c.waitOnLeader()
		waitAcked(20)
	}
	if n := len(voters(t, c)); n != 3 {
		t.Fatalf("%d voters after shrinking", n)
	}
	close(stop)
	wg.Wait()
	v := proposeRetry(t, c.waitOnLeader().addr, noop()).Version
	img := c.waitConverged(v)
	if img.NextProducerID < acked.Load() {
		t.Fatalf("next producer id %d but %d allocations were acknowledged", img.NextProducerID, acked.Load())
	}
}

func membersFrom(out wire.MembersResponse, id uint64) []raftnode.Member {
	for _, m := range out.Members {
		if m.ID == id {
			return []raftnode.Member{{ID: m.ID, PeerAddr: m.PeerAddr, APIAddr: m.APIAddr}}
		}
	}
	return nil
}

// voters lists the voting members per the leader's status.
func voters(t *testing.T, c *testCluster) []uint64 {
	t.Helper()
	var out []uint64
	var st wire.MetaStatus
	checkFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		return call(http.MethodGet, c.waitOnLeader().addr, wire.PathMetaStatus, nil, &st)
	})
	for _, m := range st.Members {
		if !m.Learner {
			out = append(out, m.ID)
		}
	}
	return out
}

func waitVoter(t *testing.T, c *testCluster, id uint64) {
	t.Helper()
	checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		for _, v := range voters(t, c) {
			if v == id {
				return nil
			}
		}
		return fmt.Errorf("member %d is not a voter yet", id)
	})
}

// TestLeaseTakeover: the leader refuses to hand the controller lease to
// another holder until it has lapsed on the leader's clock, and a new leader
// gives the holder a full lease again.
func TestLeaseTakeover(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, clusterOpts{})
	addr := c.addr(1)
	const leaseMs = 1500
	acquire := func(holder string, epoch int64) (wire.ProposeResponse, error) {
		return propose(addr, &wire.Command{Type: wire.CmdAcquireLease, AcquireLease: &wire.AcquireLeaseCmd{
			Holder: holder, Addr: holder + ":1", Epoch: epoch, LeaseMs: leaseMs}})
	}
	r, err := acquire("a", 0)
	if err != nil || r.Epoch != 1 {
		t.Fatalf("acquire a vacant lease: %v %+v", err, r)
	}
	if _, err := acquire("b", 1); !isCode(err, wire.CodeNotController) {
		t.Fatalf("takeover of a fresh lease: %v", err)
	}
	// Renewals keep it.
	for i := 0; i < 3; i++ {
		time.Sleep(leaseMs / 3 * time.Millisecond)
		if _, err := acquire("a", 1); err != nil {
			t.Fatalf("renew: %v", err)
		}
		if _, err := acquire("b", 1); !isCode(err, wire.CodeNotController) {
			t.Fatalf("takeover of a renewed lease: %v", err)
		}
	}
	// Without renewals it lapses.
	var got wire.ProposeResponse
	checkFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		var err error
		got, err = acquire("b", 1)
		return err
	})
	if got.Epoch != 2 {
		t.Fatalf("takeover epoch %d", got.Epoch)
	}
	if _, err := acquire("a", 1); !isCode(err, wire.CodeStaleControllerEpoch) {
		t.Fatalf("renewal by the old holder: %v", err)
	}

	// A new raft leader starts b's lease afresh.
	old := c.waitOnLeader()
	if _, err := acquire("b", 2); err != nil {
		t.Fatal(err)
	}
	time.Sleep(leaseMs * time.Millisecond) // b's lease lapses on the old leader's clock
	stopped := time.Now()
	c.stop(old.id)
	nl := c.waitOnLeader()
	addr = nl.addr
	_, err = acquire("c", 2)
	if err == nil && time.Since(stopped) < leaseMs*time.Millisecond {
		t.Fatalf("a new leader handed the lease over before a full lease passed")
	}
	if err != nil && !isCode(err, wire.CodeNotController) {
		t.Fatalf("takeover right after a leader change: %v", err)
	}
	c.start(old.id, nil, false)
}

func isCode(err error, code wire.Code) bool {
	var we *wire.Error
	return errors.As(err, &we) && we.Code == code
}

// TestNewMemberCatchesUpBySnapshot: a member added after the leader
// compacted its log is brought up by a snapshot sent over the transport.
func TestNewMemberCatchesUpBySnapshot(t *testing.T) {
	c := newCluster(t, 3, clusterOpts{snapshotCount: 1 << 40, catchUp: 5})
	leader := c.waitOnLeader()
	for i := 0; i < 50; i++ {
		proposeRetry(t, leader.addr, allocate(1))
	}
	if _, err := leader.srv.Node().Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := leader.srv.Node().Status(context.Background())
	if err != nil || st.FirstIndex <= 2 {
		t.Fatalf("the leader's log was not compacted: %v %+v", err, st)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := call(http.MethodPost, c.addr(2), wire.PathMetaMembers, wire.AddMemberRequest{ID: 4, PeerAddr: addr, APIAddr: addr}, nil); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.members = append(c.members, raftnode.Member{ID: 4, PeerAddr: addr, APIAddr: addr})
	c.mu.Unlock()
	c.start(4, ln, true)
	img := c.waitConverged(50)
	if img.NextProducerID != 50 {
		t.Fatalf("next producer id %d", img.NextProducerID)
	}
	waitVoter(t, c, 4)
	st4, _ := c.node(4).srv.Node().Status(context.Background())
	if st4.SnapshotIndex == 0 {
		t.Fatalf("member 4 caught up without a snapshot: %+v", st4)
	}
}
