package main

import (
	"bufio"
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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

// binary is strand-data built once for the package's tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "strand-data-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "strand-data")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a strand-data child process.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	mu     sync.Mutex
	stderr bytes.Buffer
	exited chan struct{}
	err    error
}

// start runs strand-data with args and waits for its "node ready" log line.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, exited: make(chan struct{})}
	p.cmd = exec.Command(binary, append([]string{"--listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			p.mu.Lock()
			p.stderr.Write(line)
			p.stderr.WriteByte('\n')
			p.mu.Unlock()
			var rec struct {
				Msg    string `json:"msg"`
				Listen string `json:"listen"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "node ready" {
				select {
				case ready <- rec.Listen:
				default:
				}
			}
		}
		io.Copy(io.Discard, pipe)
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("strand-data stderr:\n%s", p.log())
		}
	})
	select {
	case p.addr = <-ready:
	case <-p.exited:
		t.Fatalf("strand-data exited before it was ready (%v):\n%s", p.err, p.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("strand-data was not ready within 60s:\n%s", p.log())
	}
	return p
}

// log returns what the process wrote to stderr.
func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop() int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		p.t.Fatalf("strand-data did not exit within 60s of SIGTERM:\n%s", p.log())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatal(p.err)
	}
	return 0
}

// request sends a request and returns status and body.
func (p *proc) request(method, path string, body []byte) (int, []byte) {
	p.t.Helper()
	req, err := http.NewRequest(method, "http://"+p.addr+path, bytes.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	c := &http.Client{Timeout: 60 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// must sends a request that has to answer 200.
func (p *proc) must(method, path string, body []byte) []byte {
	p.t.Helper()
	st, b := p.request(method, path, body)
	if st != http.StatusOK {
		p.t.Fatalf("%s %s: HTTP %d %s", method, path, st, b)
	}
	return b
}

// batch builds a batch of the values.
func batch(t *testing.T, vals ...string) []byte {
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

// fetchValues fetches a partition from offset 0 and returns the values.
func (p *proc) fetchValues(topic string) []string {
	p.t.Helper()
	b := p.must("GET", wire.PathFetch+"?topic="+topic+"&partition=0&offset=0&max_wait_ms=0", nil)
	recs, err := recordbatch.Decode(b, 1<<30)
	if err != nil {
		p.t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Value))
	}
	return out
}

func TestProcessProduceFetchStopRestart(t *testing.T) {
	dir := t.TempDir()
	p := start(t, "--standalone", "--node-id", "3", "--data-dir", dir)
	p.must("POST", wire.PathAdminTopics, []byte(`{"topic":"durable","partitions":1}`))
	var want []string
	for i := range 20 {
		vals := []string{fmt.Sprintf("r%d-a", i), fmt.Sprintf("r%d-b", i)}
		p.must("POST", wire.PathProduce+"?topic=durable&partition=0&acks=1", batch(t, vals...))
		want = append(want, vals...)
	}
	if got := p.fetchValues("durable"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("before restart: %v", got)
	}
	if st, b := p.request("GET", wire.PathHealth, nil); st != 200 || !strings.HasPrefix(string(b), "ok") {
		t.Fatalf("healthz %d %s", st, b)
	}
	if code := p.stop(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, p.log())
	}
	if !strings.Contains(p.log(), "partition logs flushed and closed") {
		t.Errorf("no clean-close log line:\n%s", p.log())
	}

	p2 := start(t, "--standalone", "--node-id", "3", "--data-dir", dir)
	if got := p2.fetchValues("durable"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after restart: %v", got)
	}
	var pr wire.ProduceResponse
	if err := json.Unmarshal(p2.must("POST", wire.PathProduce+"?topic=durable&partition=0", batch(t, "after")), &pr); err != nil || pr.BaseOffset != 40 {
		t.Fatalf("produce after restart: %+v %v", pr, err)
	}
	if code := p2.stop(); code != 0 {
		t.Fatalf("exit code %d after second SIGTERM", code)
	}
}

func TestProcessAssignmentFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(t.TempDir(), "topics.json")
	os.WriteFile(file, []byte(`[{"topic":"a","partitions":2},{"topic":"b","partitions":1,"configs":{"retention.ms":"60000"}}]`), 0o644)
	p := start(t, "--standalone", "--data-dir", dir, "--assignment-file", file)
	p.must("POST", wire.PathProduce+"?topic=a&partition=1", batch(t, "x"))
	if code := p.stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	// Again, with a grown topic: idempotent for what is there, grows a.
	os.WriteFile(file, []byte(`[{"topic":"a","partitions":3},{"topic":"b","partitions":1,"configs":{"retention.ms":"60000"}}]`), 0o644)
	p = start(t, "--standalone", "--data-dir", dir, "--assignment-file", file)
	var md wire.Metadata
	if err := json.Unmarshal(p.must("GET", wire.PathMetadata, nil), &md); err != nil {
		t.Fatal(err)
	}
	a, _ := md.Topic("a")
	b, _ := md.Topic("b")
	if a == nil || len(a.Partitions) != 3 || b == nil || b.Configs["retention.ms"] != "60000" {
		t.Fatalf("metadata %+v", md.Topics)
	}
	st, body := p.request("GET", wire.PathFetch+"?topic=a&partition=1&offset=0&max_wait_ms=0", nil)
	if recs, err := recordbatch.Decode(body, 1<<20); st != 200 || err != nil || len(recs) != 1 {
		t.Fatalf("data lost across an assignment re-apply: %d %v %d", st, err, len(recs))
	}
	p.stop()
}

func TestProcessBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"--data-dir", t.TempDir()}, // neither --standalone nor --meta
		{"--standalone", "--meta", "127.0.0.1:7001", "--data-dir", t.TempDir()},
		{"--meta", "127.0.0.1:7001", "--data-dir", t.TempDir(), "--gossip-profile", "warp"},
		{"--meta", "127.0.0.1:7001", "--data-dir", t.TempDir(), "--gossip-key", "short"},
		{"--meta", "127.0.0.1:7001", "--data-dir", t.TempDir(), "--replica-lag-time-max", "0s"},
		{"--meta", "127.0.0.1:7001", "--data-dir", t.TempDir(), "--replica-fetch-max-bytes", "10"},
		{"--standalone", "--data-dir", t.TempDir(), "--max-fetch-bytes", "0"},
		{"--standalone", "--data-dir", t.TempDir(), "--listen", "nonsense"},
		{"--standalone", "--data-dir", t.TempDir(), "--log-segment-bytes", "huge"},
		{"--standalone", "--data-dir", t.TempDir(), "--log-format", "xml"},
		{"--standalone", "--data-dir", t.TempDir(), "--read-timeout", "-1s"},
		// In a cluster a wildcard listen address needs an advertised one.
		{"--meta", "127.0.0.1:7001", "--data-dir", t.TempDir(), "--listen", "0.0.0.0:0"},
		{"--standalone", "--data-dir", t.TempDir(), "--advertise-addr", "0.0.0.0:9092"},
		{"--no-such-flag"},
	} {
		// A flag set that is wrongly accepted starts a node that never
		// exits; the deadline turns that into a failure, not a hung suite.
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, binary, args...)
		out, err := cmd.CombinedOutput()
		cancel()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit 2\n%s", args, err, out)
		}
	}
	// Environment twins work like flags.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "--standalone", "--data-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "STRAND_MAX_FETCH_BYTES=5")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "--max-fetch-bytes") {
		t.Errorf("STRAND_MAX_FETCH_BYTES=5 was not refused: %v\n%s", err, out)
	}
}

func TestProcessHelp(t *testing.T) {
	out, err := exec.Command(binary, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"--standalone", "STRAND_LISTEN", "--log-segment-bytes", "STRAND_LOG_RETENTION_MS",
		"--meta", "STRAND_META", "--gossip-bind", "--join", "--replica-lag-time-max", "--controlled-shutdown-timeout", "--rack"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--help does not mention %s", want)
		}
	}
}
