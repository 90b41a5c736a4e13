package metatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"strand.dev/client/wire"
	"strand.dev/controlplane/metaserver"
	"strand.dev/controlplane/raftnode"
)

func TestSingleMember(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, clusterOpts{})
	addr := c.addr(1)
	r, err := propose(addr, allocate(5))
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != 1 {
		t.Fatalf("version %d", r.Version)
	}
	img, err := readImage(addr, false)
	if err != nil {
		t.Fatal(err)
	}
	if img.Version != 1 || img.NextProducerID != 5 {
		t.Fatalf("image %+v", img)
	}
}

// TestProposeOnAnyMember: followers forward to the leader; every member's
// linearizable read sees every acknowledged command.
func TestProposeOnAnyMember(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, clusterOpts{})
	var want int64
	for round := 0; round < 5; round++ {
		for id := uint64(1); id <= 3; id++ {
			if _, err := propose(c.addr(id), allocate(1)); err != nil {
				t.Fatalf("propose on member %d: %v", id, err)
			}
			want++
			// A linearizable read on any member sees it at once.
			for rid := uint64(1); rid <= 3; rid++ {
				img, err := readImage(c.addr(rid), false)
				if err != nil {
					t.Fatal(err)
				}
				if img.NextProducerID != want {
					t.Fatalf("member %d reads next producer id %d after %d allocations", rid, img.NextProducerID, want)
				}
			}
		}
	}
	var st wire.MetaStatus
	if err := call(http.MethodGet, c.addr(1), wire.PathMetaStatus, nil, &st); err != nil {
		t.Fatal(err)
	}
	if st.Leader == 0 || st.LeaderAddr == "" || len(st.Members) != 3 || st.ImageVersion != uint64(want) {
		t.Fatalf("status %+v", st)
	}
	leader := c.waitOnLeader()
	var lst wire.MetaStatus
	if err := call(http.MethodGet, leader.addr, wire.PathMetaStatus, nil, &lst); err != nil {
		t.Fatal(err)
	}
	for _, m := range lst.Members {
		if m.Match == 0 || m.State == "" {
			t.Fatalf("leader's status lacks progress: %+v", lst.Members)
		}
	}
	var md wire.Metadata
	if err := call(http.MethodGet, c.addr(2), wire.PathMetadata, nil, &md); err != nil {
		t.Fatal(err)
	}
	if len(md.MetaAddrs) != 3 || md.ClusterID != c.clusterID {
		t.Fatalf("metadata %+v", md)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, clusterOpts{})
	addr := c.addr(2)
	post := func(body []byte) (int, *wire.Error) {
		resp, err := http.Post("http://"+addr+wire.PathMetaPropose, "application/json", bytes.NewReader(body))
		if err != nil {
			// The server may close the connection on an oversized body.
			return -1, &wire.Error{Code: "CONNECTION_CLOSED", Message: err.Error()}
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		if resp.StatusCode == 200 {
			return 200, nil
		}
		return resp.StatusCode, wire.UnmarshalError(resp.StatusCode, buf.Bytes())
	}
	cases := []struct {
		name string
		body []byte
		code wire.Code
	}{
		{"malformed json", []byte(`{"type":`), wire.CodeInvalidRequest},
		{"unknown command", []byte(`{"type":"make_coffee"}`), wire.CodeUnknownCommand},
		{"missing body", []byte(`{"type":"claim_offsets_owner"}`), wire.CodeInvalidRequest},
		{"stale epoch", []byte(`{"type":"claim_offsets_owner","claim_offsets_owner":{"partition":1,"coordinator":"c","addr":"127.0.0.1:1","expected_epoch":7}}`), wire.CodeInvalidUpdateVersion},
		{"oversized", append(append([]byte(`{"type":"noop","x":"`), bytes.Repeat([]byte("a"), metaserver.DefaultMaxRequestBytes+10)...), '"', '}'), wire.CodeMessageTooLarge},
	}
	before := c.waitConverged(0).Version
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, we := post(tc.body)
			if status == 200 {
				t.Fatalf("accepted")
			}
			if status == -1 && tc.code == wire.CodeMessageTooLarge {
				return // the server may close the connection instead
			}
			if we == nil || we.Code != tc.code {
				t.Fatalf("status %d error %v, want %s", status, we, tc.code)
			}
		})
	}
	if v := c.waitConverged(0).Version; v != before {
		t.Fatalf("bad input changed the image: version %d -> %d", before, v)
	}
	// The server keeps serving.
	if _, err := propose(addr, noop()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/v1/meta/nothing", wire.PathMetaWatch + "?version=x", wire.PathMetaMembers + "?id=x"} {
		method := http.MethodGet
		if strings.Contains(p, "members") {
			method = http.MethodDelete
		}
		if err := call(method, addr, p, nil, nil); err == nil {
			t.Fatalf("%s %s accepted", method, p)
		}
	}
}

