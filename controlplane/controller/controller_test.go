package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"strand.dev/client/wire"
	"strand.dev/controlplane/membership"
)

func TestFailoverRebalanceAndTopicAdmin(t *testing.T) {
	meta := newFakeMeta(t, nodes(1, 2, 3)...)
	gossip := newFakeGossip(1, 2, 3)
	c, _ := startController(t, testConfig(t, "c1"), Deps{Meta: meta, Gossip: gossip})
	epoch := waitActive(t, c)
	checkFor(t, 30*time.Second, func() error {
		for id, n := range meta.image().Nodes {
			if n.Fenced {
				return fmt.Errorf("node %d still fenced", id)
			}
		}
		return nil
	})

	var md wire.TopicMetadata
	if err := call(t, c.Addr(), http.MethodPost, wire.PathAdminTopics,
		wire.CreateTopicRequest{Topic: "orders", Partitions: 6, ReplicationFactor: 3, Configs: map[string]string{"retention.ms": "60000"}}, &md); err != nil {
		t.Fatal(err)
	}
	if md.Name != "orders" || md.ID == "" || len(md.Partitions) != 6 || md.Configs["retention.ms"] != "60000" {
		t.Fatalf("created %+v", md)
	}
	led := map[int32]int{}
	for _, p := range md.Partitions {
		if len(p.Replicas) != 3 || p.Leader != p.Replicas[0] || len(p.ISR) != 3 {
			t.Fatalf("partition %+v", p)
		}
		led[p.Leader]++
	}
	if led[1] != 2 || led[2] != 2 || led[3] != 2 {
		t.Fatalf("leaders not spread: %v", led)
	}
	before := meta.image().Topics["orders"]

	// Node 1 fails: fenced, out of every ISR, its partitions led by the
	// next in-sync replica, leader epochs bumped, at this epoch.
	gossip.set(1, membership.StatusFailed, false)
	checkFor(t, 30*time.Second, func() error {
		img := meta.image()
		if !img.Nodes[1].Fenced {
			return errors.New("node 1 not fenced")
		}
		for i, p := range img.Topics["orders"].Partitions {
			old := before.Partitions[i]
			if p.Leader == 1 || slices.Contains(p.ISR, 1) {
				return fmt.Errorf("partition %d: %+v", i, p)
			}
			if old.Leader == 1 && (p.Leader != old.Replicas[1] || p.LeaderEpoch != old.LeaderEpoch+1) {
				return fmt.Errorf("partition %d: leader %d epoch %d, was %+v", i, p.Leader, p.LeaderEpoch, old)
			}
		}
		return nil
	})
	for _, a := range meta.appliedCmds() {
		if a.Epoch != epoch {
			t.Fatalf("command %s written at epoch %d, the controller's is %d", a.Type, a.Epoch, epoch)
		}
	}

	// Node 1 returns: unfenced; once its leaders add it back to the ISR,
	// preferred-leader rebalancing gives it its leaderships back.
	gossip.set(1, membership.StatusAlive, false)
	checkFor(t, 30*time.Second, func() error {
		if meta.image().Nodes[1].Fenced {
			return errors.New("node 1 still fenced")
		}
		return nil
	})
	for i, p := range meta.image().Topics["orders"].Partitions {
		meta.applyAs(t, &wire.Command{Type: wire.CmdAlterISR, AlterISR: &wire.AlterISRCmd{Topic: "orders", Partition: int32(i),
			LeaderID: p.Leader, LeaderEpoch: p.LeaderEpoch, ExpectedPartitionEpoch: p.PartitionEpoch, ISR: append(slices.Clone(p.ISR), 1)}})
	}
	checkFor(t, 30*time.Second, func() error {
		img := meta.image()
		for i, p := range img.Topics["orders"].Partitions {
			if p.Leader != p.Replicas[0] {
				return fmt.Errorf("partition %d: leader %d, preferred %d", i, p.Leader, p.Replicas[0])
			}
		}
		return nil
	})

	// Alter configs, then delete.
	md = wire.TopicMetadata{}
	if err := call(t, c.Addr(), http.MethodPost, wire.PathAdminConfigs,
		wire.AlterConfigsRequest{Topic: "orders", Set: map[string]string{"cleanup.policy": "compact"}, Delete: []string{"retention.ms"}}, &md); err != nil {
		t.Fatal(err)
	}
	if md.Configs["cleanup.policy"] != "compact" || md.Configs["retention.ms"] != "" {
		t.Fatalf("configs %v", md.Configs)
	}
	// A config the data nodes do not apply is refused, naming it; deleting
	// one (a topic an older strand-meta accepted it for) is not.
	err := call(t, c.Addr(), http.MethodPost, wire.PathAdminConfigs,
		wire.AlterConfigsRequest{Topic: "orders", Set: map[string]string{"compression.type": "gzip"}}, nil)
	if we := (*wire.Error)(nil); !errors.As(err, &we) || we.Code != wire.CodeInvalidConfig || !strings.Contains(we.Message, "compression.type") {
		t.Fatalf("alter compression.type=gzip: %v", err)
	}
	if err := call(t, c.Addr(), http.MethodPost, wire.PathAdminConfigs,
		wire.AlterConfigsRequest{Topic: "orders", Delete: []string{"segment.index.bytes"}}, nil); err != nil {
		t.Fatalf("delete segment.index.bytes: %v", err)
	}
	var del wire.DeleteTopicResponse
	if err := call(t, c.Addr(), http.MethodDelete, wire.PathAdminTopics+"?topic=orders", nil, &del); err != nil {
		t.Fatal(err)
	}
	if del.Topic != "orders" || meta.image().Topics["orders"] != nil {
		t.Fatalf("delete answered %+v; topic still there: %v", del, meta.image().Topics["orders"] != nil)
	}
}

