package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"strand.dev/client/metaclient"
	"strand.dev/client/wire"
	"strand.dev/controlplane/controller/metafake"
	"strand.dev/controlplane/membership"
)

var binary, metaBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "strand-controller-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "strand-controller")
	// The controller under test runs with the race detector unless
	// STRAND_NO_RACE is set (for timing runs).
	args := []string{"build", "-race", "-o", binary, "."}
	if os.Getenv("STRAND_NO_RACE") != "" {
		args = []string{"build", "-o", binary, "."}
	}
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	metaBinary = filepath.Join(dir, "strand-meta")
	if out, err := exec.Command("go", "build", "-o", metaBinary, "../strand-meta").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build strand-meta: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func checkFor(t *testing.T, total time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", total, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort returns a port free for TCP and UDP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// proc is a strand-controller process.
type proc struct {
	id, api string
	cmd     *exec.Cmd
	log     *os.File
	exited  chan error
}

func startProc(t *testing.T, id, metaAddr, join string, extra ...string) *proc {
	t.Helper()
	api := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	gossip := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	logf, err := os.Create(filepath.Join(t.TempDir(), id+".log"))
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--id", id, "--listen", api, "--meta", metaAddr, "--gossip-bind", gossip, "--join", join,
		"--lease", "1s", "--reconcile-interval", "200ms", "--log-level", "debug"}, extra...)
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{id: id, api: api, cmd: cmd, log: logf, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			data, _ := os.ReadFile(logf.Name())
			lines := strings.Split(string(data), "\n")
			t.Logf("%s log tail:\n%s", id, strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
		logf.Close()
	})
	return p
}

func (p *proc) status() (wire.ControllerStatus, error) {
	var st wire.ControllerStatus
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + p.api + wire.PathControllerStatus)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

func waitActive(t *testing.T, procs ...*proc) *proc {
	t.Helper()
	var active *proc
	checkFor(t, 60*time.Second, func() error {
		for _, p := range procs {
			if st, err := p.status(); err == nil && st.Active {
				active = p
				return nil
			}
		}
		return errors.New("no controller is active")
	})
	return active
}

// cluster is a fake strand-meta over HTTP with three registered data nodes,
// each a gossip member in this test process.
type cluster struct {
	meta     *metafake.Meta // nil with a real strand-meta
	metaAddr string
	client   *metaclient.Client
	data     map[int32]*membership.Pool
	seed     string
}

