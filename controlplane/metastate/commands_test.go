package metastate

import (
	"bytes"
	"strings"
	"testing"

	"strand.dev/client/wire"
)

// cmdCase is one command applied on top of the fixture (plus setup).
type cmdCase struct {
	name  string
	setup []*wire.Command // applied first; each must be accepted
	cmd   *wire.Command
	code  wire.Code // "" when the command must be accepted
	check func(t *testing.T, img *wire.Image, resp wire.ProposeResponse)
}

func runCases(t *testing.T, cases []cmdCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			for _, c := range tc.setup {
				f.mustApply(c)
			}
			before := f.m.Image()
			beforeBytes := encodeSnapshot(before, 0)
			resp, err := f.apply(tc.cmd)
			after := f.m.Image()
			if f.m.AppliedIndex() != f.index {
				t.Fatalf("applied index %d, want %d", f.m.AppliedIndex(), f.index)
			}
			if !bytes.Equal(encodeSnapshot(before, 0), beforeBytes) {
				t.Fatalf("the image handed out before the command changed")
			}
			if tc.code != "" {
				if got := codeOf(err); got != tc.code {
					t.Fatalf("err = %v (code %q), want code %s", err, got, tc.code)
				}
				if err.Error() == string(tc.code) {
					t.Fatalf("error %v has no message", err)
				}
				if after != before {
					t.Fatalf("rejected command replaced the image (version %d -> %d)", before.Version, after.Version)
				}
				if vErr := f.m.Validate(tc.cmd); vErr != nil && codeOf(vErr) != tc.code {
					t.Fatalf("Validate says %v, Apply says %v", vErr, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if err := f.m.Validate(tc.cmd); err != nil {
				t.Fatalf("accepted by Apply but Validate says %v", err)
			}
			if after.Version != before.Version+1 || resp.Version != after.Version {
				t.Fatalf("version %d -> %d (response %d), want +1", before.Version, after.Version, resp.Version)
			}
			if tc.check != nil {
				tc.check(t, after, resp)
			}
		})
	}
}

func TestEnvelope(t *testing.T) {
	extra := noop()
	extra.AllocateProducerIDs = &wire.AllocateProducerIDsCmd{Count: 1}
	mixed := allocate(1)
	mixed.RegisterNode = register(9, addr(9), 1).RegisterNode
	runCases(t, []cmdCase{
		{name: "noop", cmd: noop()},
		{name: "unknown type", cmd: &wire.Command{Type: "make_coffee"}, code: wire.CodeUnknownCommand},
		{name: "empty type", cmd: &wire.Command{}, code: wire.CodeUnknownCommand},
		{name: "missing body", cmd: &wire.Command{Type: wire.CmdCreateTopic}, code: wire.CodeInvalidRequest},
		{name: "noop with a body", cmd: extra, code: wire.CodeInvalidRequest},
		{name: "two bodies", cmd: mixed, code: wire.CodeInvalidRequest},
	})
}

