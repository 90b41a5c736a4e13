package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// binaryDirs maps each binary to its package directory, relative to the
// repository root.
var binaryDirs = map[string]string{
	"strand":             "client/cmd/strand",
	"strand-data":        "dataplane/cmd/strand-data",
	"strand-meta":        "controlplane/cmd/strand-meta",
	"strand-controller":  "controlplane/cmd/strand-controller",
	"strand-coordinator": "coordinator/cmd/strand-coordinator",
}

// RepoRoot is the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binaries builds binaries into one directory, each at most once. Safe for
// concurrent use.
type Binaries struct {
	dir string

	mu    sync.Mutex
	built map[string]string
}

// NewBinaries returns a builder writing into dir (create it first).
func NewBinaries(dir string) *Binaries { return &Binaries{dir: dir, built: map[string]string{}} }

// Path builds the binary on first use and returns its path.
func (b *Binaries) Path(name string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := b.built[name]; ok {
		return p, nil
	}
	rel, ok := binaryDirs[name]
	if !ok {
		return "", fmt.Errorf("harness: no binary %q", name)
	}
	root := RepoRoot()
	modDir := filepath.Join(root, strings.SplitN(rel, "/", 2)[0])
	out := filepath.Join(b.dir, name)
	cmd := exec.Command(goTool(), "build", "-o", out, "./"+strings.SplitN(rel, "/", 2)[1])
	cmd.Dir = modDir
	cmd.Env = os.Environ()
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("harness: go build %s: %v\n%s", name, err, msg)
	}
	b.built[name] = out
	return out, nil
}

// goTool is the go command of the toolchain running the tests.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Must is Path for tests: a build failure fails t.
func (b *Binaries) Must(t testing.TB, name string) string {
	t.Helper()
	p, err := b.Path(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Main is the body of an e2e package's TestMain: it points *bins at a
// builder writing into a fresh temporary directory, runs the tests, removes
// the directory and returns the exit code for os.Exit.
func Main(m *testing.M, bins **Binaries) int {
	dir, err := os.MkdirTemp("", "strand-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*bins = NewBinaries(dir)
	return m.Run()
}
