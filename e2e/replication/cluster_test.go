package replication

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"strand.dev/client/metaclient"
	"strand.dev/client/wire"
	"strand.dev/e2e/harness"
)

// bins builds the binaries the tests run, once per test binary.
var bins *harness.Binaries

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, &bins))
}

func binary(t testing.TB, name string) string {
	t.Helper()
	return bins.Must(t, name)
}

// requireClusterMode skips the test while the strand-data binary of this
// tree cannot join a cluster (no --meta flag).
func requireClusterMode(t *testing.T) {
	t.Helper()
	out, err := exec.Command(binary(t, "strand-data"), "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("strand-data --help: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--meta") {
		t.Skip("this strand-data has no cluster mode (--meta) yet")
	}
}

// dataNode is a strand-data process of the cluster.
type dataNode struct {
	*harness.Proc
	id     int32
	addr   string
	gossip string
	dir    string
}

// cluster is 3 strand-meta, 1 or 2 strand-controller and N strand-data, as
// separate processes on loopback, with fast failure detection.
type cluster struct {
	t           *testing.T
	metaAddrs   []string
	metas       []*harness.Proc
	controllers []*harness.Proc
	ctrlAddrs   []string
	data        []*dataNode
	meta        *metaclient.Client
	http        *http.Client
}

// clusterOptions shape a cluster.
type clusterOptions struct {
	controllers int
	dataNodes   int
	// lagMax is the data nodes' --replica-lag-time-max.
	lagMax time.Duration
	// dataArgs are extra strand-data flags.
	dataArgs []string
}

func startCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	requireClusterMode(t)
	if o.controllers == 0 {
		o.controllers = 1
	}
	if o.dataNodes == 0 {
		o.dataNodes = 3
	}
	if o.lagMax == 0 {
		o.lagMax = 3 * time.Second
	}
	c := &cluster{t: t, http: &http.Client{Timeout: 30 * time.Second}}
	var initial []string
	for i := 1; i <= 3; i++ {
		addr := harness.FreeAddr(t)
		c.metaAddrs = append(c.metaAddrs, addr)
		initial = append(initial, fmt.Sprintf("%d=%s", i, addr))
	}
	for i, addr := range c.metaAddrs {
		p := harness.Start(t, fmt.Sprintf("strand-meta-%d", i+1), binary(t, "strand-meta"),
			"--id", strconv.Itoa(i+1), "--listen", addr, "--initial-cluster", strings.Join(initial, ","),
			"--data-dir", t.TempDir(), "--cluster-id", "e2e-repl", "--log-level", "warn")
		c.metas = append(c.metas, p)
	}
	c.meta = metaclient.New(c.metaAddrs, metaclient.WithTimeout(5*time.Second))
	t.Cleanup(c.meta.Close)
	c.eventually(90*time.Second, "strand-meta commits", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := c.meta.Propose(ctx, &wire.Command{Type: wire.CmdNoop})
		return err
	})

	var gossip []string
	for range o.controllers + o.dataNodes {
		gossip = append(gossip, harness.FreeAddr(t))
	}
	join := strings.Join(gossip, ",")
	for i := range o.controllers {
		api := harness.FreeAddr(t)
		c.ctrlAddrs = append(c.ctrlAddrs, api)
		p := harness.Start(t, fmt.Sprintf("strand-controller-%d", i+1), binary(t, "strand-controller"),
			"--id", fmt.Sprintf("controller-%d", i+1), "--listen", api, "--meta", strings.Join(c.metaAddrs, ","),
			"--gossip-bind", gossip[i], "--join", join, "--gossip-retry-join", "200ms",
			"--lease", "1s", "--reconcile-interval", "500ms", "--rebalance-interval", "3s", "--log-level", "info")
		c.controllers = append(c.controllers, p)
	}
	for i := range o.dataNodes {
		id := int32(i + 1)
		d := &dataNode{id: id, addr: harness.FreeAddr(t), gossip: gossip[o.controllers+i], dir: t.TempDir()}
		args := append([]string{"--node-id", strconv.Itoa(int(id)), "--listen", d.addr, "--data-dir", d.dir,
			"--meta", strings.Join(c.metaAddrs, ","), "--gossip-bind", d.gossip, "--join", join,
			"--gossip-retry-join", "200ms", "--replica-lag-time-max", o.lagMax.String(),
			"--controlled-shutdown-timeout", "10s", "--log-level", "info"}, o.dataArgs...)
		d.Proc = harness.Start(t, fmt.Sprintf("strand-data-%d", id), binary(t, "strand-data"), args...)
		c.data = append(c.data, d)
	}
	for _, d := range c.data {
		harness.WaitHealthy(t, d.Proc, d.addr, 90*time.Second)
	}
	c.eventually(90*time.Second, "a controller is active and every data node is registered and unfenced", func() error {
		img := c.image()
		if img.Controller.Holder == "" {
			return errors.New("no controller lease")
		}
		for _, d := range c.data {
			n := img.Nodes[d.id]
			if n == nil || n.Fenced {
				return fmt.Errorf("node %d: %+v", d.id, n)
			}
		}
		return nil
	})
	return c
}

// eventually polls fn until it returns nil or timeout passes.
func (c *cluster) eventually(timeout time.Duration, what string, fn func() error) {
	c.t.Helper()
	harness.EventuallyNil(c.t, timeout, what, fn)
}

