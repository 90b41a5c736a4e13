package metastate

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"strand.dev/client/wire"
)

func TestApplyIndexes(t *testing.T) {
	m := New("c")
	data, _ := json.Marshal(noop())
	if resp, err := m.Apply(5, data); err != nil || resp.Version != 1 || m.AppliedIndex() != 5 {
		t.Fatalf("first apply: %+v %v, applied %d", resp, err, m.AppliedIndex())
	}
	// Replays at or below the applied index are ignored.
	for _, idx := range []uint64{5, 3, 0} {
		resp, err := m.Apply(idx, data)
		if err != nil || resp.Version != 1 || m.Image().Version != 1 || m.AppliedIndex() != 5 {
			t.Fatalf("replay at %d: %+v %v, version %d, applied %d", idx, resp, err, m.Image().Version, m.AppliedIndex())
		}
	}
	// Undecodable and rejected entries advance the applied index only.
	img := m.Image()
	for i, bad := range [][]byte{[]byte("{"), []byte(`{"type":"nope"}`), []byte(`[]`), nil} {
		idx := uint64(6 + i)
		_, err := m.Apply(idx, bad)
		if codeOf(err) == "" {
			t.Fatalf("entry %q: err %v, want a *wire.Error", bad, err)
		}
		if m.Image() != img || m.AppliedIndex() != idx {
			t.Fatalf("entry %q changed the image or left applied at %d", bad, m.AppliedIndex())
		}
	}
	if resp, err := m.Apply(20, data); err != nil || resp.Version != 2 {
		t.Fatalf("after gaps: %+v %v", resp, err)
	}
}

func TestEmptyImage(t *testing.T) {
	img := New("c1").Image()
	if img.Version != 0 || img.ClusterID != "c1" || img.Nodes == nil || img.Topics == nil || img.OffsetsOwners == nil {
		t.Fatalf("empty image %+v", img)
	}
	body, _ := json.Marshal(img)
	if !bytes.Contains(body, []byte(`"topics":{}`)) {
		t.Fatalf("empty image JSON %s", body)
	}
}

func TestValidateNil(t *testing.T) {
	if codeOf(New("c").Validate(nil)) != wire.CodeInvalidRequest {
		t.Fatal("nil command accepted")
	}
}