func TestRegisterNode(t *testing.T) {
	unfenced := register(5, addr(5), 1)
	unfenced.RegisterNode.Node.Fenced = false
	runCases(t, []cmdCase{
		{name: "new node starts fenced", cmd: unfenced, check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			n := img.Nodes[5]
			if n == nil || !n.Fenced || n.Addr != addr(5) || n.Incarnation != 1 || n.Rack != "r1" {
				t.Fatalf("node 5 = %+v", n)
			}
		}},
		{name: "restart of an unfenced node fences it everywhere", cmd: register(1, addr(1), 101), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			if n := img.Nodes[1]; !n.Fenced || n.Incarnation != 101 {
				t.Fatalf("node 1 = %+v", n)
			}
			p0, p1 := part(img, "t", 0), part(img, "t", 1)
			if p0.Leader != -1 || p0.LeaderEpoch != 1 || p0.PartitionEpoch != 1 || !sameIDs(p0.ISR, []int32{2, 3}) {
				t.Fatalf("t-0 = %+v", p0)
			}
			if p1.Leader != 2 || p1.LeaderEpoch != 0 || p1.PartitionEpoch != 1 || !sameIDs(p1.ISR, []int32{2, 3}) {
				t.Fatalf("t-1 = %+v", p1)
			}
			if !sameIDs(p0.Replicas, []int32{1, 2, 3}) {
				t.Fatalf("replicas changed: %v", p0.Replicas)
			}
		}},
		{name: "fenced node may move", cmd: register(4, "10.0.0.4:9004", 101), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			if n := img.Nodes[4]; n.Addr != "10.0.0.4:9004" || !n.Fenced {
				t.Fatalf("node 4 = %+v", n)
			}
		}},
		{name: "unfenced node at another address", cmd: register(1, "10.0.0.1:9001", 200), code: wire.CodeDuplicateBrokerRegistration},
		{name: "same incarnation", cmd: register(2, addr(2), 100), code: wire.CodeStaleBrokerEpoch},
		{name: "older incarnation", cmd: register(4, addr(4), 99), code: wire.CodeStaleBrokerEpoch},
		{name: "negative id", cmd: register(-1, addr(1), 1), code: wire.CodeInvalidRequest},
		{name: "no address", cmd: register(5, "", 1), code: wire.CodeInvalidRequest},
		{name: "address without port", cmd: register(5, "localhost", 1), code: wire.CodeInvalidRequest},
		{name: "port zero", cmd: register(5, "localhost:0", 1), code: wire.CodeInvalidRequest},
		{name: "zero incarnation", cmd: register(5, addr(5), 0), code: wire.CodeInvalidRequest},
		{name: "rack too long", cmd: func() *wire.Command {
			c := register(5, addr(5), 1)
			c.RegisterNode.Node.Rack = strings.Repeat("r", MaxStringLen+1)
			return c
		}(), code: wire.CodeInvalidRequest},
	})
}

func TestSetNodeFenced(t *testing.T) {
	runCases(t, []cmdCase{
		{name: "fence a leader and follower", cmd: fence(1, 2, true), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			if !img.Nodes[2].Fenced {
				t.Fatal("node 2 not fenced")
			}
			p0, p1 := part(img, "t", 0), part(img, "t", 1)
			if p0.Leader != 1 || p0.LeaderEpoch != 0 || p0.PartitionEpoch != 1 || !sameIDs(p0.ISR, []int32{1, 3}) {
				t.Fatalf("t-0 = %+v", p0)
			}
			if p1.Leader != -1 || p1.LeaderEpoch != 1 || p1.PartitionEpoch != 1 || !sameIDs(p1.ISR, []int32{3, 1}) {
				t.Fatalf("t-1 = %+v", p1)
			}
		}},
		{name: "unfence", cmd: fence(1, 4, false), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			if img.Nodes[4].Fenced {
				t.Fatal("node 4 still fenced")
			}
		}},
		{name: "fence a fenced node", cmd: fence(1, 4, true), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			if p := part(img, "t", 0); p.PartitionEpoch != 0 {
				t.Fatalf("partition touched: %+v", p)
			}
		}},
		{name: "fence everything: the last isr member stays", setup: []*wire.Command{fence(1, 1, true), fence(1, 2, true)}, cmd: fence(1, 3, true), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			for _, p := range img.Topics["t"].Partitions {
				if p.Leader != -1 || len(p.ISR) != 1 || p.ISR[0] != 3 {
					t.Fatalf("partition %+v", p)
				}
			}
		}},
		{name: "old controller epoch", cmd: fence(0, 2, true), code: wire.CodeStaleControllerEpoch},
		{name: "future controller epoch", cmd: fence(2, 2, true), code: wire.CodeStaleControllerEpoch},
		{name: "after the lease is released", setup: []*wire.Command{release("c1", 1)}, cmd: fence(1, 2, true), code: wire.CodeStaleControllerEpoch},
		{name: "unknown node", cmd: fence(1, 9, true), code: wire.CodeInvalidRequest},
		{name: "negative node", cmd: fence(1, -3, true), code: wire.CodeInvalidRequest},
	})
}

