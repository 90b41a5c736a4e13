package groups

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"strand.dev/client/admin"
	"strand.dev/client/consumer"
	"strand.dev/client/metaclient"
	"strand.dev/client/producer"
	"strand.dev/client/record"
	"strand.dev/client/wire"
	"strand.dev/e2e/harness"
)

// bins builds the binaries the tests run, once per test binary.
var bins *harness.Binaries

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == roleArg {
		os.Exit(runRole())
	}
	os.Exit(harness.Main(m, &bins))
}

func binary(t testing.TB, name string) string {
	t.Helper()
	return bins.Must(t, name)
}

// coordinator is a strand-coordinator process.
type coordinator struct {
	*harness.Proc
	id   string
	addr string
}

// cluster is 1 strand-meta, 1 strand-controller, N strand-data (cluster
// mode) and 2 strand-coordinators, as separate processes on loopback.
type cluster struct {
	t         *testing.T
	metaAddrs []string
	data      []string
	coords    []*coordinator
	meta      *metaclient.Client
	adm       *admin.Admin
	http      *http.Client
}

// startCluster starts the cluster and waits until both coordinators own
// offsets partitions and __consumer_offsets exists.
func startCluster(t *testing.T, dataNodes int) *cluster {
	t.Helper()
	c := &cluster{t: t, http: &http.Client{Timeout: 30 * time.Second}}
	started := time.Now()
	defer func() { t.Logf("cluster up in %v", time.Since(started).Round(time.Millisecond)) }()
	metaAddr := harness.FreeAddr(t)
	c.metaAddrs = []string{metaAddr}
	harness.Start(t, "strand-meta-1", binary(t, "strand-meta"),
		"--id", "1", "--listen", metaAddr, "--initial-cluster", "1="+metaAddr,
		"--data-dir", t.TempDir(), "--cluster-id", "e2e-groups", "--log-level", "warn")
	c.meta = metaclient.New(c.metaAddrs, metaclient.WithTimeout(5*time.Second))
	t.Cleanup(c.meta.Close)
	c.eventually(60*time.Second, "strand-meta commits", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := c.meta.Propose(ctx, &wire.Command{Type: wire.CmdNoop})
		return err
	})
	n := 1 + dataNodes + 2
	var gossip []string
	for range n {
		gossip = append(gossip, harness.FreeAddr(t))
	}
	join := strings.Join(gossip, ",")
	meta := strings.Join(c.metaAddrs, ",")
	harness.Start(t, "strand-controller-1", binary(t, "strand-controller"),
		"--id", "controller-1", "--listen", harness.FreeAddr(t), "--meta", meta,
		"--gossip-bind", gossip[0], "--join", join, "--gossip-retry-join", "200ms",
		"--lease", "1s", "--reconcile-interval", "500ms", "--log-level", "warn")
	var procs []*harness.Proc
	for i := range dataNodes {
		addr := harness.FreeAddr(t)
		p := harness.Start(t, fmt.Sprintf("strand-data-%d", i+1), binary(t, "strand-data"),
			"--node-id", strconv.Itoa(i+1), "--listen", addr, "--data-dir", t.TempDir(),
			"--meta", meta, "--gossip-bind", gossip[1+i], "--join", join, "--gossip-retry-join", "200ms",
			"--replica-lag-time-max", "5s", "--log-level", "warn")
		c.data = append(c.data, addr)
		procs = append(procs, p)
	}
	for i := range 2 {
		c.coords = append(c.coords, c.startCoordinator(fmt.Sprintf("coordinator-%d", i+1), gossip[1+dataNodes+i], join))
	}
	for i, p := range procs {
		harness.WaitHealthy(t, p, c.data[i], 60*time.Second)
	}
	for _, co := range c.coords {
		harness.WaitHealthy(t, co.Proc, co.addr, 60*time.Second)
	}
	var err error
	c.adm, err = admin.New(admin.Bootstrap(c.bootstrap()...), admin.RetryTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.adm.Close() })
	c.eventually(90*time.Second, "every data node registered, both coordinators owning offsets partitions", func() error {
		img, err := c.image()
		if err != nil {
			return err
		}
		if img.Controller.Holder == "" {
			return errors.New("no controller lease")
		}
		if len(img.Nodes) < dataNodes {
			return fmt.Errorf("%d data nodes registered", len(img.Nodes))
		}
		owners := map[string]int{}
		for _, o := range img.OffsetsOwners {
			owners[o.Coordinator]++
		}
		for _, co := range c.coords {
			if owners[co.id] == 0 {
				return fmt.Errorf("%s owns no offsets partition (%v)", co.id, owners)
			}
		}
		if img.Topics[wire.OffsetsTopic] == nil {
			return errors.New("no __consumer_offsets yet")
		}
		return nil
	})
	return c
}

// startCoordinator starts one strand-coordinator with short timeouts.
func (c *cluster) startCoordinator(id, gossip, join string) *coordinator {
	addr := harness.FreeAddr(c.t)
	p := harness.Start(c.t, id, binary(c.t, "strand-coordinator"),
		"--id", id, "--listen", addr, "--meta", strings.Join(c.metaAddrs, ","),
		"--gossip-bind", gossip, "--join", join, "--offsets-partitions", "12",
		"--min-session-timeout", "500ms", "--ownership-lease", "2s", "--log-level", "info")
	return &coordinator{Proc: p, id: id, addr: addr}
}