func TestCreateTopicRejectsBadInput(t *testing.T) {
	meta := newFakeMeta(t, nodes(1, 2, 3)...)
	gossip := newFakeGossip(1, 2)
	gossip.set(3, membership.StatusFailed, true)
	c, _ := startController(t, testConfig(t, "c1"), Deps{Meta: meta, Gossip: gossip})
	waitActive(t, c)
	if err := call(t, c.Addr(), http.MethodPost, wire.PathAdminTopics, wire.CreateTopicRequest{Topic: "dup", Partitions: 1, ReplicationFactor: 1}, nil); err != nil {
		t.Fatal(err)
	}
	version := meta.image().Version
	cases := []struct {
		name string
		req  wire.CreateTopicRequest
		code wire.Code
	}{
		{"zero partitions", wire.CreateTopicRequest{Topic: "a", Partitions: 0, ReplicationFactor: 1}, wire.CodeInvalidPartitions},
		{"negative partitions", wire.CreateTopicRequest{Topic: "a", Partitions: -3, ReplicationFactor: 1}, wire.CodeInvalidPartitions},
		{"bad character", wire.CreateTopicRequest{Topic: "a/b", Partitions: 1, ReplicationFactor: 1}, wire.CodeInvalidTopic},
		{"too long", wire.CreateTopicRequest{Topic: strings.Repeat("x", 250), Partitions: 1, ReplicationFactor: 1}, wire.CodeInvalidTopic},
		{"dot", wire.CreateTopicRequest{Topic: ".", Partitions: 1, ReplicationFactor: 1}, wire.CodeInvalidTopic},
		{"rf above live nodes", wire.CreateTopicRequest{Topic: "a", Partitions: 1, ReplicationFactor: 3}, wire.CodeInvalidReplicationFactor},
		{"default rf 3 above live nodes", wire.CreateTopicRequest{Topic: "a", Partitions: 1}, wire.CodeInvalidReplicationFactor},
		{"negative rf", wire.CreateTopicRequest{Topic: "a", Partitions: 1, ReplicationFactor: -1}, wire.CodeInvalidReplicationFactor},
		{"unknown config", wire.CreateTopicRequest{Topic: "a", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"no.such": "1"}}, wire.CodeInvalidConfig},
		{"bad config value", wire.CreateTopicRequest{Topic: "a", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"cleanup.policy": "shred"}}, wire.CodeInvalidConfig},
		{"compression other than producer", wire.CreateTopicRequest{Topic: "a", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"compression.type": "gzip"}}, wire.CodeInvalidConfig},
		{"config the data nodes do not apply", wire.CreateTopicRequest{Topic: "a", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"local.retention.ms": "1000"}}, wire.CodeInvalidConfig},
		{"exists", wire.CreateTopicRequest{Topic: "dup", Partitions: 1, ReplicationFactor: 1}, wire.CodeTopicAlreadyExists},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := call(t, c.Addr(), http.MethodPost, wire.PathAdminTopics, tc.req, nil)
			var we *wire.Error
			if !errors.As(err, &we) || we.Code != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
		})
	}
	if v := meta.image().Version; v != version {
		// Renewals bump the version; no topic may have appeared.
		for name := range meta.image().Topics {
			if name != "dup" {
				t.Fatalf("topic %q registered", name)
			}
		}
	}
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodPost, wire.PathAdminTopics, "{not json"},
		{http.MethodDelete, wire.PathAdminTopics, ""},
		{http.MethodGet, wire.PathAdminTopics, ""},
		{http.MethodDelete, wire.PathAdminTopics + "?topic=nope", ""},
	} {
		req, _ := http.NewRequest(tc.method, "http://"+c.Addr()+tc.path, strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 4 {
			t.Errorf("%s %s %q: status %d", tc.method, tc.path, tc.body, resp.StatusCode)
		}
	}
}

