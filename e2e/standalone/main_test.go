package standalone

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

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

// result is a finished CLI run.
type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// strand runs the CLI binary with stdin and a deadline generous enough for
// a loaded machine; a run that hits it fails the test (a hang).
func strand(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t, "strand"), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("strand %s hung (killed after %v)", strings.Join(args, " "), r.took)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("strand %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// mustStrand runs the CLI and fails the test unless it exits 0.
func mustStrand(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	r := strand(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("strand %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}