func TestLease(t *testing.T) {
	runCases(t, []cmdCase{
		{name: "renewal", cmd: acquire("c1", 1, 0), check: func(t *testing.T, img *wire.Image, resp wire.ProposeResponse) {
			if l := img.Controller; l.Holder != "c1" || l.Epoch != 1 || l.RenewedAt != img.Version || resp.Epoch != 1 {
				t.Fatalf("lease %+v, resp %+v", l, resp)
			}
		}},
		{name: "renewal at a wrong epoch", cmd: acquire("c1", 2, 0), code: wire.CodeStaleControllerEpoch},
		{name: "takeover of a lapsed lease", cmd: acquire("c2", 1, 5), check: func(t *testing.T, img *wire.Image, resp wire.ProposeResponse) {
			if l := img.Controller; l.Holder != "c2" || l.Epoch != 2 || l.RenewedAt != img.Version || resp.Epoch != 2 || l.LeaseMs != 3000 || l.Addr != "127.0.0.1:8000" {
				t.Fatalf("lease %+v, resp %+v", l, resp)
			}
		}},
		{name: "takeover loses to a renewal", setup: []*wire.Command{acquire("c1", 1, 0)}, cmd: acquire("c2", 1, 5), code: wire.CodeInvalidUpdateVersion},
		{name: "takeover at an old epoch", setup: []*wire.Command{acquire("c2", 1, 5)}, cmd: acquire("c3", 1, 10), code: wire.CodeStaleControllerEpoch},
		{name: "old holder fenced after takeover", setup: []*wire.Command{acquire("c2", 1, 5)}, cmd: fence(1, 2, true), code: wire.CodeStaleControllerEpoch},
		{name: "old holder cannot renew after takeover", setup: []*wire.Command{acquire("c2", 1, 5)}, cmd: acquire("c1", 1, 0), code: wire.CodeStaleControllerEpoch},
		{name: "acquire a vacant lease", setup: []*wire.Command{release("c1", 1)}, cmd: acquire("c2", 1, 0), check: func(t *testing.T, img *wire.Image, resp wire.ProposeResponse) {
			if l := img.Controller; l.Holder != "c2" || l.Epoch != 2 || resp.Epoch != 2 {
				t.Fatalf("lease %+v", l)
			}
		}},
		{name: "re-acquire own released lease gets a new epoch", setup: []*wire.Command{release("c1", 1)}, cmd: acquire("c1", 1, 0), check: func(t *testing.T, img *wire.Image, resp wire.ProposeResponse) {
			if l := img.Controller; l.Holder != "c1" || l.Epoch != 2 {
				t.Fatalf("lease %+v", l)
			}
		}},
		{name: "release", cmd: release("c1", 1), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			if l := img.Controller; l.Holder != "" || l.Addr != "" || l.Epoch != 1 || l.RenewedAt != img.Version {
				t.Fatalf("lease %+v", l)
			}
		}},
		{name: "release by another", cmd: release("c2", 1), code: wire.CodeStaleControllerEpoch},
		{name: "release at a wrong epoch", cmd: release("c1", 0), code: wire.CodeStaleControllerEpoch},
		{name: "release twice", setup: []*wire.Command{release("c1", 1)}, cmd: release("c1", 1), code: wire.CodeStaleControllerEpoch},
		{name: "no holder", cmd: acquire("", 1, 0), code: wire.CodeInvalidRequest},
		{name: "zero lease", cmd: func() *wire.Command { c := acquire("c1", 1, 0); c.AcquireLease.LeaseMs = 0; return c }(), code: wire.CodeInvalidRequest},
		{name: "huge lease", cmd: func() *wire.Command { c := acquire("c1", 1, 0); c.AcquireLease.LeaseMs = MaxLeaseMs + 1; return c }(), code: wire.CodeInvalidRequest},
		{name: "negative epoch", cmd: acquire("c1", -1, 0), code: wire.CodeInvalidRequest},
		{name: "bad address", cmd: func() *wire.Command { c := acquire("c1", 1, 0); c.AcquireLease.Addr = "nowhere"; return c }(), code: wire.CodeInvalidRequest},
		{name: "release without holder", cmd: release("", 1), code: wire.CodeInvalidRequest},
	})
}

func TestIsLeaseTakeover(t *testing.T) {
	held := wire.ControllerLease{Holder: "c1", Epoch: 3}
	for _, tc := range []struct {
		lease  wire.ControllerLease
		holder string
		want   bool
	}{
		{held, "c1", false},
		{held, "c2", true},
		{wire.ControllerLease{Epoch: 3}, "c2", false},
	} {
		if got := IsLeaseTakeover(tc.lease, acquire(tc.holder, 3, 0).AcquireLease); got != tc.want {
			t.Errorf("IsLeaseTakeover(%+v, %s) = %v", tc.lease, tc.holder, got)
		}
	}
}