// TestNoLeaderIsRetriableNotAHang: with the majority down, proposals and
// linearizable reads fail with NO_LEADER within a bounded time; stale reads
// still answer.
func TestNoLeaderIsRetriableNotAHang(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, clusterOpts{})
	proposeRetry(t, c.addr(1), allocate(3))
	c.waitConverged(1)
	c.stop(2)
	c.stop(3)
	addr := c.addr(1)
	checkFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if l, _ := c.node(1).srv.Node().Leader(); l != 0 {
			return fmt.Errorf("member 1 still sees leader %d", l)
		}
		return nil
	})
	start := time.Now()
	_, err := propose(addr, noop())
	if !errors.Is(err, wire.ErrNoLeader) {
		t.Fatalf("propose without a majority: %v", err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("NO_LEADER took %v", took)
	}
	var we *wire.Error
	if !errors.As(err, &we) || !we.Retriable() {
		t.Fatalf("NO_LEADER is not retriable: %v", err)
	}
	if _, err := readImage(addr, false); !errors.Is(err, wire.ErrNoLeader) {
		t.Fatalf("linearizable read without a majority: %v", err)
	}
	img, err := readImage(addr, true)
	if err != nil || img.NextProducerID != 3 {
		t.Fatalf("stale read: %v %+v", err, img)
	}
	if resp, err := http.Get("http://" + addr + wire.PathHealth); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("healthz without a leader: %v %v", err, resp)
	}
	c.start(2, nil, false)
	c.start(3, nil, false)
	c.waitOnLeader()
	proposeRetry(t, addr, noop())
}

func TestWatch(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, clusterOpts{})
	v := proposeRetry(t, c.addr(1), noop()).Version
	c.waitConverged(v)
	const watchers = 20
	var wg sync.WaitGroup
	errs := make(chan error, watchers)
	for i := 0; i < watchers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var img wire.Image
			addr := c.addr(uint64(i%3 + 1))
			if err := call(http.MethodGet, addr, fmt.Sprintf("%s?version=%d&timeout_ms=30000", wire.PathMetaWatch, v), nil, &img); err != nil {
				errs <- err
				return
			}
			if img.Version <= v {
				errs <- fmt.Errorf("watch answered version %d, want > %d", img.Version, v)
			}
		}(i)
	}
	time.Sleep(200 * time.Millisecond) // let the watchers park (not needed for correctness)
	proposeRetry(t, c.addr(2), noop())
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// A watch that times out answers the current image.
	var img wire.Image
	start := time.Now()
	cur := c.waitConverged(v + 1).Version
	if err := call(http.MethodGet, c.addr(1), fmt.Sprintf("%s?version=%d&timeout_ms=300", wire.PathMetaWatch, cur), nil, &img); err != nil {
		t.Fatal(err)
	}
	if img.Version != cur || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("timed-out watch: version %d after %v", img.Version, time.Since(start))
	}
}

// TestRefuseForeignDataDir: a member refuses a data directory of another
// cluster, of another member, or one in use.
func TestRefuseForeignDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	cfg := metaserver.Config{
		ID: 1, ClusterID: "a", APIListener: ln, DataDir: dir, Logger: testLogger(),
		InitialCluster: []raftnode.Member{{ID: 1, PeerAddr: addr, APIAddr: addr}, {ID: 2, PeerAddr: "127.0.0.1:1", APIAddr: "127.0.0.1:1"}},
	}
	srv, err := metaserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// In use: a second member on the same directory.
	other := cfg
	other.APIListener = nil
	other.ListenAddr = "127.0.0.1:0"
	if _, err := metaserver.New(other); !errors.Is(err, raftnode.ErrDataDirLocked) {
		t.Fatalf("second process on the directory: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	cancel()
	<-done

	wrongCluster := other
	wrongCluster.ClusterID = "b"
	_, err = metaserver.New(wrongCluster)
	if !errors.Is(err, raftnode.ErrForeignData) || !strings.Contains(err.Error(), `cluster "a"`) {
		t.Fatalf("foreign cluster: %v", err)
	}
	wrongID := other
	wrongID.ID = 2
	_, err = metaserver.New(wrongID)
	if !errors.Is(err, raftnode.ErrForeignData) || !strings.Contains(err.Error(), "member 1") {
		t.Fatalf("foreign member id: %v", err)
	}
}