func TestPeriodicReconcileCatchesDroppedEvents(t *testing.T) {
	meta := newFakeMeta(t, nodes(1, 2)...)
	gossip := newFakeGossip(1, 2)
	c, _ := startController(t, testConfig(t, "c1"), Deps{Meta: meta, Gossip: gossip})
	waitActive(t, c)
	checkFor(t, 30*time.Second, func() error {
		if meta.image().Nodes[2].Fenced {
			return errors.New("node 2 fenced")
		}
		return nil
	})
	// The failure's event is lost: only the full reconcile can see it.
	gossip.set(2, membership.StatusFailed, true)
	checkFor(t, 30*time.Second, func() error {
		if !meta.image().Nodes[2].Fenced {
			return errors.New("node 2 not fenced")
		}
		return nil
	})
}

func TestControlledShutdownMovesLeadership(t *testing.T) {
	meta := newFakeMeta(t, nodes(1, 2, 3)...)
	gossip := newFakeGossip(1, 2, 3)
	c, _ := startController(t, testConfig(t, "c1"), Deps{Meta: meta, Gossip: gossip})
	waitActive(t, c)
	checkFor(t, 30*time.Second, func() error {
		if n := meta.image().Nodes[3]; n.Fenced {
			return errors.New("not unfenced yet")
		}
		return nil
	})
	if err := call(t, c.Addr(), http.MethodPost, wire.PathAdminTopics, wire.CreateTopicRequest{Topic: "t", Partitions: 9, ReplicationFactor: 2}, nil); err != nil {
		t.Fatal(err)
	}
	if err := call(t, c.Addr(), http.MethodPost, wire.PathAdminTopics, wire.CreateTopicRequest{Topic: "single", Partitions: 3, ReplicationFactor: 1}, nil); err != nil {
		t.Fatal(err)
	}
	var resp wire.ControlledShutdownResponse
	err := call(t, c.Addr(), http.MethodPost, wire.PathControlledShutdown, wire.ControlledShutdownRequest{NodeID: 2, Incarnation: 1, WaitMs: 10000}, &resp)
	if err != nil {
		t.Fatal(err)
	}
	img := meta.image()
	// What is left is exactly the single-replica partitions it leads.
	want := []string{}
	for _, p := range img.Topics["single"].Partitions {
		if p.Replicas[0] == 2 {
			want = append(want, fmt.Sprintf("single-%d", p.Partition))
		}
	}
	if !slices.Equal(resp.Remaining, want) {
		t.Fatalf("remaining %v, want %v", resp.Remaining, want)
	}
	for _, p := range img.Topics["t"].Partitions {
		if p.Leader == 2 {
			t.Fatalf("node 2 still leads t-%d", p.Partition)
		}
		if slices.Contains(p.Replicas, 2) && !slices.Contains(p.ISR, 2) {
			t.Fatalf("node 2 left the ISR of t-%d before stopping", p.Partition)
		}
	}
	// Rebalancing does not hand leadership back while it shuts down.
	checkFor(t, 5*time.Second, func() error {
		for _, p := range meta.image().Topics["t"].Partitions {
			if p.Leader == 2 {
				return fmt.Errorf("t-%d went back to node 2", p.Partition)
			}
		}
		return nil
	})
	// Bad requests.
	for _, tc := range []struct {
		req  wire.ControlledShutdownRequest
		code wire.Code
	}{
		{wire.ControlledShutdownRequest{NodeID: 9}, wire.CodeBrokerNotAvailable},
		{wire.ControlledShutdownRequest{NodeID: 1, Incarnation: 5}, wire.CodeStaleBrokerEpoch},
	} {
		var we *wire.Error
		if err := call(t, c.Addr(), http.MethodPost, wire.PathControlledShutdown, tc.req, nil); !errors.As(err, &we) || we.Code != tc.code {
			t.Errorf("%+v: err %v, want %s", tc.req, err, tc.code)
		}
	}
}

