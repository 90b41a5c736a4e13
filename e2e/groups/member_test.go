package groups

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"strand.dev/client/consumer"
	"strand.dev/client/wire"
)

// decodeAnswer decodes a 2xx JSON answer into out, or the error envelope.
func decodeAnswer(resp *http.Response, out any) error {
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return wire.UnmarshalError(resp.StatusCode, body)
	}
	return json.Unmarshal(body, out)
}

// ledger is what in-process members consumed, and who owned what when.
type ledger struct {
	t  testing.TB
	mu sync.Mutex
	// seen counts the consumptions of each (partition, offset).
	seen map[consumer.TopicPartition]map[int64]int
	// owner is the member consuming each partition now.
	owner map[consumer.TopicPartition]string
	// overlaps records a partition assigned to a member while another
	// still had it.
	overlaps []string
}

func newLedger(t testing.TB) *ledger {
	return &ledger{t: t, seen: map[consumer.TopicPartition]map[int64]int{}, owner: map[consumer.TopicPartition]string{}}
}

func (l *ledger) assigned(member string, tps []consumer.TopicPartition) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, tp := range tps {
		if o, ok := l.owner[tp]; ok && o != member {
			l.overlaps = append(l.overlaps, fmt.Sprintf("%s assigned to %s while %s owns it", tp, member, o))
		}
		l.owner[tp] = member
	}
}

func (l *ledger) revoked(member string, tps []consumer.TopicPartition) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, tp := range tps {
		if l.owner[tp] == member {
			delete(l.owner, tp)
		}
	}
}

func (l *ledger) consumed(tp consumer.TopicPartition, off int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.seen[tp]
	if m == nil {
		m = map[int64]int{}
		l.seen[tp] = m
	}
	m[off]++
}

// counts returns the distinct records consumed and the duplicates.
func (l *ledger) counts() (distinct, dups int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.seen {
		for _, n := range m {
			distinct++
			dups += n - 1
		}
	}
	return distinct, dups
}

// member is an in-process group member polling on its own goroutine.
type member struct {
	name string
	gc   *consumer.GroupConsumer
	l    *ledger

	stop chan struct{}
	done chan struct{}
	err  error

	mu     sync.Mutex
	paused bool
}

func (m *member) OnPartitionsRevoked(_ context.Context, tps []consumer.TopicPartition) {
	m.l.revoked(m.name, tps)
}

func (m *member) OnPartitionsAssigned(_ context.Context, tps []consumer.TopicPartition) {
	m.l.assigned(m.name, tps)
}

func (m *member) OnPartitionsLost(_ context.Context, tps []consumer.TopicPartition) {
	m.l.revoked(m.name, tps)
}

// startMember subscribes a member and polls until stopMember.
func startMember(t *testing.T, c *cluster, l *ledger, group, name, topic string, opts ...consumer.Option) *member {
	t.Helper()
	m := &member{name: name, gc: c.newMember(group, opts...), l: l, stop: make(chan struct{}), done: make(chan struct{})}
	if err := m.gc.Subscribe([]string{topic}, m); err != nil {
		t.Fatal(err)
	}
	go m.loop()
	return m
}

func (m *member) loop() {
	defer close(m.done)
	for {
		select {
		case <-m.stop:
			return
		default:
		}
		m.mu.Lock()
		paused := m.paused
		m.mu.Unlock()
		if paused {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		recs, err := m.gc.Poll(ctx)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			m.err = err
			return
		}
		for _, r := range recs {
			m.l.consumed(consumer.TopicPartition{Topic: r.Topic, Partition: r.Partition}, r.Offset)
		}
	}
}

// setPaused stops or resumes polling (a member stuck in processing).
func (m *member) setPaused(p bool) {
	m.mu.Lock()
	m.paused = p
	m.mu.Unlock()
}

// close stops polling and closes the consumer (commit, leave).
func (m *member) close(t *testing.T) {
	t.Helper()
	close(m.stop)
	<-m.done
	if m.err != nil {
		t.Fatalf("member %s: poll: %v", m.name, m.err)
	}
	if err := m.gc.Close(); err != nil {
		t.Fatalf("member %s: close: %v", m.name, err)
	}
}

// assignment is a stable group assignment: partition -> member id.
type assignment map[int32]string

// waitStable waits until the group (as the coordinator describes it) is
// stable with n members, every partition of topic (0..parts-1) owned by
// exactly one member and each member consuming exactly what it owns.
func waitStable(t *testing.T, c *cluster, group, topic string, parts int32, members []*member, timeout time.Duration) (assignment, int32) {
	t.Helper()
	var out assignment
	var gen int32
	eventually(t, timeout, fmt.Sprintf("group %s stable with %d members", group, len(members)), func() error {
		d, err := c.describe(group)
		if err != nil {
			return err
		}
		if d.State != wire.GroupStateStable || len(d.Members) != len(members) {
			return fmt.Errorf("state %s, %d members", d.State, len(d.Members))
		}
		a := assignment{}
		for _, m := range d.Members {
			for _, tp := range m.Assigned {
				if tp.Topic != topic {
					continue
				}
				for _, p := range tp.Partitions {
					if o, dup := a[p]; dup {
						return fmt.Errorf("partition %d owned by %s and %s in generation %d", p, o, m.MemberID, d.Generation)
					}
					a[p] = m.MemberID
				}
			}
		}
		if int32(len(a)) != parts {
			return fmt.Errorf("generation %d: %d of %d partitions owned", d.Generation, len(a), parts)
		}
		// Each member consumes exactly what the coordinator says it owns.
		ids := map[string]bool{}
		for _, m := range d.Members {
			ids[m.MemberID] = true
		}
		for _, m := range members {
			id := m.gc.MemberID()
			if !ids[id] {
				return fmt.Errorf("member %s (id %q) is not among the group's members yet", m.name, id)
			}
			var want []int32
			for p, o := range a {
				if o == id {
					want = append(want, p)
				}
			}
			sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
			var got []int32
			for _, tp := range m.gc.Assignment() {
				got = append(got, tp.Partition)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("member %s consumes %v, owns %v", m.name, got, want)
			}
		}
		out, gen = a, d.Generation
		return nil
	})
	return out, gen
}

// moved counts the partitions whose owner changed between two assignments,
// leaving out those whose previous owner is gone.
func moved(before, after assignment, gone string) int {
	n := 0
	for p, o := range after {
		if b, ok := before[p]; ok && b != o && b != gone {
			n++
		}
	}
	return n
}