func TestCreateTopic(t *testing.T) {
	long := strings.Repeat("x", wire.MaxTopicNameLen+1)
	runCases(t, []cmdCase{
		{name: "create", cmd: withConfigs(createTopic(1, "u", []int32{3, 1}, []int32{1, 2}, []int32{2, 3}), map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}),
			check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
				u := img.Topics["u"]
				if u == nil || len(u.Partitions) != 3 || u.Configs["retention.ms"] != "1000" || u.ID == "" || u.ID == img.Topics["t"].ID {
					t.Fatalf("topic %+v", u)
				}
				for i, p := range u.Partitions {
					if p.Partition != int32(i) || p.Leader != p.Replicas[0] || !sameIDs(p.ISR, p.Replicas) || p.LeaderEpoch != 0 || p.PartitionEpoch != 0 {
						t.Fatalf("partition %+v", p)
					}
				}
				if img.Topics["t"].Partitions[0].PartitionEpoch != 0 {
					t.Fatal("other topic touched")
				}
			}},
		{name: "given id", cmd: withID(createTopic(1, "u", []int32{1}), "abc-DEF_1"), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			if img.Topics["u"].ID != "abc-DEF_1" {
				t.Fatalf("id %q", img.Topics["u"].ID)
			}
		}},
		{name: "fenced replica starts outside the isr", cmd: createTopic(1, "u", []int32{4, 1, 2}, []int32{4}), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			p0, p1 := part(img, "u", 0), part(img, "u", 1)
			if p0.Leader != 1 || !sameIDs(p0.ISR, []int32{1, 2}) || !sameIDs(p0.Replicas, []int32{4, 1, 2}) {
				t.Fatalf("u-0 %+v", p0)
			}
			if p1.Leader != -1 || len(p1.ISR) != 0 {
				t.Fatalf("u-1 %+v", p1)
			}
		}},
		{name: "internal topic name", cmd: createTopic(1, "__consumer_offsets", []int32{1, 2, 3})},
		{name: "exists", cmd: createTopic(1, "t", []int32{1}), code: wire.CodeTopicAlreadyExists},
		{name: "id taken", setup: []*wire.Command{withID(createTopic(1, "u", []int32{1}), "same")}, cmd: withID(createTopic(1, "v", []int32{1}), "same"), code: wire.CodeInvalidRequest},
		{name: "bad id", cmd: withID(createTopic(1, "u", []int32{1}), "a/b"), code: wire.CodeInvalidRequest},
		{name: "stale controller", cmd: createTopic(0, "u", []int32{1}), code: wire.CodeStaleControllerEpoch},
		{name: "newer controller epoch", cmd: createTopic(5, "u", []int32{1}), code: wire.CodeStaleControllerEpoch},
		{name: "bad name", cmd: createTopic(1, "a b", []int32{1}), code: wire.CodeInvalidTopic},
		{name: "dot", cmd: createTopic(1, ".", []int32{1}), code: wire.CodeInvalidTopic},
		{name: "long name", cmd: createTopic(1, long, []int32{1}), code: wire.CodeInvalidTopic},
		{name: "no partitions", cmd: createTopic(1, "u"), code: wire.CodeInvalidPartitions},
		{name: "misnumbered partitions", cmd: func() *wire.Command {
			c := createTopic(1, "u", []int32{1}, []int32{2})
			c.CreateTopic.Topic.Partitions[1].Partition = 5
			return c
		}(), code: wire.CodeInvalidPartitions},
		{name: "null partition", cmd: func() *wire.Command {
			c := createTopic(1, "u", []int32{1})
			c.CreateTopic.Topic.Partitions[0] = nil
			return c
		}(), code: wire.CodeInvalidPartitions},
		{name: "no replicas", cmd: createTopic(1, "u", []int32{}), code: wire.CodeInvalidReplicationFactor},
		{name: "duplicate replica", cmd: createTopic(1, "u", []int32{1, 1}), code: wire.CodeInvalidRequest},
		{name: "negative replica", cmd: createTopic(1, "u", []int32{-1}), code: wire.CodeInvalidRequest},
		{name: "unregistered replica", cmd: createTopic(1, "u", []int32{1}, []int32{7}), code: wire.CodeInvalidRequest},
		{name: "unknown config", cmd: withConfigs(createTopic(1, "u", []int32{1}), map[string]string{"retention.weeks": "1"}), code: wire.CodeInvalidConfig},
	})
}