// randomLog makes a log of n commands of every type, many of them rejected
// when applied, deterministically from seed. A shadow machine applies the
// log as it is made, so that some commands can use the real epochs.
func randomLog(seed int64, n int) [][]byte {
	r := rand.New(rand.NewSource(seed))
	shadow := New("shadow")
	var out [][]byte
	add := func(c *wire.Command) {
		b, err := json.Marshal(c)
		if err != nil {
			panic(err)
		}
		out = append(out, b)
		shadow.Apply(uint64(len(out)), b)
	}
	// existing picks a real partition, if any.
	existing := func() (string, *wire.PartitionRecord) {
		img := shadow.Image()
		for _, name := range []string{"a", "b", "c", "d"} {
			if t := img.Topics[name]; t != nil && r.Intn(2) == 0 {
				return name, t.Partitions[r.Intn(len(t.Partitions))]
			}
		}
		return "", nil
	}
	for id := int32(1); id <= 6; id++ {
		add(register(id, addr(id), 1))
	}
	add(acquire("c1", 0, 0))
	topics := []string{"a", "b", "c", "d"}
	node := func() int32 { return int32(1 + r.Intn(7)) }
	ids := func(k int) []int32 {
		perm := r.Perm(6)
		s := make([]int32, k)
		for i := range s {
			s[i] = int32(perm[i] + 1)
		}
		return s
	}
	for len(out) < n {
		epoch := int64(1 + r.Intn(3))
		if r.Intn(2) == 0 {
			epoch = shadow.Image().Controller.Epoch
		}
		topic := topics[r.Intn(len(topics))]
		p := int32(r.Intn(4))
		switch r.Intn(14) {
		case 0:
			add(register(node(), addr(node()), int64(1+r.Intn(20))))
		case 1:
			if r.Intn(2) == 0 {
				epoch = shadow.Image().Controller.Epoch
			}
			add(fence(epoch, node(), r.Intn(3) == 0))
		case 2:
			add(acquire([]string{"c1", "c2", "c3"}[r.Intn(3)], epoch, uint64(r.Intn(len(out)+1))))
		case 3:
			add(release([]string{"c1", "c2"}[r.Intn(2)], epoch))
		case 4:
			reps := make([][]int32, 1+r.Intn(4))
			for i := range reps {
				reps[i] = ids(1 + r.Intn(3))
			}
			add(createTopic(epoch, topic, reps...))
		case 5:
			add(deleteTopic(epoch, topic))
		case 6:
			add(alterConfigs(epoch, topic, map[string]string{"retention.ms": "1000", "segment.bytes": "4096"}, "cleanup.policy"))
		case 7:
			var chs []wire.PartitionChange
			for k := 0; k < 1+r.Intn(4); k++ {
				isr := ids(1 + r.Intn(3))
				leader := isr[0]
				if r.Intn(5) == 0 {
					leader = -1
				}
				ch := change(topics[r.Intn(len(topics))], int32(r.Intn(4)), int32(r.Intn(4)), leader, isr)
				if name, p := existing(); p != nil {
					ch.Topic, ch.Partition, ch.ExpectedPartitionEpoch = name, p.Partition, p.PartitionEpoch
					var live []int32
					for _, id := range p.Replicas {
						if n := shadow.Image().Nodes[id]; n != nil && !n.Fenced {
							live = append(live, id)
						}
					}
					ch.Leader, ch.ISR = -1, live
					if len(live) > 0 {
						ch.Leader = live[r.Intn(len(live))]
					}
				}
				ch.BumpLeaderEpoch = r.Intn(2) == 0
				if r.Intn(4) == 0 {
					ch.Replicas = ids(3)
				}
				chs = append(chs, ch)
			}
			add(update(epoch, chs...))
		case 8:
			isr := ids(1 + r.Intn(3))
			if name, pr := existing(); pr != nil && pr.Leader >= 0 {
				isr = []int32{pr.Leader}
				for _, id := range pr.Replicas {
					if n := shadow.Image().Nodes[id]; id != pr.Leader && n != nil && !n.Fenced && r.Intn(2) == 0 {
						isr = append(isr, id)
					}
				}
				add(alterISR(name, pr.Partition, pr.Leader, pr.LeaderEpoch, pr.PartitionEpoch, isr))
				continue
			}
			add(alterISR(topic, p, isr[0], int32(r.Intn(3)), int32(r.Intn(4)), isr))
		case 9:
			add(claim(int32(r.Intn(5)), []string{"co1", "co2"}[r.Intn(2)], int64(r.Intn(4))))
		case 10:
			add(releaseOwner(int32(r.Intn(5)), []string{"co1", "co2"}[r.Intn(2)], int64(1+r.Intn(3))))
		case 11:
			add(allocate(int64(1 + r.Intn(100))))
		case 12:
			add(unregister(epoch, node()))
		case 13:
			add(noop())
		}
	}
	return out
}

func TestDeterminism(t *testing.T) {
	log := randomLog(42, 3000)
	a, b := New("det"), New("det")
	accepted := 0
	for i, e := range log {
		ra, ea := a.Apply(uint64(i+1), e)
		rb, eb := b.Apply(uint64(i+1), e)
		if !reflect.DeepEqual(ra, rb) || codeOf(ea) != codeOf(eb) {
			t.Fatalf("entry %d: %+v %v vs %+v %v", i+1, ra, ea, rb, eb)
		}
		if ea == nil {
			accepted++
		}
		if i == len(log)/2 {
			// A third machine restored from a snapshot in the middle must
			// end in the same state.
			snap, _ := a.Snapshot()
			c := New("det")
			if err := c.Restore(snap); err != nil {
				t.Fatal(err)
			}
			for j, e := range log[i+1:] {
				c.Apply(uint64(i+2+j), e)
			}
			t.Cleanup(func() {
				sa, _ := a.Snapshot()
				sc, _ := c.Snapshot()
				if !bytes.Equal(sa, sc) {
					t.Error("machine restored mid-log differs")
				}
			})
		}
	}
	if accepted < 300 || accepted > len(log)-300 {
		t.Fatalf("%d of %d accepted: the log does not exercise both outcomes", accepted, len(log))
	}
	sa, _ := a.Snapshot()
	sb, _ := b.Snapshot()
	if !bytes.Equal(sa, sb) {
		t.Fatal("snapshots differ")
	}
	ja, _ := json.Marshal(a.Image())
	jb, _ := json.Marshal(b.Image())
	if !bytes.Equal(ja, jb) {
		t.Fatal("images differ")
	}
	if a.Image().Version != uint64(accepted) {
		t.Fatalf("version %d, accepted %d", a.Image().Version, accepted)
	}
	checkInvariants(t, a.Image())
}

