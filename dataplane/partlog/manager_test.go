package partlog

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func openManager(t *testing.T, dir string, opts ManagerOptions) *Manager {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	m, err := OpenManager(dir, opts)
	if err != nil {
		t.Fatalf("OpenManager: %v", err)
	}
	return m
}

func TestManagerLifecycle(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, ManagerOptions{})
	cfg := testConfig()
	a, err := m.Create("orders", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, err := m.Create("orders", 0, cfg)
	if err != nil || again != a {
		t.Fatalf("Create is not idempotent: %v", err)
	}
	if _, err := m.Create("bad/name", 0, cfg); err == nil {
		t.Fatal("accepted a bad topic name")
	}
	b, _ := m.Create("my-topic.v2", 11, cfg)
	for i := 0; i < 5; i++ {
		a.Append(batch(t, "a", 3, 0, 10))
		b.Append(batch(t, "b", 2, 0, 10))
	}
	if got := m.All(); len(got) != 2 || got[0].Topic != "my-topic.v2" || got[0].Partition != 11 || got[1].Topic != "orders" {
		t.Fatalf("All = %+v", got)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); err != nil {
		t.Fatal("no clean-shutdown marker")
	}
	rps, err := readOffsetCheckpoint(filepath.Join(dir, recoveryPointFile))
	if err != nil || rps[topicPartition{"orders", 0}] != 15 || rps[topicPartition{"my-topic.v2", 11}] != 10 {
		t.Fatalf("checkpoint %v %v", rps, err)
	}

	m = openManager(t, dir, ManagerOptions{})
	if !m.Stats().OpenedClean {
		t.Fatal("clean shutdown not seen")
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); !os.IsNotExist(err) {
		t.Fatal("marker not removed after open")
	}
	l, ok := m.Get("orders", 0)
	if !ok || l.EndOffset() != 15 {
		t.Fatalf("orders-0 after restart: %v", ok)
	}
	if err := m.Remove("orders", 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Get("orders", 0); ok {
		t.Fatal("removed log still there")
	}
	if _, err := os.Stat(filepath.Join(dir, "orders-0")); !os.IsNotExist(err) {
		t.Fatal("removed log's data still there")
	}
	// A second manager on the same directory is refused.
	if _, err := OpenManager(dir, ManagerOptions{Logger: quietLogger()}); err == nil {
		t.Fatal("two managers opened one data directory")
	}
	// A crash (no Close): the next open is not clean and still finds the data.
	b, _ = m.Get("my-topic.v2", 11)
	if _, err := b.Append(batch(t, "c", 1, 0, 10)); err != nil {
		t.Fatal(err)
	}
	m.abandon()
	m2 := openManager(t, dir, ManagerOptions{})
	defer m2.Close()
	if m2.Stats().OpenedClean {
		t.Fatal("a crashed directory opened as clean")
	}
	if l, _ := m2.Get("my-topic.v2", 11); l.EndOffset() != 11 {
		t.Fatalf("after crash end %d", l.EndOffset())
	}
}

func TestManagerRunFlushesAndRetains(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, ManagerOptions{FlushCheckInterval: 10 * time.Millisecond,
		RetentionCheckInterval: 10 * time.Millisecond, CheckpointInterval: 10 * time.Millisecond})
	defer m.Close()
	cfg := testConfig()
	cfg.FlushMs = 1
	cfg.SegmentBytes = 1000
	cfg.RetentionBytes = 2000
	l, _ := m.Create("t", 0, cfg)
	for i := 0; i < 20; i++ {
		l.Append(batch(t, "x", 3, time.Now().UnixMilli(), 100))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := l.Stats()
		rps, _ := readOffsetCheckpoint(filepath.Join(dir, recoveryPointFile))
		if st.RecoveryPoint == st.EndOffset && st.StartOffset > 0 && rps[topicPartition{"t", 0}] == st.EndOffset {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run did not flush, retain and checkpoint: %+v %v", st, rps)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}