func TestDeleteTopic(t *testing.T) {
	runCases(t, []cmdCase{
		{name: "delete", setup: []*wire.Command{createTopic(1, "u", []int32{1})}, cmd: deleteTopic(1, "t"), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			if img.Topics["t"] != nil || img.Topics["u"] == nil {
				t.Fatalf("topics %v", img.Topics)
			}
		}},
		{name: "re-create gets a new id", setup: []*wire.Command{deleteTopic(1, "t")}, cmd: createTopic(1, "t", []int32{1}), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			if img.Topics["t"].ID == "" {
				t.Fatal("no id")
			}
		}},
		{name: "unknown", cmd: deleteTopic(1, "nope"), code: wire.CodeUnknownTopicOrPartition},
		{name: "stale controller", cmd: deleteTopic(7, "t"), code: wire.CodeStaleControllerEpoch},
		{name: "bad name", cmd: deleteTopic(1, ""), code: wire.CodeInvalidTopic},
	})
}

func TestAlterTopicConfigs(t *testing.T) {
	withCfg := withConfigs(createTopic(1, "u", []int32{1}), map[string]string{"retention.ms": "5", "segment.bytes": "1024"})
	runCases(t, []cmdCase{
		{name: "set and delete", setup: []*wire.Command{withCfg}, cmd: alterConfigs(1, "u", map[string]string{"retention.ms": "10", "min.insync.replicas": "2"}, "segment.bytes"),
			check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
				cfg := img.Topics["u"].Configs
				if len(cfg) != 2 || cfg["retention.ms"] != "10" || cfg["min.insync.replicas"] != "2" {
					t.Fatalf("configs %v", cfg)
				}
			}},
		{name: "delete the last", setup: []*wire.Command{withConfigs(createTopic(1, "u", []int32{1}), map[string]string{"retention.ms": "5"})}, cmd: alterConfigs(1, "u", nil, "retention.ms"),
			check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
				if img.Topics["u"].Configs != nil {
					t.Fatalf("configs %v", img.Topics["u"].Configs)
				}
			}},
		{name: "delete an unset config", cmd: alterConfigs(1, "t", nil, "retention.ms")},
		{name: "unknown topic", cmd: alterConfigs(1, "nope", map[string]string{"retention.ms": "1"}), code: wire.CodeUnknownTopicOrPartition},
		{name: "nothing", cmd: alterConfigs(1, "t", nil), code: wire.CodeInvalidRequest},
		{name: "set and delete the same", cmd: alterConfigs(1, "t", map[string]string{"retention.ms": "1"}, "retention.ms"), code: wire.CodeInvalidConfig},
		{name: "unknown delete", cmd: alterConfigs(1, "t", nil, "x.y"), code: wire.CodeInvalidConfig},
		{name: "stale controller", cmd: alterConfigs(0, "t", map[string]string{"retention.ms": "1"}), code: wire.CodeStaleControllerEpoch},
	})
}

