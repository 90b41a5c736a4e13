package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// badInput is a configuration a binary must refuse at once, naming one of
// the settings.
type badInput struct {
	name     string
	binary   string
	env      []string // on top of the image's defaults
	settings []string // flag names (without dashes); naming any one passes
}

// metaCluster is a syntactically valid three-member initial cluster.
const metaCluster = "STRAND_INITIAL_CLUSTER=1=10.9.9.1:7101@10.9.9.1:7001,2=10.9.9.2:7101@10.9.9.2:7001,3=10.9.9.3:7101@10.9.9.3:7001"

var badInputs = []badInput{
	{"missing everything", "strand-meta", nil, []string{"id", "initial-cluster"}},
	{"id not in the initial cluster", "strand-meta", []string{"STRAND_ID=4", metaCluster}, []string{"id", "initial-cluster"}},
	{"malformed initial cluster", "strand-meta", []string{"STRAND_ID=1", "STRAND_INITIAL_CLUSTER=1=nowhere"}, []string{"initial-cluster"}},
	{"election tick not above heartbeat tick", "strand-meta", []string{"STRAND_ID=1", metaCluster, "STRAND_ELECTION_TICK=1", "STRAND_HEARTBEAT_TICK=1"}, []string{"election-tick", "heartbeat-tick"}},

	{"missing everything", "strand-controller", nil, []string{"id", "meta"}},
	{"missing meta", "strand-controller", []string{"STRAND_CONTROLLER_ID=c1", "STRAND_ADVERTISE=10.9.9.21:7201"}, []string{"meta"}},
	{"wildcard listen without advertise", "strand-controller", []string{"STRAND_CONTROLLER_ID=c1", "STRAND_META=10.9.9.1:7001"}, []string{"advertise", "listen"}},

	{"missing id", "strand-coordinator", []string{"STRAND_META=10.9.9.1:7001", "STRAND_ADVERTISE_ADDR=10.9.9.31:7401"}, []string{"id"}},
	{"missing meta", "strand-coordinator", []string{"STRAND_ID=c1", "STRAND_ADVERTISE_ADDR=10.9.9.31:7401"}, []string{"meta", "standalone"}},
	{"standalone and meta", "strand-coordinator", []string{"STRAND_ID=c1", "STRAND_STANDALONE=true", "STRAND_META=10.9.9.1:7001", "STRAND_DATA=10.9.9.41:9001"}, []string{"standalone", "meta"}},
	{"wildcard listen without advertise", "strand-coordinator", []string{"STRAND_ID=c1", "STRAND_META=10.9.9.1:7001"}, []string{"advertise-addr", "listen"}},

	{"missing meta", "strand-data", []string{"STRAND_NODE_ID=1", "STRAND_ADVERTISE_ADDR=10.9.9.41:9001"}, []string{"meta", "standalone"}},
	{"negative node id", "strand-data", []string{"STRAND_STANDALONE=true", "STRAND_NODE_ID=-1"}, []string{"node-id"}},
	{"malformed listen address", "strand-data", []string{"STRAND_STANDALONE=true", "STRAND_LISTEN=nowhere"}, []string{"listen"}},
}

// exitsAtOnce is how long a refused configuration may take to exit: no
// network wait belongs before the check (generous for a loaded machine).
const exitsAtOnce = 15 * time.Second

var requiredRe = regexp.MustCompile(`Required flags? "([^"]*)"`)

// namesSetting reports whether out names one of the settings: as --flag, as
// its STRAND_ twin, or in urfave/cli's list of missing required flags.
func namesSetting(out string, settings []string) bool {
	required := map[string]bool{}
	for _, m := range requiredRe.FindAllStringSubmatch(out, -1) {
		for _, f := range strings.Split(m[1], ",") {
			required[strings.TrimSpace(f)] = true
		}
	}
	for _, s := range settings {
		envName := "STRAND_" + strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
		if strings.Contains(out, "--"+s) || strings.Contains(out, envName) || required[s] {
			return true
		}
	}
	return false
}

