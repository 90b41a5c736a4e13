package partlog

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"strand.dev/client/recordbatch"
)

// The crash test runs this test binary again as a child (TestMain sees
// crashChildEnv) that appends under load and prints what was acknowledged.

const (
	crashChildEnv = "PARTLOG_CRASH_CHILD_DIR"
	crashModeEnv  = "PARTLOG_CRASH_CHILD_MODE"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir, os.Getenv(crashModeEnv)))
	}
	if dir := os.Getenv(cleanerChildEnv); dir != "" {
		os.Exit(cleanerChild(dir))
	}
	os.Exit(m.Run())
}

// crashValue is the value of the record at offset off: its offset, then a
// pattern of a length that varies with the offset.
func crashValue(off int64) []byte {
	v := []byte(fmt.Sprintf("rec-%d|", off))
	n := int(off*7919%300) + 1
	for i := 0; i < n; i++ {
		v = append(v, byte('a'+(off+int64(i))%26))
	}
	return v
}

func crashConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 64 << 10
	c.IndexIntervalBytes = 512
	c.FlushMessages = 1
	return c
}

// crashChild appends batches of records whose values encode their offsets,
// fsyncing each (flush.messages=1), and prints "ACK last" after each append
// returns. It runs until killed.
func crashChild(dir, mode string) int {
	m, err := OpenManager(dir, ManagerOptions{Logger: quietLogger(), CheckpointInterval: 20 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 2
	}
	go m.Run(context.Background())
	cfg := crashConfig()
	bulk := strings.HasPrefix(mode, "bulk")
	if bulk {
		cfg = DefaultConfig()
	}
	l, err := m.Create("crash", 0, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "create:", err)
		return 2
	}
	l.SetConfig(cfg) // a log found on disk opens with the manager's defaults
	out := bufio.NewWriter(os.Stdout)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for {
		next := l.EndOffset()
		n := 1 + rng.IntN(20)
		if bulk {
			n = 1000
		}
		recs := make([]recordbatch.Record, n)
		for i := range recs {
			off := next + int64(i)
			recs[i] = recordbatch.Record{Timestamp: time.Now().UnixMilli(), Key: []byte(strconv.FormatInt(off, 10)), Value: crashValue(off)}
			if bulk {
				recs[i].Value = bytes.Repeat([]byte{byte(off)}, 990)
			}
		}
		b, err := recordbatch.Encode(recs, recordbatch.EncodeOptions{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "encode:", err)
			return 2
		}
		info, err := l.Append(b)
		if err != nil {
			fmt.Fprintln(os.Stderr, "append:", err)
			return 2
		}
		if info.BaseOffset != next {
			fmt.Fprintf(os.Stderr, "append at %d, expected %d\n", info.BaseOffset, next)
			return 2
		}
		if bulk {
			if info.LastOffset+1 >= 1<<20 {
				if mode == "bulk-flush" {
					if err := l.Flush(); err != nil {
						fmt.Fprintln(os.Stderr, "flush:", err)
						return 2
					}
					if err := m.Checkpoint(); err != nil {
						fmt.Fprintln(os.Stderr, "checkpoint:", err)
						return 2
					}
				}
				fmt.Fprintf(out, "DONE %d\n", info.LastOffset)
				out.Flush()
				select {}
			}
			continue
		}
		fmt.Fprintf(out, "ACK %d\n", info.LastOffset)
		out.Flush()
	}
}

// child is a running crash child.
type child struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	acked int64 // largest acknowledged offset, -1 for none
	lines int
	done  chan struct{}
}

func startChild(t *testing.T, dir, mode string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashModeEnv+"="+mode)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, acked: -1, done: make(chan struct{})}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.done
	})
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 2 && (f[0] == "ACK" || f[0] == "DONE") {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				c.mu.Lock()
				c.acked = max(c.acked, n)
				c.lines++
				c.mu.Unlock()
			}
		}
		cmd.Wait()
	}()
	return c
}

func (c *child) state() (int64, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acked, c.lines
}

// waitLines waits until the child printed at least n lines.
func (c *child) waitLines(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, got := c.state(); got >= n {
			return
		}
		select {
		case <-c.done:
			t.Fatalf("child exited early: %v", c.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("child printed no acknowledgement within %v", timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	<-c.done
}

// TestCrashRecovery SIGKILLs an appending child at random moments, 50
// times, and checks after each restart that every acknowledged (fsynced)
// record is there, in order, with its bytes, and that appends continue.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped with -short")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	rounds := 50
	ackedTotal := int64(-1)
	start := time.Now()
	for round := 0; round < rounds; round++ {
		c := startChild(t, dir, "")
		if rng.IntN(6) == 0 {
			// Sometimes kill it while it recovers or right after.
			time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		} else {
			c.waitLines(t, 1, 30*time.Second)
			time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		}
		c.kill(t)
		acked, _ := c.state()
		if acked >= 0 && acked <= ackedTotal {
			t.Fatalf("round %d: acknowledged offsets went backwards: %d after %d", round, acked, ackedTotal)
		}
		ackedTotal = max(ackedTotal, acked)

		m := openManager(t, dir, ManagerOptions{})
		l, ok := m.Get("crash", 0)
		if !ok {
			if ackedTotal < 0 {
				m.abandon()
				continue
			}
			t.Fatalf("round %d: the log is gone", round)
		}
		if end := l.EndOffset(); end <= ackedTotal {
			t.Fatalf("round %d: end offset %d, but %d was acknowledged", round, end, ackedTotal)
		}
		recs := readAll(t, l, 0)
		for i, r := range recs {
			if r.Offset != int64(i) {
				t.Fatalf("round %d: record %d has offset %d", round, i, r.Offset)
			}
			if !bytes.Equal(r.Value, crashValue(r.Offset)) || string(r.Key) != strconv.FormatInt(r.Offset, 10) {
				t.Fatalf("round %d: record %d has the wrong bytes: %q", round, r.Offset, r.Value)
			}
		}
		if int64(len(recs)) != l.EndOffset() {
			t.Fatalf("round %d: %d records below end offset %d", round, len(recs), l.EndOffset())
		}
		// Leave the directory as found: a clean close sometimes, a crash
		// otherwise, so that both recovery paths run in the child.
		if round%5 == 4 {
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
		} else {
			m.abandon()
		}
	}
	if ackedTotal < int64(rounds) {
		t.Fatalf("only %d records acknowledged over %d rounds", ackedTotal+1, rounds)
	}
	t.Logf("%d rounds, %d records acknowledged, %v", rounds, ackedTotal+1, time.Since(start))
}
