package replica

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"strand.dev/dataplane/clusteragent"
	"strand.dev/dataplane/fetcher"
	"strand.dev/dataplane/partlog"
)

// syncBuffer is a bytes.Buffer safe for the manager's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestApplyKeepsTheConfigsThatParse: a topic stored by an older strand-meta
// with configs the data nodes do not apply runs with its other configs, not
// on the defaults, and each config left out is named in one warning.
func TestApplyKeepsTheConfigsThatParse(t *testing.T) {
	logs, err := partlog.OpenManager(t.TempDir(), partlog.ManagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	rm := NewManager(logs, Options{NodeID: 1, Logger: slog.New(slog.NewTextHandler(&out, nil))})
	f := fetcher.New(fetcher.Config{NodeID: 1, RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	rm.Attach(f, &fakeMeta{leader: 1, isr: []int32{1}})
	t.Cleanup(func() {
		f.Close()
		rm.Close()
		logs.Close()
	})

	stored := map[string]string{
		"retention.ms": "3600000", "cleanup.policy": "compact", "min.insync.replicas": "2",
		"compression.type": "gzip", "segment.index.bytes": "4096", "segment.bytes": "7",
	}
	a := clusteragent.Assignment{Topic: "t", TopicID: "id", Partition: 0, Configs: stored,
		Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 0, PartitionEpoch: 0}
	if err := rm.Apply(a); err != nil {
		t.Fatal(err)
	}
	p, err := rm.Partition("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	got, def := p.Log().Config(), partlog.DefaultConfig()
	if got.RetentionMs != 3600000 || got.CleanupPolicy != partlog.PolicyCompact || got.MinInsyncReplicas != 2 {
		t.Fatalf("the good configs were dropped: %+v", got)
	}
	if got.SegmentBytes != def.SegmentBytes {
		t.Fatalf("segment.bytes=7 applied: %d", got.SegmentBytes)
	}
	p.mu.Lock()
	minISR := p.state.minISR
	p.mu.Unlock()
	if minISR != 2 {
		t.Fatalf("min.insync.replicas of the leader %d, want 2", minISR)
	}

	a.PartitionEpoch++
	if err := rm.Apply(a); err != nil {
		t.Fatal(err)
	}
	logged := out.String()
	for _, k := range []string{"compression.type", "segment.index.bytes", "segment.bytes"} {
		if n := strings.Count(logged, "config="+k+" "); n != 1 {
			t.Errorf("%s named in %d warnings, want 1:\n%s", k, n, logged)
		}
	}
	for _, k := range []string{"retention.ms", "cleanup.policy", "min.insync.replicas"} {
		if strings.Contains(logged, "config="+k+" ") {
			t.Errorf("%s named as not applied:\n%s", k, logged)
		}
	}
}
