package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

// straceCall matches a completed call in `strace -f` output:
//
//	1234 sendfile(12, 15, NULL, 4194304) = 4194304
//	1234 <... sendfile resumed>, 4194304) = 4194304
var straceCall = regexp.MustCompile(`^\d+ +(?:<\.\.\. ([a-z0-9]+) resumed>|([a-z0-9]+)\().*\) += (-?\d+)`)

// TestProcessFetchIsZeroCopy is the Go twin of scripts/strace-fetch: it
// traces strand-data during one large fetch and checks that sendfile moved
// the body and no read/write carried payload-sized data.
func TestProcessFetchIsZeroCopy(t *testing.T) {
	if testing.Short() {
		t.Skip("traces a 64 MiB fetch")
	}
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace is not installed (scripts/strace-fetch installs it)")
	}
	const payload = 64 << 20
	p := start(t, "--standalone", "--data-dir", t.TempDir(), "--max-fetch-bytes", strconv.Itoa(2*payload))
	p.must("POST", wire.PathAdminTopics, []byte(fmt.Sprintf(`{"topic":"zc","partitions":1,"configs":{"segment.bytes":"%d"}}`, 4*payload)))
	b := recordbatch.NewBuilder(recordbatch.EncodeOptions{})
	v := make([]byte, 1024)
	rand.Read(v)
	for range 1000 {
		b.Add(recordbatch.Record{Timestamp: time.Now().UnixMilli(), Value: v})
	}
	mib, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	for range payload/len(mib) + 1 {
		p.must("POST", wire.PathProduce+"?topic=zc&partition=0&acks=1", mib)
	}

	trace := filepath.Join(t.TempDir(), "trace.txt")
	cmd := exec.Command(strace, "-f", "-p", strconv.Itoa(p.cmd.Process.Pid), "-e", "trace=sendfile,read,write,pread64,writev", "-o", trace)
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	attached := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(errPipe)
		ok := false
		for sc.Scan() {
			if !ok && strings.Contains(sc.Text(), "attached") {
				ok = true
				attached <- true
			}
		}
		if !ok {
			attached <- false
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	select {
	case ok := <-attached:
		if !ok {
			t.Skip("strace could not attach (no ptrace permission here)")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("strace did not attach within 30s")
	}

	resp, err := http.Get("http://" + p.addr + wire.PathFetch + "?topic=zc&partition=0&offset=0&max_wait_ms=0&max_bytes=" + strconv.Itoa(2*payload))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || got < payload {
		t.Fatalf("fetch: %d, %d bytes, %v", resp.StatusCode, got, err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()

	out, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	var sendfile, rw, largest int64
	var largestLine string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := straceCall.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		call := m[1] + m[2]
		n, _ := strconv.ParseInt(m[3], 10, 64)
		if n < 0 {
			continue
		}
		if call == "sendfile" {
			sendfile += n
			continue
		}
		rw += n
		if n > largest {
			largest, largestLine = n, sc.Text()
		}
	}
	t.Logf("fetched %d bytes: sendfile moved %d; read/write/pread64/writev moved %d, the largest call %d", got, sendfile, rw, largest)
	if sendfile < got {
		t.Errorf("sendfile moved %d bytes, less than the %d-byte body", sendfile, got)
	}
	if largest > 64<<10 {
		t.Errorf("a payload-sized read/write: %s", largestLine)
	}
	if rw*100 > got {
		t.Errorf("read/write moved %d bytes, over 1%% of the body", rw)
	}
}
