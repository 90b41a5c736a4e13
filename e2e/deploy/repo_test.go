package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// binaries maps each Strand binary to its module directory.
var binaries = map[string]string{
	"strand-meta":        "controlplane",
	"strand-controller":  "controlplane",
	"strand-coordinator": "coordinator",
	"strand-data":        "dataplane",
	"strand":             "client",
}

// servers are the binaries that run as services (all but the CLI).
var servers = []string{"strand-meta", "strand-controller", "strand-coordinator", "strand-data"}

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error

	binDir string // set by TestMain
	builds sync.Map
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "strand-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the directory holding go.work.
func repoRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = fmt.Errorf("no go.work above the test's directory")
				return
			}
			dir = parent
		}
	})
	if rootErr != nil {
		t.Fatal(rootErr)
	}
	return rootDir
}

// repoPath joins a slash-separated path to the repository root.
func repoPath(t testing.TB, rel string) string {
	return filepath.Join(repoRoot(t), filepath.FromSlash(rel))
}

// readRepo returns a repository file's contents.
func readRepo(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoPath(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// globRepo lists repository files matching a pattern, sorted.
func globRepo(t testing.TB, pattern string) []string {
	t.Helper()
	matches, err := filepath.Glob(repoPath(t, pattern))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(matches)
	return matches
}

// binaryExists reports whether the binary's cmd directory exists.
func binaryExists(t testing.TB, name string) bool {
	t.Helper()
	mod, ok := binaries[name]
	if !ok {
		return false
	}
	_, err := os.Stat(repoPath(t, mod+"/cmd/"+name))
	return err == nil
}

type buildResult struct {
	once sync.Once
	path string
	err  error
}

// build compiles a binary once per test run and returns its path.
func build(t testing.TB, name string) string {
	t.Helper()
	mod, ok := binaries[name]
	if !ok {
		t.Fatalf("unknown binary %q", name)
	}
	v, _ := builds.LoadOrStore(name, &buildResult{})
	br := v.(*buildResult)
	br.once.Do(func() {
		br.path = filepath.Join(binDir, name)
		cmd := exec.Command("go", "build", "-o", br.path, "./cmd/"+name)
		cmd.Dir = repoPath(t, mod)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			br.err = fmt.Errorf("go build %s: %v\n%s", name, err, out.String())
		}
	})
	if br.err != nil {
		t.Fatal(br.err)
	}
	return br.path
}

// settings are the flags and environment variables a binary accepts.
type settings struct {
	flags map[string]bool // without the leading dashes
	envs  map[string]bool
}

var (
	helpFlagRe = regexp.MustCompile(`(?m)^\s+--([a-z0-9][a-z0-9-]*)`)
	helpEnvRe  = regexp.MustCompile(`\$(STRAND_[A-Z0-9_]+)`)
	settingsMu sync.Mutex
	settingsOf = map[string]*settings{}
)

// binarySettings builds the binary and reads the settings it accepts from
// its --help. It skips the test when the binary does not exist yet.
func binarySettings(t testing.TB, name string) *settings {
	t.Helper()
	settingsMu.Lock()
	defer settingsMu.Unlock()
	if s, ok := settingsOf[name]; ok {
		return s
	}
	if !binaryExists(t, name) {
		t.Skipf("%s/cmd/%s does not exist yet", binaries[name], name)
	}
	out, err := exec.Command(build(t, name), "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --help: %v\n%s", name, err, out)
	}
	s := &settings{flags: map[string]bool{}, envs: map[string]bool{}}
	for _, m := range helpFlagRe.FindAllStringSubmatch(string(out), -1) {
		s.flags[m[1]] = true
	}
	for _, m := range helpEnvRe.FindAllStringSubmatch(string(out), -1) {
		s.envs[m[1]] = true
	}
	if len(s.envs) == 0 {
		t.Fatalf("%s --help lists no STRAND_ environment variables:\n%s", name, out)
	}
	settingsOf[name] = s
	return s
}

// checkEnvNames reports every STRAND_ name the binary does not accept.
func checkEnvNames(t *testing.T, where, binary string, names []string) {
	t.Helper()
	s := binarySettings(t, binary)
	for _, n := range names {
		if strings.HasPrefix(n, "STRAND_") && !s.envs[n] {
			t.Errorf("%s: %s does not accept %s (see %s --help)", where, binary, n, binary)
		}
	}
}

// sortedKeys returns a map's keys, sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
