package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unitFile is a systemd unit: section -> key -> values (keys may repeat).
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(readRepo(t, path)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Errorf("%s: %q is not key=value in a section", path, line)
				continue
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

func (u unitFile) last(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// TestSystemdUnits checks one unit per server binary: it starts the
// installed binary, reads an environment file that exists in deploy/systemd
// and sets only settings the binary accepts, runs as a dedicated user under
// the sandboxing options, and keeps state in its StateDirectory. With
// systemd-analyze installed, the units also pass systemd-analyze verify.
func TestSystemdUnits(t *testing.T) {
	units := globRepo(t, "deploy/systemd/*.service")
	if len(units) != len(servers) {
		t.Errorf("deploy/systemd has %d units, want one per server binary (%v)", len(units), servers)
	}
	sandbox := map[string]string{
		"NoNewPrivileges":       "yes",
		"ProtectSystem":         "strict",
		"ProtectHome":           "yes",
		"PrivateTmp":            "yes",
		"PrivateDevices":        "yes",
		"CapabilityBoundingSet": "",
		"RestrictSUIDSGID":      "yes",
	}
	for _, path := range units {
		name := strings.TrimSuffix(filepath.Base(path), ".service")
		t.Run(name, func(t *testing.T) {
			rel := "deploy/systemd/" + filepath.Base(path)
			u := parseUnit(t, rel)
			svc := u["Service"]
			if svc == nil || u["Unit"] == nil || u["Install"] == nil {
				t.Fatalf("%s: want [Unit], [Service] and [Install]", rel)
			}
			if _, ok := binaries[name]; !ok || name == "strand" {
				t.Fatalf("%s is not the unit of a server binary", rel)
			}
			if got, want := u.last("Service", "ExecStart"), "/usr/local/bin/"+name; got != want {
				t.Errorf("ExecStart=%s, want %s", got, want)
			}
			if user := u.last("Service", "User"); user == "" || user == "root" || user == "0" {
				if u.last("Service", "DynamicUser") != "yes" {
					t.Errorf("User=%q: want a dedicated user (or DynamicUser=yes)", user)
				}
			}
			for k, want := range sandbox {
				if got, ok := svc[k]; !ok || got[len(got)-1] != want {
					t.Errorf("%s=%q, want %q", k, u.last("Service", k), want)
				}
			}
			ef := u.last("Service", "EnvironmentFile")
			if !strings.HasPrefix(ef, "/etc/strand/") || filepath.Base(ef) != name+".env" {
				t.Errorf("EnvironmentFile=%s, want /etc/strand/%s.env", ef, name)
			}
			envPath := repoPath(t, "deploy/systemd/"+filepath.Base(ef))
			if _, err := os.Stat(envPath); err != nil {
				t.Fatalf("EnvironmentFile %s: no deploy/systemd/%s to install", ef, filepath.Base(ef))
			}
			env := readEnvFile(t, envPath)
			checkEnvNames(t, "deploy/systemd/"+filepath.Base(ef), name, sortedKeys(env))
			for _, e := range svc["Environment"] {
				k, v, _ := strings.Cut(e, "=")
				checkEnvNames(t, rel+" Environment=", name, []string{k})
				if _, set := env[k]; !set {
					env[k] = v
				}
			}
			checkBindAdvertise(t, "deploy/systemd/"+filepath.Base(ef), env)
			if dir, ok := env["STRAND_DATA_DIR"]; ok {
				state := u.last("Service", "StateDirectory")
				if state == "" || dir != "%S/"+state {
					t.Errorf("STRAND_DATA_DIR=%s is not the unit's StateDirectory=%s (%%S/%s)", dir, state, state)
				}
			}
		})
	}
	t.Run("systemd-analyze", func(t *testing.T) {
		if _, err := exec.LookPath("systemd-analyze"); err != nil {
			t.Skip("systemd-analyze is not installed")
		}
		// verify wants ExecStart to exist: point it at the built binaries.
		dir := t.TempDir()
		var files []string
		for _, path := range units {
			name := strings.TrimSuffix(filepath.Base(path), ".service")
			text := strings.ReplaceAll(string(readRepo(t, "deploy/systemd/"+filepath.Base(path))),
				"ExecStart=/usr/local/bin/"+name, "ExecStart="+build(t, name))
			f := filepath.Join(dir, filepath.Base(path))
			if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		out, err := exec.Command("systemd-analyze", append([]string{"verify"}, files...)...).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	})
}