func TestUpdatePartitions(t *testing.T) {
	bump := change("t", 0, 0, 1, []int32{1, 2})
	bump.BumpLeaderEpoch = true
	reassign := change("t", 0, 0, 1, []int32{1, 2})
	reassign.Replicas = []int32{1, 2, 4}
	badReassign := change("t", 0, 0, 1, []int32{1})
	badReassign.Replicas = []int32{1, 8}
	rejectedOne := func(code wire.Code) func(t *testing.T, img *wire.Image, resp wire.ProposeResponse) {
		return func(t *testing.T, img *wire.Image, resp wire.ProposeResponse) {
			if len(resp.Rejected) != 1 || resp.Rejected[0].Code != code || resp.Rejected[0].Message == "" {
				t.Fatalf("rejected %+v, want one %s", resp.Rejected, code)
			}
			if p := part(img, "t", 0); p.PartitionEpoch != 0 || p.Leader != 1 {
				t.Fatalf("rejected change applied: %+v", p)
			}
		}
	}
	runCases(t, []cmdCase{
		{name: "elect a new leader", cmd: update(1, change("t", 0, 0, 3, []int32{2, 3})), check: func(t *testing.T, img *wire.Image, resp wire.ProposeResponse) {
			p := part(img, "t", 0)
			if p.Leader != 3 || p.LeaderEpoch != 1 || p.PartitionEpoch != 1 || !sameIDs(p.ISR, []int32{2, 3}) || len(resp.Rejected) != 0 {
				t.Fatalf("t-0 %+v, rejected %v", p, resp.Rejected)
			}
		}},
		{name: "isr change keeps the leader epoch", cmd: update(1, change("t", 0, 0, 1, []int32{1, 3})), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			if p := part(img, "t", 0); p.Leader != 1 || p.LeaderEpoch != 0 || p.PartitionEpoch != 1 {
				t.Fatalf("t-0 %+v", p)
			}
		}},
		{name: "bump asked", cmd: update(1, bump), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			if p := part(img, "t", 0); p.LeaderEpoch != 1 || p.PartitionEpoch != 1 {
				t.Fatalf("t-0 %+v", p)
			}
		}},
		{name: "no leader", cmd: update(1, change("t", 0, 0, -1, []int32{})), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			if p := part(img, "t", 0); p.Leader != -1 || p.LeaderEpoch != 1 || len(p.ISR) != 0 {
				t.Fatalf("t-0 %+v", p)
			}
		}},
		{name: "reassign", cmd: update(1, reassign), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			if p := part(img, "t", 0); !sameIDs(p.Replicas, []int32{1, 2, 4}) || p.PartitionEpoch != 1 {
				t.Fatalf("t-0 %+v", p)
			}
		}},
		{name: "same partition twice", cmd: update(1, change("t", 0, 0, 2, []int32{1, 2}), change("t", 0, 1, 3, []int32{3, 2})), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			if p := part(img, "t", 0); p.Leader != 3 || p.LeaderEpoch != 2 || p.PartitionEpoch != 2 {
				t.Fatalf("t-0 %+v", p)
			}
		}},
		{name: "one good one stale", cmd: update(1, change("t", 0, 7, 2, []int32{2}), change("t", 1, 0, 3, []int32{3})), check: func(t *testing.T, img *wire.Image, resp wire.ProposeResponse) {
			rejectedOne(wire.CodeInvalidUpdateVersion)(t, img, resp)
			if p := part(img, "t", 1); p.Leader != 3 || p.PartitionEpoch != 1 {
				t.Fatalf("t-1 %+v", p)
			}
		}},
		{name: "unknown partition", cmd: update(1, change("t", 9, 0, 1, []int32{1})), check: func(t *testing.T, img *wire.Image, resp wire.ProposeResponse) {
			if len(resp.Rejected) != 1 || resp.Rejected[0].Code != wire.CodeUnknownTopicOrPartition || resp.Rejected[0].Partition != 9 {
				t.Fatalf("rejected %+v", resp.Rejected)
			}
		}},
		{name: "unknown topic", cmd: update(1, change("x", 0, 0, 1, []int32{1})), check: rejectedOne(wire.CodeUnknownTopicOrPartition)},
		{name: "leader outside the isr", cmd: update(1, change("t", 0, 0, 1, []int32{2, 3})), check: rejectedOne(wire.CodeInvalidRequest)},
		{name: "fenced node in the isr", cmd: update(1, reassignTo(change("t", 0, 0, 1, []int32{1, 4}), 1, 2, 4)), check: rejectedOne(wire.CodeInvalidRequest)},
		{name: "isr member not a replica", cmd: update(1, change("t", 0, 0, 1, []int32{1, 4})), check: rejectedOne(wire.CodeInvalidRequest)},
		{name: "unregistered new replica", cmd: update(1, badReassign), check: rejectedOne(wire.CodeInvalidRequest)},
		{name: "stale controller", cmd: update(0, change("t", 0, 0, 3, []int32{3})), code: wire.CodeStaleControllerEpoch},
		{name: "no changes", cmd: update(1), code: wire.CodeInvalidRequest},
		{name: "bad leader value", cmd: update(1, change("t", 0, 0, -2, []int32{1})), code: wire.CodeInvalidRequest},
		{name: "duplicate isr", cmd: update(1, change("t", 0, 0, 1, []int32{1, 1})), code: wire.CodeInvalidRequest},
	})
}