// image reads the metadata image (linearizable).
func (c *cluster) image() *wire.Image {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	img, err := c.meta.Image(ctx, false)
	if err != nil {
		c.t.Fatalf("read the image: %v", err)
	}
	return img
}

// partition returns a partition's record in img.
func partition(img *wire.Image, topic string, p int32) *wire.PartitionRecord {
	t := img.Topics[topic]
	if t == nil || int(p) >= len(t.Partitions) {
		return nil
	}
	return t.Partitions[p]
}

// node returns the data node with id.
func (c *cluster) node(id int32) *dataNode {
	for _, d := range c.data {
		if d.id == id {
			return d
		}
	}
	c.t.Fatalf("no data node %d", id)
	return nil
}

// controllerAddr is the active controller's API address.
func (c *cluster) controllerAddr() string {
	c.t.Helper()
	var addr string
	c.eventually(60*time.Second, "an active controller", func() error {
		addr = c.image().Controller.Addr
		if addr == "" {
			return errors.New("no active controller")
		}
		return nil
	})
	return addr
}

// createTopic creates a topic through the active controller and waits
// until every partition has a leader that serves it.
func (c *cluster) createTopic(name string, partitions int32, rf int16, configs map[string]string) {
	c.t.Helper()
	body, _ := json.Marshal(wire.CreateTopicRequest{Topic: name, Partitions: partitions, ReplicationFactor: rf, Configs: configs})
	c.eventually(60*time.Second, "create topic "+name, func() error {
		resp, err := c.http.Post("http://"+c.controllerAddr()+wire.PathAdminTopics, wire.ContentTypeJSON, bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			we := wire.UnmarshalError(resp.StatusCode, b)
			if we.Code == wire.CodeTopicAlreadyExists {
				return nil
			}
			return we
		}
		return nil
	})
	c.eventually(60*time.Second, "topic "+name+" served", func() error {
		img := c.image()
		for p := range partitions {
			rec := partition(img, name, p)
			if rec == nil || rec.Leader < 0 {
				return fmt.Errorf("partition %d has no leader", p)
			}
			if _, err := c.offsets(c.node(rec.Leader).addr, name, p, wire.AtLatest); err != nil {
				return fmt.Errorf("partition %d at node %d: %w", p, rec.Leader, err)
			}
		}
		return nil
	})
}

// deleteTopic deletes a topic through the active controller.
func (c *cluster) deleteTopic(name string) {
	c.t.Helper()
	c.eventually(60*time.Second, "delete topic "+name, func() error {
		req, _ := http.NewRequest(http.MethodDelete, "http://"+c.controllerAddr()+wire.PathAdminTopics+"?topic="+name, nil)
		resp, err := c.http.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			if we := wire.UnmarshalError(resp.StatusCode, b); we.Code != wire.CodeUnknownTopicOrPartition {
				return we
			}
		}
		return nil
	})
}

// offsets asks a node for an offset of a partition.
func (c *cluster) offsets(addr, topic string, p int32, at string) (int64, error) {
	u := fmt.Sprintf("http://%s%s?topic=%s&partition=%d&at=%s", addr, wire.PathOffsets, topic, p, at)
	resp, err := c.http.Get(u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, wire.UnmarshalError(resp.StatusCode, b)
	}
	var out wire.OffsetsResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return 0, err
	}
	return out.Offset, nil
}

// localPartitions lists a node's partitions (offsets, leadership).
func (c *cluster) localPartitions(d *dataNode) (map[string]wire.LocalPartition, error) {
	resp, err := c.http.Get("http://" + d.addr + wire.PathAdminPartitions)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, wire.UnmarshalError(resp.StatusCode, b)
	}
	var out wire.LocalPartitionsResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	m := map[string]wire.LocalPartition{}
	for _, p := range out.Partitions {
		m[fmt.Sprintf("%s-%d", p.Topic, p.Partition)] = p
	}
	return m, nil
}

// waitFullISR waits until every partition of topic has all its replicas in
// its ISR.
func (c *cluster) waitFullISR(topic string, timeout time.Duration) {
	c.t.Helper()
	c.eventually(timeout, "full ISR of "+topic, func() error {
		img := c.image()
		t := img.Topics[topic]
		if t == nil {
			return errors.New("no topic")
		}
		for _, p := range t.Partitions {
			if len(p.ISR) != len(p.Replicas) || p.Leader < 0 {
				return fmt.Errorf("partition %d: leader %d isr %v replicas %v", p.Partition, p.Leader, p.ISR, p.Replicas)
			}
		}
		return nil
	})
}

// kill SIGKILLs a data node.
func (d *dataNode) kill() { d.Kill() }

// restart starts a killed node on the same data and waits until it serves.
func (c *cluster) restart(d *dataNode) {
	c.t.Helper()
	if err := d.Restart(); err != nil {
		c.t.Fatal(err)
	}
	harness.WaitHealthy(c.t, d.Proc, d.addr, 90*time.Second)
}

// signal sends sig to a node's process.
func (d *dataNode) signal(sig syscall.Signal) {
	_ = syscall.Kill(d.PID(), sig)
}

// replicaLog is the concatenated segment bytes of one partition replica in
// a node's data directory.
func replicaLog(t *testing.T, d *dataNode, topic string, p int32) []byte {
	t.Helper()
	dir := filepath.Join(d.dir, fmt.Sprintf("%s-%d", topic, p))
	matches, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(matches)
	var out []byte
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}