// checkInvariants asserts what every image must satisfy.
func checkInvariants(t *testing.T, img *wire.Image) {
	t.Helper()
	for name, tr := range img.Topics {
		if tr.Name != name || tr.ID == "" {
			t.Fatalf("topic %q: %+v", name, tr)
		}
		for i, p := range tr.Partitions {
			if p.Partition != int32(i) || len(p.Replicas) == 0 || p.ISR == nil {
				t.Fatalf("%s-%d: %+v", name, i, p)
			}
			for _, r := range p.ISR {
				n := img.Nodes[r]
				if n == nil || !contains(p.Replicas, r) {
					t.Fatalf("%s-%d: isr member %d is unknown or not a replica: %+v", name, i, r, p)
				}
				if n.Fenced && len(p.ISR) > 1 {
					t.Fatalf("%s-%d: fenced isr member %d is not the last one: %+v", name, i, r, p)
				}
			}
			if p.Leader != -1 && !contains(p.ISR, p.Leader) {
				t.Fatalf("%s-%d: leader outside the isr: %+v", name, i, p)
			}
		}
	}
}

// checkInvariantsShape checks only what a decoded image must hold whatever
// its content: maps present.
func checkInvariantsShape(t *testing.T, img *wire.Image) {
	if img.Nodes == nil || img.Topics == nil || img.OffsetsOwners == nil {
		t.Fatal("decoded image without maps")
	}
}

func TestInvariantsOverRandomLogs(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		m := New("inv")
		for i, e := range randomLog(seed, 500) {
			m.Apply(uint64(i+1), e)
		}
		checkInvariants(t, m.Image())
	}
}

// TestCopyOnWrite: images handed out stay as they were while later commands
// apply, with a reader walking them concurrently (run with -race).
func TestCopyOnWrite(t *testing.T) {
	log := randomLog(7, 2000)
	m := New("cow")
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			img := m.Image()
			before := encodeSnapshot(img, 0)
			body, err := json.Marshal(img)
			if err != nil {
				t.Error(err)
				return
			}
			if len(body) == 0 || !bytes.Equal(before, encodeSnapshot(img, 0)) {
				t.Error("image changed while being read")
				return
			}
		}
	}()
	type held struct {
		img   *wire.Image
		bytes []byte
	}
	var kept []held
	for i, e := range log {
		if i%50 == 0 {
			img := m.Image()
			kept = append(kept, held{img, encodeSnapshot(img, 0)})
		}
		m.Apply(uint64(i+1), e)
	}
	stop.Store(true)
	wg.Wait()
	for i, h := range kept {
		if !bytes.Equal(h.bytes, encodeSnapshot(h.img, 0)) {
			t.Fatalf("image %d (version %d) changed after later applies", i, h.img.Version)
		}
	}
}

// TestCopyGranularity: a command on one topic shares every other topic's
// record, and every other partition of its own topic.
func TestCopyGranularity(t *testing.T) {
	f := newFixture(t)
	f.mustApply(createTopic(1, "u", []int32{1, 2}, []int32{2, 3}))
	before := f.m.Image()
	f.mustApply(alterISR("u", 1, 2, 0, 0, []int32{2}))
	after := f.m.Image()
	if after.Topics["t"] != before.Topics["t"] {
		t.Fatal("untouched topic copied")
	}
	if after.Topics["u"] == before.Topics["u"] || after.Topics["u"].Partitions[1] == before.Topics["u"].Partitions[1] {
		t.Fatal("touched topic or partition not copied")
	}
	if after.Topics["u"].Partitions[0] != before.Topics["u"].Partitions[0] {
		t.Fatal("untouched partition copied")
	}
	if reflect.ValueOf(after.Nodes).Pointer() != reflect.ValueOf(before.Nodes).Pointer() {
		t.Fatal("node map copied by a partition command")
	}
	f.mustApply(noop())
	if f.m.Image().Topics["u"] != after.Topics["u"] {
		t.Fatal("noop copied a topic")
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	m := New("snap")
	for i, e := range randomLog(3, 1500) {
		m.Apply(uint64(i+1), e)
	}
	m.ApplyCommand(2000, withConfigs(createTopic(m.Image().Controller.Epoch, "cfg", []int32{1}), map[string]string{"retention.ms": "1"}))
	data, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if idx, err := SnapshotIndex(data); err != nil || idx != m.AppliedIndex() {
		t.Fatalf("SnapshotIndex = %d, %v", idx, err)
	}
	r := New("snap")
	if err := r.Restore(data); err != nil {
		t.Fatal(err)
	}
	if r.AppliedIndex() != m.AppliedIndex() {
		t.Fatalf("applied %d, want %d", r.AppliedIndex(), m.AppliedIndex())
	}
	if !reflect.DeepEqual(r.Image(), m.Image()) {
		ja, _ := json.Marshal(m.Image())
		jb, _ := json.Marshal(r.Image())
		t.Fatalf("restored image differs:\n%s\n%s", ja, jb)
	}
	// The restored machine goes on like the original.
	next := withConfigs(createTopic(m.Image().Controller.Epoch, "after", []int32{1}), nil)
	ra, ea := m.ApplyCommand(3000, next)
	rb, eb := r.ApplyCommand(3000, next)
	if !reflect.DeepEqual(ra, rb) || codeOf(ea) != codeOf(eb) {
		t.Fatalf("diverged after restore: %+v %v vs %+v %v", ra, ea, rb, eb)
	}
	// A machine without a cluster id takes the snapshot's.
	anon := New("")
	if err := anon.Restore(data); err != nil || anon.Image().ClusterID != "snap" {
		t.Fatalf("restore into an anonymous machine: %v", err)
	}
}

func TestRestoreRejects(t *testing.T) {
	f := newFixture(t)
	f.mustApply(claim(2, "co", 0))
	data, _ := f.m.Snapshot()
	other := New("other-cluster")
	if err := other.Restore(data); !errors.Is(err, ErrClusterMismatch) {
		t.Fatalf("other cluster: %v", err)
	}
	if other.Image().Version != 0 {
		t.Fatal("failed restore changed the state")
	}
	r := New("test-cluster")
	// Every truncation and every single-byte corruption is refused.
	for i := 0; i < len(data); i++ {
		if err := r.Restore(data[:i]); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("truncated to %d: %v", i, err)
		}
		bad := append([]byte(nil), data...)
		bad[i] ^= 0x40
		if err := r.Restore(bad); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("corrupted byte %d: %v", i, err)
		}
	}
	if r.Image().Version != 0 {
		t.Fatal("failed restore changed the state")
	}
	if err := r.Restore(append(append([]byte(nil), data...), 0)); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("trailing byte: %v", err)
	}
	if _, err := SnapshotIndex([]byte("nope")); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("SnapshotIndex of garbage: %v", err)
	}
}