// lastLines keeps the end of a process's output for a failure message.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runRefused runs cmd and checks it exits non-zero within exitsAtOnce,
// naming one of the settings.
func runRefused(t *testing.T, cmd *exec.Cmd, bi badInput) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	text := out.String()
	switch {
	case took >= exitsAtOnce:
		t.Errorf("%s (%s) still ran after %v instead of refusing the configuration; the end of its output:\n%s",
			bi.binary, bi.name, exitsAtOnce, lastLines(text, 6))
	case err == nil:
		t.Errorf("%s (%s) exited 0; want a non-zero exit; output:\n%s", bi.binary, bi.name, lastLines(text, 6))
	case !namesSetting(text, bi.settings):
		t.Errorf("%s (%s) exited (%v) without naming any of %v (as --flag or STRAND_ variable); it said:\n%s",
			bi.binary, bi.name, err, bi.settings, lastLines(text, 6))
	}
}

// containerEnv is the image's default environment with the ports of every
// listener set to 0 (so that a binary that wrongly starts does not collide
// with anything on the host), and the data directory in dir.
func containerEnv(t *testing.T, binary, dir string) []string {
	t.Helper()
	var env []string
	for k, v := range imageDefaults(t, binary) {
		switch k {
		case "STRAND_LISTEN", "STRAND_PEER_LISTEN", "STRAND_GOSSIP_BIND":
			h, _, _ := hostPort(v)
			v = h + ":0"
		case "STRAND_DATA_DIR":
			v = dir
		}
		env = append(env, k+"="+v)
	}
	return env
}

// TestBadInputExitsAtOnce runs each server binary, freshly built, in the
// environment its image gives it (listening on every interface) plus a
// missing or contradictory setting, and checks that it exits at once with a
// non-zero status and a message naming the setting.
func TestBadInputExitsAtOnce(t *testing.T) {
	for _, bi := range badInputs {
		t.Run(bi.binary+"/"+bi.name, func(t *testing.T) {
			t.Parallel()
			binarySettings(t, bi.binary) // skips when the binary does not exist yet
			ctx, cancel := context.WithTimeout(context.Background(), exitsAtOnce)
			defer cancel()
			cmd := exec.CommandContext(ctx, build(t, bi.binary))
			cmd.Env = append(containerEnv(t, bi.binary, t.TempDir()), bi.env...)
			cmd.WaitDelay = 5 * time.Second
			runRefused(t, cmd, bi)
		})
	}
}

// imagesEnv, set to 1, asks for the checks of the built images; `make
// test-deploy` sets it after building them, so that `make test` never runs
// containers of images left over from an older build.
const imagesEnv = "STRAND_DEPLOY_IMAGES"

// TestBadInputImages does the same with the images as built by
// scripts/images (strand/<binary>:dev), when asked to (STRAND_DEPLOY_IMAGES=1),
// a Docker engine answers and the image exists.
func TestBadInputImages(t *testing.T) {
	if os.Getenv(imagesEnv) != "1" {
		t.Skip("checks the built images only with " + imagesEnv + "=1 (make test-deploy)")
	}
	if err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").Run(); err != nil {
		t.Skip("no Docker engine answers")
	}
	for idx, bi := range badInputs {
		t.Run(bi.binary+"/"+bi.name, func(t *testing.T) {
			t.Parallel()
			image := "strand/" + bi.binary + ":dev"
			if err := exec.Command("docker", "image", "inspect", image).Run(); err != nil {
				t.Skipf("no image %s: run scripts/images", image)
			}
			ctx, cancel := context.WithTimeout(context.Background(), exitsAtOnce)
			defer cancel()
			// The default bridge network, as a plain docker run has: the
			// container has an address of its own, as in a deployment. The
			// container is named so that it can be removed: killing the
			// docker client (at the deadline) leaves it running.
			name := fmt.Sprintf("strand-badinput-%d-%d", os.Getpid(), idx)
			t.Cleanup(func() { exec.Command("docker", "rm", "--force", name).Run() })
			args := []string{"run", "--rm", "--name", name, "--label", "strand.dev/test=badinput"}
			for _, e := range bi.env {
				args = append(args, "-e", e)
			}
			cmd := exec.CommandContext(ctx, "docker", append(args, image)...)
			cmd.WaitDelay = 15 * time.Second // docker run passes the kill on; the container stops
			runRefused(t, cmd, bi)
		})
	}
}