func reassignTo(ch wire.PartitionChange, replicas ...int32) wire.PartitionChange {
	ch.Replicas = append([]int32{}, replicas...)
	return ch
}

func TestAlterISR(t *testing.T) {
	runCases(t, []cmdCase{
		{name: "shrink", cmd: alterISR("t", 0, 1, 0, 0, []int32{1, 2}), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			if p := part(img, "t", 0); !sameIDs(p.ISR, []int32{1, 2}) || p.PartitionEpoch != 1 || p.LeaderEpoch != 0 || p.Leader != 1 {
				t.Fatalf("t-0 %+v", p)
			}
		}},
		{name: "expand", setup: []*wire.Command{alterISR("t", 0, 1, 0, 0, []int32{1})}, cmd: alterISR("t", 0, 1, 0, 1, []int32{1, 3}), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			if p := part(img, "t", 0); !sameIDs(p.ISR, []int32{1, 3}) || p.PartitionEpoch != 2 {
				t.Fatalf("t-0 %+v", p)
			}
		}},
		{name: "deposed leader", setup: []*wire.Command{update(1, change("t", 0, 0, 2, []int32{1, 2}))}, cmd: alterISR("t", 0, 1, 0, 1, []int32{1}), code: wire.CodeFencedLeaderEpoch},
		{name: "future leader epoch", cmd: alterISR("t", 0, 1, 3, 0, []int32{1}), code: wire.CodeUnknownLeaderEpoch},
		{name: "not the leader", cmd: alterISR("t", 0, 2, 0, 0, []int32{2}), code: wire.CodeNotLeaderOrFollower},
		{name: "stale partition epoch", setup: []*wire.Command{alterISR("t", 0, 1, 0, 0, []int32{1})}, cmd: alterISR("t", 0, 1, 0, 0, []int32{1, 2}), code: wire.CodeInvalidUpdateVersion},
		{name: "isr without the leader", cmd: alterISR("t", 0, 1, 0, 0, []int32{2, 3}), code: wire.CodeInvalidRequest},
		{name: "non-replica", cmd: alterISR("t", 0, 1, 0, 0, []int32{1, 4}), code: wire.CodeInvalidRequest},
		{name: "fenced node cannot join", setup: []*wire.Command{update(1, reassignTo(change("t", 0, 0, 1, []int32{1}), 1, 4))}, cmd: alterISR("t", 0, 1, 0, 1, []int32{1, 4}), code: wire.CodeInvalidRequest},
		{name: "unknown partition", cmd: alterISR("t", 2, 1, 0, 0, []int32{1}), code: wire.CodeUnknownTopicOrPartition},
		{name: "unknown topic", cmd: alterISR("x", 0, 1, 0, 0, []int32{1}), code: wire.CodeUnknownTopicOrPartition},
		{name: "negative partition", cmd: alterISR("t", -1, 1, 0, 0, []int32{1}), code: wire.CodeInvalidRequest},
	})
}