// FuzzRestore: arbitrary bytes never panic Restore.
func FuzzRestore(f *testing.F) {
	m := New("fz")
	for i, e := range randomLog(5, 200) {
		m.Apply(uint64(i+1), e)
	}
	data, _ := m.Snapshot()
	f.Add(data)
	f.Fuzz(func(t *testing.T, b []byte) {
		r := New("")
		if err := r.Restore(b); err == nil {
			checkInvariantsShape(t, r.Image())
		}
	})
}

// TestSnapshotCoversImage guards the binary snapshot format against fields
// added to the image: a new field must be added to the encoder, the decoder
// and this list, or snapshots would silently drop it.
func TestSnapshotCoversImage(t *testing.T) {
	want := map[reflect.Type][]string{
		reflect.TypeOf(wire.Image{}):           {"Version", "ClusterID", "Nodes", "Controller", "Topics", "OffsetsOwners", "NextProducerID"},
		reflect.TypeOf(wire.NodeRecord{}):      {"ID", "Addr", "GossipAddr", "Rack", "Incarnation", "Fenced"},
		reflect.TypeOf(wire.ControllerLease{}): {"Holder", "Addr", "Epoch", "LeaseMs", "RenewedAt"},
		reflect.TypeOf(wire.TopicRecord{}):     {"Name", "ID", "Configs", "Partitions"},
		reflect.TypeOf(wire.PartitionRecord{}): {"Partition", "Replicas", "Leader", "LeaderEpoch", "ISR", "PartitionEpoch"},
		reflect.TypeOf(wire.OffsetsOwner{}):    {"Coordinator", "Addr", "Epoch"},
	}
	for typ, fields := range want {
		var got []string
		for i := 0; i < typ.NumField(); i++ {
			got = append(got, typ.Field(i).Name)
		}
		if !reflect.DeepEqual(got, fields) {
			t.Errorf("%s has fields %v; the snapshot encodes %v: update snapshot.go", typ, got, fields)
		}
	}
}

func TestImageJSON(t *testing.T) {
	f := newFixture(t)
	img, body, err := f.m.ImageJSON()
	want, _ := json.Marshal(f.m.Image())
	if err != nil || img != f.m.Image() || !bytes.Equal(body, want) {
		t.Fatalf("ImageJSON: %v", err)
	}
	// A rejected command keeps the cached encoding; an accepted one does not.
	f.apply(fence(9, 1, true))
	if _, again, _ := f.m.ImageJSON(); &again[0] != &body[0] {
		t.Fatal("encoding recomputed for an unchanged image")
	}
	f.mustApply(noop())
	img2, body2, _ := f.m.ImageJSON()
	var decoded wire.Image
	if err := json.Unmarshal(body2, &decoded); err != nil || decoded.Version != img2.Version || img2.Version != img.Version+1 {
		t.Fatalf("new encoding: version %d, image %d, err %v", decoded.Version, img2.Version, err)
	}
}