// current reads the image.
func (c *cluster) current(t *testing.T) *wire.Image {
	t.Helper()
	img, err := c.client.Image(t.Context(), true)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// newCluster starts the data nodes' gossip members and registers them with
// a fake strand-meta, or with a real one when real is set.
func newCluster(t *testing.T, real bool) *cluster {
	c := &cluster{data: map[int32]*membership.Pool{}}
	if real {
		c.metaAddr = startMeta(t)
	} else {
		c.meta = metafake.New("proc-test")
		srv := httptest.NewServer(c.meta.Handler())
		t.Cleanup(srv.Close)
		c.metaAddr = strings.TrimPrefix(srv.URL, "http://")
	}
	c.client = metaclient.New([]string{c.metaAddr})
	for id := int32(1); id <= 3; id++ {
		cfg := membership.Config{Role: membership.RoleData, ID: fmt.Sprint(id), APIAddr: fmt.Sprintf("127.0.0.1:%d", 1000+id), BindAddr: "127.0.0.1:0"}
		if c.seed != "" {
			cfg.Join = []string{c.seed}
		}
		pool, err := membership.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pool.Shutdown() })
		c.data[id] = pool
		if c.seed == "" {
			c.seed = pool.LocalAddr()
		}
		if _, err := c.client.Propose(t.Context(), &wire.Command{Type: wire.CmdRegisterNode, RegisterNode: &wire.RegisterNodeCmd{Node: wire.NodeRecord{
			ID: id, Addr: cfg.APIAddr, GossipAddr: pool.LocalAddr(), Incarnation: 1,
		}}}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func post(t *testing.T, addr, path string, in, out any) error {
	t.Helper()
	b, _ := json.Marshal(in)
	resp, err := http.Post("http://"+addr+path, wire.ContentTypeJSON, strings.NewReader(string(b)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return wire.UnmarshalError(resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func TestHelpAndBadFlags(t *testing.T) {
	if out, err := exec.Command(binary, "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "--gossip-keyring-file") {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	for name, args := range map[string][]string{
		"no id":       {"--meta", "127.0.0.1:1"},
		"bad key":     {"--id", "c", "--meta", "127.0.0.1:1", "--gossip-key", "short"},
		"bad profile": {"--id", "c", "--meta", "127.0.0.1:1", "--gossip-profile", "warp"},
		"bad lease":   {"--id", "c", "--meta", "127.0.0.1:1", "--lease", "1ms"},
	} {
		err := exec.Command(binary, args...).Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Errorf("%s: %v, want a non-zero exit", name, err)
		}
	}
}

// TestKillActiveControllerStandbyTakesOver: SIGKILL of the active
// controller; the standby takes over and still handles a data-node failure.
// Then SIGTERM of the new active one exits 0 and hands over at once.
func TestKillActiveControllerStandbyTakesOver(t *testing.T) {
	for _, real := range []bool{false, true} {
		t.Run(map[bool]string{false: "fake-meta", true: "strand-meta"}[real], func(t *testing.T) {
			killActive(t, newCluster(t, real))
		})
	}
}

func killActive(t *testing.T, c *cluster) {
	a := startProc(t, "controller-a", c.metaAddr, c.seed)
	b := startProc(t, "controller-b", c.metaAddr, c.seed)
	active := waitActive(t, a, b)
	standby := b
	if active == b {
		standby = a
	}
	checkFor(t, 30*time.Second, func() error {
		for id, n := range c.current(t).Nodes {
			if n.Fenced {
				return fmt.Errorf("node %d fenced", id)
			}
		}
		return nil
	})
	// Through the standby: forwarded.
	var md wire.TopicMetadata
	checkFor(t, 30*time.Second, func() error {
		return post(t, standby.api, wire.PathAdminTopics, wire.CreateTopicRequest{Topic: "t", Partitions: 12, ReplicationFactor: 3}, &md)
	})
	oldEpoch := c.current(t).Controller.Epoch

	killed := time.Now()
	if err := active.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 30*time.Second, func() error {
		if l := c.current(t).Controller; l.Holder != standby.id || l.Epoch <= oldEpoch {
			return fmt.Errorf("lease %+v", l)
		}
		return nil
	})
	t.Logf("SIGKILL of the active controller to the standby's lease: %v (lease 1s)", time.Since(killed))

	// A data node leading partitions dies.
	failed := time.Now()
	_ = c.data[2].Shutdown()
	checkFor(t, 30*time.Second, func() error {
		img := c.current(t)
		if !img.Nodes[2].Fenced {
			return errors.New("node 2 not fenced")
		}
		for _, p := range img.Topics["t"].Partitions {
			if p.Leader == 2 || p.Leader < 0 {
				return fmt.Errorf("t-%d leader %d", p.Partition, p.Leader)
			}
		}
		return nil
	})
	t.Logf("data node shutdown to every partition re-led: %v", time.Since(failed))

	// SIGTERM: exit 0, lease released, nobody else to take it.
	if err := standby.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-standby.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
		standby.exited <- nil
	case <-time.After(30 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if l := c.current(t).Controller; l.Holder != "" {
		t.Fatalf("lease not released: %+v", l)
	}
}

// TestPausedControllerWritesNothing: SIGSTOP of the active controller until
// the standby holds the lease, then SIGCONT: nothing the resumed one sends
// lands.
func TestPausedControllerWritesNothing(t *testing.T) {
	c := newCluster(t, false)
	a := startProc(t, "controller-a", c.metaAddr, c.seed)
	active := waitActive(t, a)
	b := startProc(t, "controller-b", c.metaAddr, c.seed)
	checkFor(t, 30*time.Second, func() error {
		if st, err := b.status(); err != nil || st.Lease.Holder != active.id {
			return fmt.Errorf("b: %+v %v", st.Lease, err)
		}
		return nil
	})
	if err := post(t, active.api, wire.PathAdminTopics, wire.CreateTopicRequest{Topic: "t", Partitions: 6, ReplicationFactor: 3}, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// While it is stopped a data node fails: the stopped one will see it
	// when it wakes up.
	_ = c.data[3].Shutdown()
	checkFor(t, 30*time.Second, func() error {
		if l := c.meta.Current().Controller; l.Holder != b.id {
			return fmt.Errorf("lease %+v", l)
		}
		return nil
	})
	takeover := c.meta.Current()
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// Give the resumed controller time to act on what it missed.
	checkFor(t, 30*time.Second, func() error {
		st, err := a.status()
		if err != nil {
			return err
		}
		if st.Active || st.Lease.Epoch != takeover.Controller.Epoch {
			return fmt.Errorf("a: active %v, sees lease %+v", st.Active, st.Lease)
		}
		return nil
	})
	checkFor(t, 30*time.Second, func() error {
		if !c.meta.Current().Nodes[3].Fenced {
			return errors.New("node 3 not fenced by b")
		}
		return nil
	})
	for _, cmd := range c.meta.Applied() {
		if cmd.Version > takeover.Version && cmd.Epoch != takeover.Controller.Epoch {
			t.Fatalf("after the takeover at version %d (epoch %d), a command at epoch %d landed: %+v",
				takeover.Version, takeover.Controller.Epoch, cmd.Epoch, cmd)
		}
	}
}