func TestOffsetsOwners(t *testing.T) {
	runCases(t, []cmdCase{
		{name: "first claim", cmd: claim(0, "co1", 0), check: func(t *testing.T, img *wire.Image, resp wire.ProposeResponse) {
			o := img.OffsetsOwners[0]
			if o == nil || o.Coordinator != "co1" || o.Epoch != 1 || resp.Epoch != 1 || o.Addr != "127.0.0.1:9100" {
				t.Fatalf("owner %+v resp %+v", o, resp)
			}
		}},
		{name: "takeover", setup: []*wire.Command{claim(0, "co1", 0)}, cmd: claim(0, "co2", 1), check: func(t *testing.T, img *wire.Image, resp wire.ProposeResponse) {
			if o := img.OffsetsOwners[0]; o.Coordinator != "co2" || o.Epoch != 2 || resp.Epoch != 2 {
				t.Fatalf("owner %+v", o)
			}
		}},
		{name: "lost race", setup: []*wire.Command{claim(0, "co1", 0)}, cmd: claim(0, "co2", 0), code: wire.CodeInvalidUpdateVersion},
		{name: "release", setup: []*wire.Command{claim(3, "co1", 0)}, cmd: releaseOwner(3, "co1", 1), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			if o := img.OffsetsOwners[3]; o.Coordinator != "" || o.Addr != "" || o.Epoch != 2 {
				t.Fatalf("owner %+v", o)
			}
			if md := img.Metadata(); len(md.Coordinators) != 0 {
				t.Fatalf("coordinators %v", md.Coordinators)
			}
		}},
		{name: "claim after release", setup: []*wire.Command{claim(3, "co1", 0), releaseOwner(3, "co1", 1)}, cmd: claim(3, "co2", 2)},
		{name: "stale claim after release", setup: []*wire.Command{claim(3, "co1", 0), releaseOwner(3, "co1", 1)}, cmd: claim(3, "co2", 0), code: wire.CodeInvalidUpdateVersion},
		{name: "release by another", setup: []*wire.Command{claim(3, "co1", 0)}, cmd: releaseOwner(3, "co2", 1), code: wire.CodeInvalidUpdateVersion},
		{name: "release at a wrong epoch", setup: []*wire.Command{claim(3, "co1", 0)}, cmd: releaseOwner(3, "co1", 2), code: wire.CodeInvalidUpdateVersion},
		{name: "release never owned", cmd: releaseOwner(3, "co1", 1), code: wire.CodeInvalidUpdateVersion},
		{name: "release epoch 0", cmd: releaseOwner(3, "co1", 0), code: wire.CodeInvalidRequest},
		{name: "negative partition", cmd: claim(-1, "co1", 0), code: wire.CodeInvalidRequest},
		{name: "partition too large", cmd: claim(MaxOffsetsPartitions, "co1", 0), code: wire.CodeInvalidRequest},
		{name: "no coordinator", cmd: claim(0, "", 0), code: wire.CodeInvalidRequest},
		{name: "no address", cmd: func() *wire.Command { c := claim(0, "co1", 0); c.ClaimOffsetsOwner.Addr = ""; return c }(), code: wire.CodeInvalidRequest},
		{name: "negative expected epoch", cmd: claim(0, "co1", -1), code: wire.CodeInvalidRequest},
	})
}

func TestProducerIDs(t *testing.T) {
	runCases(t, []cmdCase{
		{name: "first block", cmd: allocate(10), check: func(t *testing.T, img *wire.Image, resp wire.ProposeResponse) {
			if resp.FirstProducerID != 0 || img.NextProducerID != 10 {
				t.Fatalf("first %d next %d", resp.FirstProducerID, img.NextProducerID)
			}
		}},
		{name: "second block", setup: []*wire.Command{allocate(10)}, cmd: allocate(MaxProducerIDBlock), check: func(t *testing.T, img *wire.Image, resp wire.ProposeResponse) {
			if resp.FirstProducerID != 10 || img.NextProducerID != 10+MaxProducerIDBlock {
				t.Fatalf("first %d next %d", resp.FirstProducerID, img.NextProducerID)
			}
		}},
		{name: "zero", cmd: allocate(0), code: wire.CodeInvalidRequest},
		{name: "too many", cmd: allocate(MaxProducerIDBlock + 1), code: wire.CodeInvalidRequest},
	})
}

func TestUnregisterNode(t *testing.T) {
	runCases(t, []cmdCase{
		{name: "idle node", cmd: unregister(1, 4), check: func(t *testing.T, img *wire.Image, _ wire.ProposeResponse) {
			if img.Nodes[4] != nil || img.Nodes[1] == nil {
				t.Fatalf("nodes %v", img.Nodes)
			}
		}},
		{name: "replica", cmd: unregister(1, 1), code: wire.CodeInvalidRequest},
		{name: "unknown", cmd: unregister(1, 8), code: wire.CodeInvalidRequest},
		{name: "stale controller", cmd: unregister(3, 4), code: wire.CodeStaleControllerEpoch},
		{name: "re-register after unregister", setup: []*wire.Command{unregister(1, 4)}, cmd: register(4, addr(4), 1)},
	})
}
