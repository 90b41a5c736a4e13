package routing

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"strand.dev/client/internal/transport"
	"strand.dev/client/wire"
)

func TestParseBootstrap(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
		bad  bool
	}{
		{"127.0.0.1:9001", 1, false},
		{"127.0.0.1:9001, localhost:9002,", 2, false},
		{"[::1]:9001", 1, false},
		{"", 0, true},
		{" , ", 0, true},
		{"127.0.0.1", 0, true},
		{"127.0.0.1:0", 0, true},
		{"127.0.0.1:70000", 0, true},
		{":9001", 0, true},
		{"host:port", 0, true},
	} {
		got, err := ParseBootstrap(c.in)
		if c.bad != (err != nil) || len(got) != c.want {
			t.Errorf("ParseBootstrap(%q) = %v, %v", c.in, got, err)
		}
	}
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

func metadataServer(t *testing.T, md func() wire.Metadata, hits *atomic.Int64) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != wire.PathMetadata {
			http.NotFound(w, r)
			return
		}
		if hits != nil {
			hits.Add(1)
		}
		json.NewEncoder(w).Encode(md())
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func newRouter(t *testing.T, boot ...string) *Router {
	tr := transport.New(transport.Config{DialTimeout: time.Second})
	t.Cleanup(tr.Close)
	r, err := New(Config{Bootstrap: boot, Transport: tr, AttemptTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sampleMetadata(nodeAddr string) wire.Metadata {
	return wire.Metadata{
		ClusterID: "c1",
		Nodes:     []wire.NodeInfo{{ID: 1, Addr: nodeAddr}},
		Topics: []wire.TopicMetadata{{Name: "t", Partitions: []wire.PartitionMetadata{
			{Partition: 0, Leader: 1, LeaderEpoch: 3, Replicas: []int32{1}, ISR: []int32{1}},
			{Partition: 1, Leader: -1},
			{Partition: 2, Leader: 9},
		}}},
		ControllerAddr: nodeAddr,
	}
}

func TestRefreshSkipsDeadAndGarbageNodes(t *testing.T) {
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>hello</html>"))
	}))
	t.Cleanup(garbage.Close)
	var good string
	good = metadataServer(t, func() wire.Metadata { return sampleMetadata(good) }, nil)
	r := newRouter(t, deadAddr(t), strings.TrimPrefix(garbage.URL, "http://"), good)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := r.LeaderOf(ctx, "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.ID != 1 || l.Epoch != 3 || l.Addr != good {
		t.Fatalf("leader %+v", l)
	}
	if _, err := r.LeaderOf(ctx, "t", 1); !errors.Is(err, &wire.Error{Code: wire.CodeLeaderNotAvailable}) || !transport.Retriable(err) {
		t.Fatalf("partition without leader: %v", err)
	}
	if _, err := r.LeaderOf(ctx, "t", 2); !errors.Is(err, &wire.Error{Code: wire.CodeLeaderNotAvailable}) {
		t.Fatalf("partition led by an unknown node: %v", err)
	}
	if _, err := r.LeaderOf(ctx, "t", 7); !errors.Is(err, wire.ErrUnknownTopicOrPartition) {
		t.Fatalf("unknown partition: %v", err)
	}
	if _, err := r.Topic(ctx, "nope"); !errors.Is(err, wire.ErrUnknownTopicOrPartition) {
		t.Fatalf("unknown topic: %v", err)
	}
	if a, err := r.ControllerAddr(ctx); err != nil || a != good {
		t.Fatalf("controller %q %v", a, err)
	}
}

func TestNoNodeAnswers(t *testing.T) {
	r := newRouter(t, deadAddr(t), deadAddr(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err := r.Metadata(ctx)
	var nn *NoNodeError
	if !errors.As(err, &nn) || len(nn.Tried) != 2 {
		t.Fatalf("want NoNodeError over 2 nodes, got %v", err)
	}
	if !strings.Contains(err.Error(), "no node answered") {
		t.Fatalf("message: %v", err)
	}
	if time.Since(start) > 15*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
}

func TestRefreshesCoalesce(t *testing.T) {
	var hits atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		<-release
		json.NewEncoder(w).Encode(wire.Metadata{ClusterID: "c"})
	}))
	t.Cleanup(srv.Close)
	r := newRouter(t, strings.TrimPrefix(srv.URL, "http://"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Refresh(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	// Wait until the one request is in the server, then release it.
	for hits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if n := hits.Load(); n != 1 {
		t.Fatalf("%d metadata requests for 20 concurrent refreshes, want 1", n)
	}
}

func TestNeverGoesBackToAnOlderImage(t *testing.T) {
	var version atomic.Uint64
	version.Store(5)
	a := metadataServer(t, func() wire.Metadata { return wire.Metadata{ClusterID: "c", Version: version.Load()} }, nil)
	r := newRouter(t, a)
	ctx := context.Background()
	if md, err := r.Refresh(ctx); err != nil || md.Version != 5 {
		t.Fatal(md, err)
	}
	version.Store(4)
	r.Invalidate()
	md, err := r.Metadata(ctx)
	if err != nil || md.Version != 5 {
		t.Fatalf("got version %d (%v), want to keep 5", md.Version, err)
	}
}