// bootstrap is the bootstrap list clients use.
func (c *cluster) bootstrap() []string {
	return append(append([]string(nil), c.metaAddrs...), c.data...)
}

func (c *cluster) image() (*wire.Image, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.meta.Image(ctx, false)
}

// eventually polls fn until it returns nil or timeout passes.
func (c *cluster) eventually(timeout time.Duration, what string, fn func() error) {
	c.t.Helper()
	harness.EventuallyNil(c.t, timeout, what, fn)
}

// eventually polls fn until it returns nil or timeout passes.
var eventually = harness.EventuallyNil

// createTopic creates a topic with RF 1 and waits until every partition has
// a leader.
func (c *cluster) createTopic(name string, partitions int32) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.adm.CreateTopic(ctx, admin.NewTopic{Name: name, Partitions: partitions, ReplicationFactor: 1}); err != nil {
		c.t.Fatal(err)
	}
	c.eventually(60*time.Second, "leaders of "+name, func() error {
		img, err := c.image()
		if err != nil {
			return err
		}
		tr := img.Topics[name]
		if tr == nil {
			return errors.New("no topic")
		}
		for _, p := range tr.Partitions {
			if p.Leader < 0 {
				return fmt.Errorf("partition %d has no leader", p.Partition)
			}
		}
		return nil
	})
}

// groupOwner returns the coordinator owning group.
func (c *cluster) groupOwner(group string) *coordinator {
	c.t.Helper()
	var owner *coordinator
	c.eventually(30*time.Second, "the owner of "+group, func() error {
		for _, co := range c.coords {
			if !co.Running() {
				continue
			}
			var fc wire.FindCoordinatorResponse
			if err := c.getJSON(co.addr, wire.PathGroupCoordinator+"?group="+group, &fc); err != nil {
				return err
			}
			for _, o := range c.coords {
				if o.addr == fc.Addr {
					owner = o
					return nil
				}
			}
			return fmt.Errorf("owner %s is not one of ours", fc.Addr)
		}
		return errors.New("no coordinator running")
	})
	return owner
}

// describe asks any live coordinator to describe group.
func (c *cluster) describe(group string) (*wire.GroupDescription, error) {
	var last error
	for _, co := range c.coords {
		if !co.Running() {
			continue
		}
		var fc wire.FindCoordinatorResponse
		if last = c.getJSON(co.addr, wire.PathGroupCoordinator+"?group="+group, &fc); last != nil {
			continue
		}
		var d wire.GroupDescription
		if last = c.getJSON(fc.Addr, wire.PathGroupDescribe+"?group="+group, &d); last == nil {
			return &d, nil
		}
	}
	return nil, last
}

// committed returns the group's committed offsets (partition -> offset) of
// topic.
func (c *cluster) committed(group, topic string) (map[int32]int64, error) {
	d, err := c.describe(group)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, o := range d.Offsets {
		if o.Topic == topic && o.Offset >= 0 {
			out[o.Partition] = o.Offset
		}
	}
	return out, nil
}

func (c *cluster) getJSON(addr, path string, out any) error {
	resp, err := c.http.Get("http://" + addr + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeAnswer(resp, out)
}

// newProducer returns a producer with acks=all.
func (c *cluster) newProducer() *producer.Producer {
	c.t.Helper()
	p, err := producer.New(producer.Bootstrap(c.bootstrap()...), producer.Linger(2*time.Millisecond))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// produceSeq writes records "<prefix>-<i>" for i in [from, to), keyed by
// their value (so spread over the partitions).
func (c *cluster) produceSeq(p *producer.Producer, topic, prefix string, from, to int) {
	c.t.Helper()
	if err := sendSeq(p, topic, prefix, from, to); err != nil {
		c.t.Fatalf("produce: %v", err)
	}
}

// sendSeq is produceSeq returning the error (for other goroutines).
func sendSeq(p *producer.Producer, topic, prefix string, from, to int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var recs []*record.Record
	for i := from; i < to; i++ {
		v := fmt.Sprintf("%s-%d", prefix, i)
		recs = append(recs, &record.Record{Topic: topic, Key: []byte(v), Value: []byte(v)})
		if len(recs) == 500 || i == to-1 {
			if err := p.SendSync(ctx, recs...); err != nil {
				return err
			}
			recs = recs[:0]
		}
	}
	return nil
}

// newMember returns a group consumer of the cluster with test timings.
func (c *cluster) newMember(group string, opts ...consumer.Option) *consumer.GroupConsumer {
	c.t.Helper()
	base := []consumer.Option{
		consumer.Bootstrap(c.bootstrap()...), consumer.AutoOffsetReset(consumer.ResetEarliest),
		consumer.SessionTimeout(6 * time.Second), consumer.FetchMaxWait(200 * time.Millisecond),
		consumer.RetryBackoff(20*time.Millisecond, 300*time.Millisecond),
	}
	g, err := consumer.NewGroup(group, append(base, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { g.Close() })
	return g
}

// ctx returns a context of 30 s for one request of the test.
func (c *cluster) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	c.t.Cleanup(cancel)
	return ctx
}