// TestStandbyForwardsAndTakesOverAfterPause runs two controllers; the active
// one is paused (its requests to strand-meta hang, as under SIGSTOP) until
// its lease lapses; the standby takes over and handles a data-node failure;
// the paused one, resumed, writes nothing that lands.
func TestStandbyForwardsAndTakesOverAfterPause(t *testing.T) {
	meta := newFakeMeta(t, nodes(1, 2, 3)...)
	gossipA, gossipB := newFakeGossip(1, 2, 3), newFakeGossip(1, 2, 3)
	metaA := newPausable(meta)
	a, _ := startController(t, testConfig(t, "a"), Deps{Meta: metaA, Gossip: gossipA})
	t.Cleanup(metaA.resume) // before a is stopped
	epochA := waitActive(t, a)
	b, _ := startController(t, testConfig(t, "b"), Deps{Meta: meta, Gossip: gossipB})
	checkFor(t, 30*time.Second, func() error {
		if img := b.image(); img == nil || img.Controller.Holder != "a" {
			return errors.New("b has not seen a's lease")
		}
		return nil
	})

	// The standby forwards admin requests to the active controller.
	var md wire.TopicMetadata
	if err := call(t, b.Addr(), http.MethodPost, wire.PathAdminTopics, wire.CreateTopicRequest{Topic: "t", Partitions: 6, ReplicationFactor: 3}, &md); err != nil {
		t.Fatal(err)
	}
	if len(md.Partitions) != 6 {
		t.Fatalf("forwarded create answered %+v", md)
	}
	if active, _ := b.Active(); active {
		t.Fatal("b is active while a holds the lease")
	}

	// Pause a, then make it want to write (a failure it sees).
	metaA.pause()
	gossipA.set(3, membership.StatusFailed, false)
	checkFor(t, 30*time.Second, func() error {
		if active, _ := a.Active(); active {
			return errors.New("a still acts")
		}
		return nil
	})
	epochB := waitActive(t, b)
	if epochB <= epochA {
		t.Fatalf("b's epoch %d is not above a's %d", epochB, epochA)
	}
	takeover := meta.image().Version

	// b handles a data node failure.
	gossipB.set(1, membership.StatusFailed, false)
	checkFor(t, 30*time.Second, func() error {
		img := meta.image()
		if !img.Nodes[1].Fenced {
			return errors.New("node 1 not fenced by b")
		}
		for _, p := range img.Topics["t"].Partitions {
			if p.Leader == 1 || p.Leader == -1 {
				return fmt.Errorf("t-%d leader %d", p.Partition, p.Leader)
			}
		}
		return nil
	})

	// a wakes up: whatever it had in flight is refused.
	metaA.resume()
	checkFor(t, 30*time.Second, func() error {
		if img := a.image(); img == nil || img.Controller.Epoch != epochB {
			return errors.New("a has not seen the new lease")
		}
		return nil
	})
	for _, cmd := range meta.appliedCmds() {
		if cmd.Version > takeover && cmd.Epoch != epochB {
			t.Fatalf("a command at epoch %d landed after b took over at version %d: %+v", cmd.Epoch, takeover, cmd)
		}
	}
	if active, _ := a.Active(); active {
		t.Fatal("a acts again")
	}
	// a now forwards to b.
	if err := call(t, a.Addr(), http.MethodDelete, wire.PathAdminTopics+"?topic=t", nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestCleanStopHandsOverAtOnce(t *testing.T) {
	meta := newFakeMeta(t, nodes(1)...)
	cfg := testConfig(t, "a")
	cfg.Lease = 20 * time.Second // a lapse would take far longer than the test allows
	a, stopA := startController(t, cfg, Deps{Meta: meta, Gossip: newFakeGossip(1)})
	waitActive(t, a)
	cfgB := testConfig(t, "b")
	cfgB.Lease = 20 * time.Second
	b, _ := startController(t, cfgB, Deps{Meta: meta, Gossip: newFakeGossip(1)})
	start := time.Now()
	stopA()
	waitActive(t, b)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("handover took %v", took)
	}
}

func TestStatusHealthAndMetrics(t *testing.T) {
	meta := newFakeMeta(t, nodes(1)...)
	c, _ := startController(t, testConfig(t, "c1"), Deps{Meta: meta, Gossip: newFakeGossip(1)})
	waitActive(t, c)
	var st wire.ControllerStatus
	if err := call(t, c.Addr(), http.MethodGet, wire.PathControllerStatus, nil, &st); err != nil {
		t.Fatal(err)
	}
	if !st.Active || st.ID != "c1" || st.Lease.Holder != "c1" || len(st.Members) != 1 {
		t.Fatalf("status %+v", st)
	}
	for _, path := range []string{wire.PathHealth, wire.PathMetrics} {
		resp, err := http.Get("http://" + c.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
	}
	if err := call(t, c.Addr(), http.MethodGet, "/nope", nil, nil); err == nil {
		t.Fatal("unknown path answered 200")
	}
	_ = context.Background()
}

func TestConfigValidate(t *testing.T) {
	ok := Config{ID: "c", ListenAddr: "127.0.0.1:0"}
	if err := ok.Validate(); err != nil || ok.Lease != 3*time.Second || ok.DefaultReplicationFactor != 3 {
		t.Fatalf("%v %+v", err, ok)
	}
	for name, mod := range map[string]func(*Config){
		"no id":      func(c *Config) { c.ID = "" },
		"no listen":  func(c *Config) { c.ListenAddr = "" },
		"bad listen": func(c *Config) { c.ListenAddr = "nohost" },
		"tiny lease": func(c *Config) { c.Lease = time.Millisecond },
		"rf 0 after": func(c *Config) { c.DefaultReplicationFactor = 100 },
	} {
		c := Config{ID: "c", ListenAddr: "127.0.0.1:0"}
		mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := New(Config{ID: "c", ListenAddr: "127.0.0.1:0"}, Deps{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New without meta: %v", err)
	}
}
