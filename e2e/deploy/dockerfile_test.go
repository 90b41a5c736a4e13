package deploy

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dockerfile is what the checks need from a Dockerfile.
type dockerfile struct {
	from       string
	user       string
	entrypoint string
	env        map[string]string
	expose     []string
	volumes    string
}

var envPairRe = regexp.MustCompile(`([A-Z0-9_]+)=("[^"]*"|\S+)`)

// parseDockerfile reads the instructions the checks use, joining continued
// lines.
func parseDockerfile(t *testing.T, text string) dockerfile {
	t.Helper()
	df := dockerfile{env: map[string]string{}}
	text = strings.ReplaceAll(text, "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			df.from = rest
		case "USER":
			df.user = rest
		case "ENTRYPOINT":
			df.entrypoint = rest
		case "ENV":
			for _, m := range envPairRe.FindAllStringSubmatch(rest, -1) {
				df.env[m[1]] = strings.Trim(m[2], `"`)
			}
		case "EXPOSE":
			df.expose = append(df.expose, strings.Fields(rest)...)
		case "VOLUME":
			df.volumes = rest
		}
	}
	return df
}

// imageDefaults returns the environment a binary's image sets.
func imageDefaults(t *testing.T, binary string) map[string]string {
	t.Helper()
	return parseDockerfile(t, string(readRepo(t, "deploy/docker/"+binary+".Dockerfile"))).env
}

// TestDockerfiles checks every image: FROM scratch, a non-root user, the
// binary as entrypoint, environment defaults the binary accepts, the
// listening ports exposed and the data directory a volume.
func TestDockerfiles(t *testing.T) {
	files := globRepo(t, "deploy/docker/*.Dockerfile")
	if len(files) != len(binaries) {
		t.Errorf("deploy/docker has %d Dockerfiles, want one per binary (%d)", len(files), len(binaries))
	}
	for _, f := range files {
		binary := strings.TrimSuffix(filepath.Base(f), ".Dockerfile")
		t.Run(binary, func(t *testing.T) {
			if _, ok := binaries[binary]; !ok {
				t.Fatalf("%s is not the Dockerfile of a Strand binary", f)
			}
			df := parseDockerfile(t, string(readRepo(t, "deploy/docker/"+filepath.Base(f))))
			if df.from != "scratch" {
				t.Errorf("FROM %q, want scratch", df.from)
			}
			if uid, _, _ := strings.Cut(df.user, ":"); uid == "" || uid == "0" || uid == "root" {
				t.Errorf("USER %q: the image must run as a non-root user", df.user)
			}
			if want := `["/usr/local/bin/` + binary + `"]`; df.entrypoint != want {
				t.Errorf("ENTRYPOINT %s, want %s", df.entrypoint, want)
			}
			if binary == "strand" {
				return
			}
			checkEnvNames(t, f, binary, sortedKeys(df.env))
			for _, key := range []string{"STRAND_LISTEN", "STRAND_PEER_LISTEN", "STRAND_GOSSIP_BIND"} {
				v, ok := df.env[key]
				if !ok {
					continue
				}
				if h, _, _ := hostPort(v); h != "0.0.0.0" {
					t.Errorf("%s=%s: a container must listen on every interface", key, v)
				}
				port := strings.TrimPrefix(v[strings.LastIndex(v, ":"):], ":")
				if !containsPrefix(df.expose, port+"/tcp") && !containsPrefix(df.expose, port) {
					t.Errorf("%s=%s but EXPOSE %v lacks port %s", key, v, df.expose, port)
				}
			}
			if dir, ok := df.env["STRAND_DATA_DIR"]; ok && !strings.Contains(df.volumes, dir) {
				t.Errorf("STRAND_DATA_DIR=%s is not a VOLUME (%s)", dir, df.volumes)
			}
		})
	}
}

func containsPrefix(list []string, s string) bool {
	for _, v := range list {
		if v == s || strings.HasPrefix(v, s+"/") {
			return true
		}
	}
	return false
}
