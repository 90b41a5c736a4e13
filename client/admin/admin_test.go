package admin

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"strand.dev/client/internal/fakecluster"
	"strand.dev/client/wire"
)

func newAdmin(t *testing.T, fc *fakecluster.Cluster, opts ...Option) *Admin {
	t.Helper()
	a, err := New(append([]Option{Bootstrap(fc.Addrs()...), RetryBackoff(5*time.Millisecond, 50*time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func TestTopicLifecycle(t *testing.T) {
	fc := fakecluster.New(3, t.Cleanup)
	a := newAdmin(t, fc)
	ctx := context.Background()
	if _, err := a.CreateTopic(ctx, NewTopic{Name: "orders", Partitions: 6, ReplicationFactor: 3, Configs: map[string]string{"retention.ms": "1000"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateTopic(ctx, NewTopic{Name: "orders", Partitions: 1}); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := a.CreateTopic(ctx, NewTopic{Name: "big", Partitions: 1, ReplicationFactor: 4}); !errors.Is(err, ErrInvalidReplicationFactor) {
		t.Fatalf("RF 4 on 3 nodes: %v", err)
	}
	if _, err := a.CreateTopic(ctx, NewTopic{Name: "bad name!", Partitions: 1}); !errors.Is(err, &wire.Error{Code: wire.CodeInvalidTopic}) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := a.CreateTopic(ctx, NewTopic{Name: "zero", Partitions: 0}); err == nil {
		t.Fatal("zero partitions accepted")
	}
	topics, err := a.ListTopics(ctx)
	if err != nil || len(topics) != 1 || topics[0].Name != "orders" || len(topics[0].Partitions) != 6 {
		t.Fatalf("list: %+v %v", topics, err)
	}
	d, err := a.DescribeTopic(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range d.Partitions {
		if p.Partition != int32(i) || p.Leader < 1 || p.HighWatermark != 0 || p.LogStartOffset != 0 || p.Error != "" {
			t.Fatalf("partition %d: %+v", i, p)
		}
	}
	if _, err := a.AlterConfigs(ctx, "orders", map[string]string{"cleanup.policy": "compact"}, []string{"retention.ms"}); err != nil {
		t.Fatal(err)
	}
	cfgs, err := a.DescribeConfigs(ctx, "orders")
	if err != nil || cfgs["cleanup.policy"] != "compact" || cfgs["retention.ms"] != "" {
		t.Fatalf("configs %v %v", cfgs, err)
	}
	if err := a.DeleteTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DescribeTopic(ctx, "orders"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("describe after delete: %v", err)
	}
	if err := a.DeleteTopic(ctx, "orders"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestDescribeWithALeaderDown(t *testing.T) {
	fc := fakecluster.New(2, t.Cleanup)
	fc.CreateTopic("t", 2, nil)
	a := newAdmin(t, fc, DialTimeout(time.Second))
	ctx := context.Background()
	if _, err := a.Metadata(ctx); err != nil {
		t.Fatal(err)
	}
	fc.SetStopped(2, true)
	d, err := a.DescribeTopic(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if d.Partitions[0].Error != "" || d.Partitions[1].Error == "" || d.Partitions[1].HighWatermark != -1 {
		t.Fatalf("%+v", d.Partitions)
	}
}

// A create is retried only while it surely was not applied.
func TestCreateRetriesOnlyUnappliedFailures(t *testing.T) {
	fc := fakecluster.New(1, t.Cleanup)
	var creates atomic.Int64
	fc.Intercept(func(node int32, w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != wire.PathAdminTopics {
			return false
		}
		if creates.Add(1) <= 2 {
			body, status := wire.MarshalError(wire.Errorf(wire.CodeNotController, "electing"))
			w.WriteHeader(status)
			w.Write(body)
			return true
		}
		return false
	})
	a := newAdmin(t, fc)
	if _, err := a.CreateTopic(context.Background(), NewTopic{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if creates.Load() != 3 {
		t.Fatalf("%d attempts, want 3", creates.Load())
	}
	// A timeout after sending is not retried: the create may have happened.
	creates.Store(0)
	fc.Intercept(func(node int32, w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == wire.PathAdminTopics {
			creates.Add(1)
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("proxy error"))
			return true
		}
		return false
	})
	if _, err := a.CreateTopic(context.Background(), NewTopic{Name: "u", Partitions: 1}); err == nil || creates.Load() != 1 {
		t.Fatalf("garbage answer: %v after %d attempts", err, creates.Load())
	}
}

func TestClusterDownGivesUpWithinTimeout(t *testing.T) {
	a, err := New(Bootstrap("127.0.0.1:1"), RetryTimeout(500*time.Millisecond), RetryBackoff(10*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	start := time.Now()
	_, err = a.ListTopics(context.Background())
	if err == nil || time.Since(start) > 20*time.Second {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
}

func TestClusterStatus(t *testing.T) {
	fc := fakecluster.New(3, t.Cleanup)
	fc.CreateTopic("t", 3, nil)
	a := newAdmin(t, fc)
	ctx := context.Background()
	if _, err := a.Metadata(ctx); err != nil {
		t.Fatal(err)
	}
	fc.SetStopped(3, true)
	st, err := a.ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Standalone || len(st.MetaNodes) != 0 || st.Controller != fc.Addr(1) || len(st.DataNodes) != 3 {
		t.Fatalf("%+v", st)
	}
	for _, n := range st.DataNodes {
		if n.Alive != (n.ID != 3) || n.Leads != 1 || (n.ID == 3) != (n.Error != "") {
			t.Fatalf("node %+v", n)
		}
	}
	if _, err := a.MetaClient(ctx); !errors.Is(err, ErrNoMeta) {
		t.Fatalf("meta client of a cluster without strand-meta: %v", err)
	}
}
