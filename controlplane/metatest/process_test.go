package metatest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"strand.dev/client/wire"
)

// The strand-meta binary, built once per test run.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// metaBinary builds cmd/strand-meta (once) and returns its path.
func metaBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "strand-meta-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "strand-meta")
		cmd := exec.Command("go", "build", "-o", binPath, "strand.dev/controlplane/cmd/strand-meta")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// freePort returns a loopback address that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// procCluster is a cluster of strand-meta processes.
type procCluster struct {
	t       testing.TB
	bin     string
	root    string
	addrs   map[uint64]string
	initial string

	mu    sync.Mutex
	procs map[uint64]*proc
}

// proc is a running member process; done is closed once it exited, with
// err its exit status.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func newProcCluster(t testing.TB, n int) *procCluster {
	t.Helper()
	pc := &procCluster{t: t, bin: metaBinary(t), root: t.TempDir(), addrs: map[uint64]string{}, procs: map[uint64]*proc{}}
	var parts []string
	for id := uint64(1); id <= uint64(n); id++ {
		pc.addrs[id] = freePort(t)
		parts = append(parts, fmt.Sprintf("%d=%s", id, pc.addrs[id]))
	}
	pc.initial = strings.Join(parts, ",")
	t.Cleanup(pc.killAll)
	for id := uint64(1); id <= uint64(n); id++ {
		pc.start(id)
	}
	for id := uint64(1); id <= uint64(n); id++ {
		pc.waitHealthy(id)
	}
	return pc
}

func (pc *procCluster) start(id uint64) {
	pc.t.Helper()
	logf, err := os.OpenFile(filepath.Join(pc.root, fmt.Sprintf("meta-%d.log", id)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		pc.t.Fatal(err)
	}
	cmd := exec.Command(pc.bin,
		"--id", fmt.Sprint(id),
		"--listen", pc.addrs[id],
		"--initial-cluster", pc.initial,
		"--data-dir", filepath.Join(pc.root, fmt.Sprintf("meta-%d", id)),
		"--cluster-id", "proc-test",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		pc.t.Fatal(err)
	}
	logf.Close()
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	pc.mu.Lock()
	pc.procs[id] = p
	pc.mu.Unlock()
}

// kill sends sig to member id and waits for it to exit.
func (pc *procCluster) kill(id uint64, sig syscall.Signal) {
	pc.mu.Lock()
	p := pc.procs[id]
	delete(pc.procs, id)
	pc.mu.Unlock()
	if p == nil {
		return
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		pc.t.Errorf("member %d did not exit within 30 s of %v", id, sig)
	}
}

func (pc *procCluster) killAll() {
	pc.mu.Lock()
	ids := make([]uint64, 0, len(pc.procs))
	for id := range pc.procs {
		ids = append(ids, id)
	}
	pc.mu.Unlock()
	for _, id := range ids {
		pc.kill(id, syscall.SIGKILL)
	}
}

func (pc *procCluster) waitHealthy(id uint64) {
	pc.t.Helper()
	checkForTB(pc.t, 60*time.Second, 50*time.Millisecond, func() error {
		resp, err := http.Get("http://" + pc.addrs[id] + wire.PathHealth)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("member %d healthz %d", id, resp.StatusCode)
		}
		return nil
	})
}

// leader asks a member for the leader's id.
func (pc *procCluster) leader(via uint64) (uint64, error) {
	var st wire.MetaStatus
	if err := call(http.MethodGet, pc.addrs[via], wire.PathMetaStatus, nil, &st); err != nil {
		return 0, err
	}
	if st.Leader == 0 {
		return 0, fmt.Errorf("member %d knows no leader", via)
	}
	return st.Leader, nil
}

// checkForTB is checkFor (kept for the process helpers' readability).
func checkForTB(t testing.TB, total, every time.Duration, fn func() error) {
	t.Helper()
	checkFor(t, total, every, fn)
}

// killLeaderAndTime SIGKILLs the leader and returns it and how long it took
// until a surviving member accepted a write.
func (pc *procCluster) killLeaderAndTime(t testing.TB) (uint64, time.Duration) {
	t.Helper()
	var lead uint64
	checkForTB(t, 30*time.Second, 50*time.Millisecond, func() error {
		var err error
		lead, err = pc.leader(1)
		return err
	})
	var survivor uint64 = 1
	if lead == 1 {
		survivor = 2
	}
	killed := time.Now()
	pc.kill(lead, syscall.SIGKILL)
	for {
		if _, err := propose(pc.addrs[survivor], noop()); err == nil {
			return lead, time.Since(killed)
		}
		if time.Since(killed) > 60*time.Second {
			t.Fatalf("no write accepted within 60 s of killing the leader")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCommandsSurviveSIGKILLOfTheLeader: acknowledged commands survive a
// SIGKILL of the leader process; a new leader takes writes; the killed
// member restarts from its disk and catches up.
func TestCommandsSurviveSIGKILLOfTheLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the strand-meta binary")
	}
	pc := newProcCluster(t, 3)
	var acked int64
	for i := 0; i < 300; i++ {
		id := uint64(1 + i%3)
		if _, err := propose(pc.addrs[id], allocate(1)); err == nil {
			acked++
		}
	}
	if acked < 250 {
		t.Fatalf("only %d of 300 proposals acknowledged on a healthy cluster", acked)
	}
	killed, took := pc.killLeaderAndTime(t)
	t.Logf("killed leader %d; a new leader accepted a write %v later", killed, took)
	if took > 15*time.Second {
		t.Fatalf("failover took %v", took)
	}
	var survivors []uint64
	for id := uint64(1); id <= 3; id++ {
		if id != killed {
			survivors = append(survivors, id)
		}
	}
	for _, id := range survivors {
		img, err := readImage(pc.addrs[id], false)
		if err != nil {
			t.Fatal(err)
		}
		if img.NextProducerID < acked {
			t.Fatalf("member %d: next producer id %d after %d acknowledged allocations", id, img.NextProducerID, acked)
		}
	}
	// More writes, then the killed member comes back from its disk.
	for i := 0; i < 50; i++ {
		if _, err := propose(pc.addrs[survivors[i%2]], allocate(1)); err == nil {
			acked++
		}
	}
	pc.start(killed)
	pc.waitHealthy(killed)
	want, err := readImage(pc.addrs[survivors[0]], false)
	if err != nil {
		t.Fatal(err)
	}
	checkForTB(t, 60*time.Second, 50*time.Millisecond, func() error {
		got, err := readImage(pc.addrs[killed], true)
		if err != nil {
			return err
		}
		if got.Version < want.Version || got.NextProducerID < acked {
			return fmt.Errorf("restarted member at version %d (want %d)", got.Version, want.Version)
		}
		return nil
	})
	// SIGTERM is a clean exit.
	pc.mu.Lock()
	p := pc.procs[killed]
	pc.mu.Unlock()
	pc.kill(killed, syscall.SIGTERM)
	if p.err != nil {
		t.Fatalf("member %d exited with %v after SIGTERM", killed, p.err)
	}
}
