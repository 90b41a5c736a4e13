package replica

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
	"strand.dev/dataplane/partlog"
)

// openManager opens partition logs in dir and a replica manager over them;
// both close at cleanup.
func openManager(t *testing.T, dir string) (*Manager, *partlog.Manager) {
	t.Helper()
	logs, err := partlog.OpenManager(dir, partlog.ManagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rm := NewManager(logs, Options{NodeID: 1})
	t.Cleanup(func() {
		if !closedLogs[logs] {
			rm.Close()
			logs.Close()
		}
	})
	return rm, logs
}

// closedLogs remembers the managers a test closed itself.
var closedLogs = map[*partlog.Manager]bool{}

// closeManager closes both, for restart tests.
func closeManager(t *testing.T, rm *Manager, logs *partlog.Manager) {
	t.Helper()
	closedLogs[logs] = true
	if err := rm.Close(); err != nil {
		t.Fatal(err)
	}
	if err := logs.Close(); err != nil {
		t.Fatal(err)
	}
}

// batch builds a batch of the values.
func batch(t *testing.T, vals ...string) []byte {
	t.Helper()
	b := recordbatch.NewBuilder(recordbatch.EncodeOptions{})
	for _, v := range vals {
		b.Add(recordbatch.Record{Timestamp: time.Now().UnixMilli(), Value: []byte(v)})
	}
	out, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readRegion returns the bytes of a fetch result and closes it.
func readRegion(t *testing.T, res *FetchResult) []byte {
	t.Helper()
	defer res.Close()
	if res.Region.File == nil {
		return nil
	}
	b := make([]byte, res.Region.Len)
	if _, err := res.Region.File.ReadAt(b, res.Region.Pos); err != nil {
		t.Fatal(err)
	}
	return b
}

func codeOf(err error) wire.Code {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return ""
}

func TestLeaderAppendFetchAndOffsets(t *testing.T) {
	rm, _ := openManager(t, t.TempDir())
	p, err := rm.BecomeLeader("t", 0, LeaderState{Config: partlog.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, acks := range []Acks{AcksAll, AcksLeader, AcksNone} {
		res, err := rm.Append(ctx, AppendRequest{Topic: "t", Partition: 0, Acks: acks, Timeout: time.Second, Batches: batch(t, "a", "b")})
		if err != nil || res.BaseOffset != int64(2*i) || res.LastOffset != int64(2*i+1) {
			t.Fatalf("append %d: %+v %v", i, res, err)
		}
	}
	if p.HighWatermark() != 6 {
		t.Fatalf("high watermark %d, want 6", p.HighWatermark())
	}
	res, err := rm.Fetch(ctx, FetchRequest{Topic: "t", Offset: 0, MaxBytes: 1 << 20, ReplicaID: NoReplica, LeaderEpoch: NoEpoch})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := recordbatch.Decode(readRegion(t, &res), 1<<20)
	if err != nil || len(recs) != 6 || res.HighWatermark != 6 || res.LogEndOffset != 6 {
		t.Fatalf("fetch: %d records, %+v, %v", len(recs), res, err)
	}
	off, _, _, err := rm.ListOffset(OffsetQuery{Topic: "t", Kind: OffsetLatest})
	if err != nil || off != 6 {
		t.Fatalf("latest %d %v", off, err)
	}
	off, _, _, err = rm.ListOffset(OffsetQuery{Topic: "t", Kind: OffsetEarliest})
	if err != nil || off != 0 {
		t.Fatalf("earliest %d %v", off, err)
	}
	if _, err := rm.Append(ctx, AppendRequest{Topic: "t", Partition: 1, Acks: AcksLeader, Batches: batch(t, "x")}); codeOf(err) != wire.CodeUnknownTopicOrPartition {
		t.Fatalf("unknown partition: %v", err)
	}
	if _, err := rm.Append(ctx, AppendRequest{Topic: "t", Acks: 5, Batches: batch(t, "x")}); codeOf(err) != wire.CodeInvalidRequiredAcks {
		t.Fatalf("bad acks: %v", err)
	}
	if _, err := rm.Fetch(ctx, FetchRequest{Topic: "t", Offset: 7, MaxBytes: 100}); codeOf(err) != wire.CodeOffsetOutOfRange {
		t.Fatalf("future offset: %v", err)
	}
}

func TestLeaderEpochChecks(t *testing.T) {
	rm, _ := openManager(t, t.TempDir())
	if _, err := rm.BecomeLeader("t", 0, LeaderState{LeaderEpoch: 4, Config: partlog.DefaultConfig()}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for epoch, want := range map[int32]wire.Code{NoEpoch: "", 4: "", 3: wire.CodeFencedLeaderEpoch, 5: wire.CodeUnknownLeaderEpoch} {
		res, err := rm.Fetch(ctx, FetchRequest{Topic: "t", MaxBytes: 100, ReplicaID: NoReplica, LeaderEpoch: epoch})
		res.Close()
		if codeOf(err) != want {
			t.Errorf("epoch %d: %v, want %q", epoch, err, want)
		}
	}
}

func TestFetchWaitsForMinBytesAndWakes(t *testing.T) {
	rm, _ := openManager(t, t.TempDir())
	if _, err := rm.BecomeLeader("t", 0, LeaderState{Config: partlog.DefaultConfig()}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got := make(chan FetchResult, 1)
	go func() {
		res, err := rm.Fetch(ctx, FetchRequest{Topic: "t", MaxBytes: 1 << 20, MinBytes: 1, MaxWait: time.Minute, ReplicaID: NoReplica, LeaderEpoch: NoEpoch})
		if err != nil {
			t.Error(err)
		}
		got <- res
	}()
	if _, err := rm.Append(ctx, AppendRequest{Topic: "t", Acks: AcksLeader, Batches: batch(t, "x")}); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-got:
		if res.Region.Len == 0 {
			t.Fatal("woke with no data")
		}
		res.Close()
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting fetch did not wake on append")
	}

	// With nothing to come, the fetch answers empty after MaxWait.
	start := time.Now()
	res, err := rm.Fetch(ctx, FetchRequest{Topic: "t", Offset: 1, MaxBytes: 100, MinBytes: 1, MaxWait: 200 * time.Millisecond, ReplicaID: NoReplica, LeaderEpoch: NoEpoch})
	if err != nil || res.Region.Len != 0 || time.Since(start) < 190*time.Millisecond || !res.Waited {
		t.Fatalf("empty wait: %+v %v after %v", res, err, time.Since(start))
	}

	// A canceled context ends the wait early.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := rm.Fetch(cctx, FetchRequest{Topic: "t", Offset: 1, MaxBytes: 100, MinBytes: 1, MaxWait: time.Hour, ReplicaID: NoReplica, LeaderEpoch: NoEpoch})
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cancel did not end the wait")
	}
}

func TestRemoveWakesWaitersWithUnknownPartition(t *testing.T) {
	rm, _ := openManager(t, t.TempDir())
	if _, err := rm.BecomeLeader("t", 0, LeaderState{Config: partlog.DefaultConfig()}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := rm.Fetch(context.Background(), FetchRequest{Topic: "t", MaxBytes: 100, MinBytes: 1, MaxWait: time.Hour, ReplicaID: NoReplica, LeaderEpoch: NoEpoch})
		done <- err
	}()
	if err := rm.Remove("t", 0); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		// Either the fetch began after the remove (unknown) or it was
		// waiting and woke (unknown): both are UNKNOWN_TOPIC_OR_PARTITION.
		if codeOf(err) != wire.CodeUnknownTopicOrPartition {
			t.Fatalf("fetch during remove: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("remove did not wake the waiting fetch")
	}
}

func TestStandaloneCatalog(t *testing.T) {
	dir := t.TempDir()
	rm, logs := openManager(t, dir)
	sa, err := OpenStandalone(rm, StandaloneOptions{DataDir: dir, NodeID: 1, Addr: "127.0.0.1:1", Defaults: partlog.DefaultConfig(), DefaultPartitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	if md, err := sa.CreateTopic(wire.CreateTopicRequest{Topic: "a"}); err != nil || len(md.Partitions) != 2 {
		t.Fatalf("create a: %+v %v", md, err)
	}
	if _, err := sa.CreateTopic(wire.CreateTopicRequest{Topic: "b", Partitions: 1, Configs: map[string]string{"retention.ms": "1000"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sa.CreateTopic(wire.CreateTopicRequest{Topic: "a", Partitions: 1}); codeOf(err) != wire.CodeTopicAlreadyExists {
		t.Fatalf("create twice: %v", err)
	}
	if _, err := rm.Append(context.Background(), AppendRequest{Topic: "a", Partition: 1, Acks: AcksLeader, Batches: batch(t, "keep")}); err != nil {
		t.Fatal(err)
	}
	// Assignments: idempotent, grow only.
	reqs := []wire.CreateTopicRequest{{Topic: "a", Partitions: 3}, {Topic: "c", Partitions: 1}}
	for range 2 {
		if err := sa.ApplyAssignments(reqs); err != nil {
			t.Fatal(err)
		}
	}
	if err := sa.ApplyAssignments([]wire.CreateTopicRequest{{Topic: "a", Partitions: 1}}); codeOf(err) != wire.CodeInvalidPartitions {
		t.Fatalf("shrinking assignment: %v", err)
	}
	if _, err := sa.DeleteTopic("c"); err != nil {
		t.Fatal(err)
	}
	closeManager(t, rm, logs)

	// Reopen: the catalog comes back, the data too.
	rm2, _ := openManager(t, dir)
	sa2, err := OpenStandalone(rm2, StandaloneOptions{DataDir: dir, NodeID: 1, Addr: "127.0.0.1:1", Defaults: partlog.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	md := sa2.Metadata()
	if len(md.Topics) != 2 || md.Topics[0].Name != "a" || len(md.Topics[0].Partitions) != 3 || md.Topics[1].Configs["retention.ms"] != "1000" {
		t.Fatalf("after reopen: %+v", md.Topics)
	}
	p, err := rm2.Partition("a", 1)
	if err != nil || p.HighWatermark() != 1 {
		t.Fatalf("partition a/1 after reopen: %v", err)
	}
	if _, err := rm2.Partition("c", 0); codeOf(err) != wire.CodeUnknownTopicOrPartition {
		t.Fatalf("deleted topic after reopen: %v", err)
	}
}

func TestStandaloneDropsOrphansAndAdoptsWithoutCatalog(t *testing.T) {
	dir := t.TempDir()
	rm, logs := openManager(t, dir)
	if _, err := rm.BecomeLeader("x", 0, LeaderState{Config: partlog.DefaultConfig()}); err != nil {
		t.Fatal(err)
	}
	if _, err := rm.BecomeLeader("x", 1, LeaderState{Config: partlog.DefaultConfig()}); err != nil {
		t.Fatal(err)
	}
	closeManager(t, rm, logs)

	// No catalog: the logs on disk become topic x with 2 partitions.
	rm2, logs2 := openManager(t, dir)
	sa, err := OpenStandalone(rm2, StandaloneOptions{DataDir: dir, NodeID: 1, Defaults: partlog.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if tm, ok := sa.Topic("x"); !ok || len(tm.Partitions) != 2 {
		t.Fatalf("adopted %+v %v", tm, ok)
	}
	closeManager(t, rm2, logs2)

	// A catalog that no longer lists x/1 (a delete cut short): x/1 goes.
	cat := `{"version":1,"topics":[{"name":"x","id":"id","partitions":1}]}`
	if err := os.WriteFile(filepath.Join(dir, CatalogFile), []byte(cat), 0o644); err != nil {
		t.Fatal(err)
	}
	rm3, logs3 := openManager(t, dir)
	if _, err := OpenStandalone(rm3, StandaloneOptions{DataDir: dir, NodeID: 1, Defaults: partlog.DefaultConfig()}); err != nil {
		t.Fatal(err)
	}
	if _, ok := logs3.Get("x", 1); ok {
		t.Fatal("the orphan log x/1 is still there")
	}
	if _, err := rm3.Partition("x", 0); err != nil {
		t.Fatal(err)
	}
}
