package deploy

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// composeFile is what the checks need from deploy/compose/docker-compose.yml.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Networks map[string]struct {
		Name string `yaml:"name"`
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
	Volumes map[string]any `yaml:"volumes"`
}

type composeService struct {
	Image         string            `yaml:"image"`
	ContainerName string            `yaml:"container_name"`
	EnvFile       stringList        `yaml:"env_file"`
	Environment   map[string]string `yaml:"environment"`
	Volumes       []string          `yaml:"volumes"`
	DependsOn     []string          `yaml:"depends_on"`
	Networks      map[string]struct {
		IPv4Address string `yaml:"ipv4_address"`
	} `yaml:"networks"`
}

// stringList is a YAML string or list of strings.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = []string{n.Value}
		return nil
	}
	var v []string
	if err := n.Decode(&v); err != nil {
		return err
	}
	*l = v
	return nil
}

var substRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-([^}]*))?\}`)

// readEnvFile parses KEY=VALUE lines, skipping comments and blank lines.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("%s: %q is not KEY=VALUE", path, line)
			continue
		}
		env[strings.TrimSpace(k)] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return env
}

// loadCompose reads the compose file with ${VAR:-default} substituted from
// deploy/compose/.env (as docker-compose does when the environment does not
// set them).
func loadCompose(t *testing.T) composeFile {
	t.Helper()
	defaults := readEnvFile(t, repoPath(t, "deploy/compose/.env"))
	raw := readRepo(t, "deploy/compose/docker-compose.yml")
	raw = substRe.ReplaceAllFunc(raw, func(m []byte) []byte {
		sm := substRe.FindSubmatch(m)
		if v, ok := defaults[string(sm[1])]; ok {
			return []byte(v)
		}
		return sm[3]
	})
	if bytes.Contains(raw, []byte("${")) {
		t.Fatalf("docker-compose.yml keeps an unsubstituted variable")
	}
	var cf composeFile
	if err := yaml.Unmarshal(raw, &cf); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return cf
}

// composeImageBinary returns the binary of an image strand/<binary>:<tag>.
func composeImageBinary(image string) string {
	name, _, _ := strings.Cut(strings.TrimPrefix(image, "strand/"), ":")
	if !strings.HasPrefix(image, "strand/") {
		return ""
	}
	return name
}

// roleCounts is the cluster the issue asks for.
var roleCounts = map[string]int{"strand-meta": 3, "strand-controller": 2, "strand-coordinator": 2, "strand-data": 3}

// TestCompose checks the compose cluster: 3 meta, 2 controllers, 2
// coordinators, 3 data nodes, each from a built image, on the private
// network at a unique fixed address, with only settings its binary accepts,
// and every address setting pointing at a service that listens there.
func TestCompose(t *testing.T) {
	cf := loadCompose(t)
	if len(cf.Networks) != 1 {
		t.Fatalf("want one network, have %d", len(cf.Networks))
	}
	var netName string
	var subnet netip.Prefix
	for name, n := range cf.Networks {
		netName = name
		if len(n.IPAM.Config) != 1 {
			t.Fatalf("network %s: want one fixed subnet", name)
		}
		var err error
		if subnet, err = netip.ParsePrefix(n.IPAM.Config[0].Subnet); err != nil {
			t.Fatalf("network %s: %v", name, err)
		}
		if !subnet.Addr().IsPrivate() {
			t.Errorf("network %s: subnet %v is not private", name, subnet)
		}
	}

	// Each service's full environment: image defaults, env files, then its own.
	type svc struct {
		name, binary, ip string
		env              map[string]string
	}
	var svcs []svc
	byIP := map[string]svc{}
	count := map[string]int{}
	containers := map[string]bool{}
	for _, name := range sortedKeys(cf.Services) {
		s := cf.Services[name]
		binary := composeImageBinary(s.Image)
		if _, ok := roleCounts[binary]; !ok {
			t.Errorf("service %s: image %q is not one of strand/<server binary>:<tag>", name, s.Image)
			continue
		}
		count[binary]++
		if s.ContainerName != "strand-"+name {
			t.Errorf("service %s: container_name %q, want strand-%s (scripts/compose uses it)", name, s.ContainerName, name)
		}
		if containers[s.ContainerName] {
			t.Errorf("container name %s used twice", s.ContainerName)
		}
		containers[s.ContainerName] = true
		env := map[string]string{}
		for k, v := range imageDefaults(t, binary) {
			env[k] = v
		}
		for _, f := range s.EnvFile {
			fileEnv := readEnvFile(t, repoPath(t, "deploy/compose/"+f))
			checkEnvNames(t, "deploy/compose/"+f, binary, sortedKeys(fileEnv))
			for k, v := range fileEnv {
				env[k] = v
			}
		}
		checkEnvNames(t, "service "+name, binary, sortedKeys(s.Environment))
		for k, v := range s.Environment {
			env[k] = v
		}
		n, ok := s.Networks[netName]
		if !ok || len(s.Networks) != 1 {
			t.Errorf("service %s: must be on network %s only", name, netName)
			continue
		}
		ip, err := netip.ParseAddr(n.IPv4Address)
		if err != nil || !subnet.Contains(ip) {
			t.Errorf("service %s: ipv4_address %q is not in %v", name, n.IPv4Address, subnet)
			continue
		}
		if other, dup := byIP[ip.String()]; dup {
			t.Errorf("services %s and %s share %v", name, other.name, ip)
		}
		for _, v := range s.Volumes {
			vol, _, _ := strings.Cut(v, ":")
			if _, ok := cf.Volumes[vol]; !ok {
				t.Errorf("service %s: volume %s is not declared", name, vol)
			}
			if dir := env["STRAND_DATA_DIR"]; dir != "" && !strings.HasSuffix(v, ":"+dir) {
				t.Errorf("service %s: volume %s is not mounted at STRAND_DATA_DIR=%s", name, v, dir)
			}
		}
		if _, stateful := env["STRAND_DATA_DIR"]; stateful && len(s.Volumes) != 1 {
			t.Errorf("service %s: a stateful service needs its named volume", name)
		}
		for _, d := range s.DependsOn {
			if _, ok := cf.Services[d]; !ok {
				t.Errorf("service %s depends on unknown service %s", name, d)
			}
		}
		sv := svc{name: name, binary: binary, ip: ip.String(), env: env}
		svcs = append(svcs, sv)
		byIP[sv.ip] = sv
	}
	for binary, want := range roleCounts {
		if count[binary] != want {
			t.Errorf("%d services of %s, want %d", count[binary], binary, want)
		}
	}

	// listens reports whether the service at ip listens on port for the
	// given setting kinds.
	listens := func(addr string, settingsKeys ...string) (svc, bool) {
		h, p, ok := hostPort(addr)
		if !ok {
			return svc{}, false
		}
		s, ok := byIP[h]
		if !ok {
			return svc{}, false
		}
		for _, k := range settingsKeys {
			if portOf(s.env[k]) == p {
				return s, true
			}
		}
		return s, false
	}
	ids := map[string]map[string]string{}
	for _, s := range svcs {
		where := "service " + s.name
		checkBindAdvertise(t, where, s.env)
		for _, k := range []string{"STRAND_ADVERTISE", "STRAND_ADVERTISE_ADDR", "STRAND_GOSSIP_ADVERTISE"} {
			if v, ok := s.env[k]; ok {
				if h, _, _ := hostPort(v); h != s.ip {
					t.Errorf("%s: %s=%s is not its own address %s", where, k, v, s.ip)
				}
			}
		}
		if s.binary != "strand-meta" {
			for _, k := range []string{"STRAND_ADVERTISE", "STRAND_ADVERTISE_ADDR", "STRAND_GOSSIP_ADVERTISE", "STRAND_META", "STRAND_JOIN"} {
				if _, ok := s.env[k]; !ok && binarySettings(t, s.binary).envs[k] {
					t.Errorf("%s: %s is not set (a container's default address is no use to others)", where, k)
				}
			}
		}
		if meta, ok := s.env["STRAND_META"]; ok {
			for _, a := range addrList(t, where+" STRAND_META", meta) {
				if m, ok := listens(a, "STRAND_LISTEN"); !ok || m.binary != "strand-meta" {
					t.Errorf("%s: STRAND_META lists %s, where no strand-meta API listens", where, a)
				}
			}
		}
		if j, ok := s.env["STRAND_JOIN"]; ok && s.binary != "strand-meta" {
			for _, a := range addrList(t, where+" STRAND_JOIN", j) {
				if m, ok := listens(a, "STRAND_GOSSIP_BIND"); !ok || m.binary == "strand-meta" {
					t.Errorf("%s: STRAND_JOIN lists %s, where no gossip member listens", where, a)
				}
			}
		}
		if s.binary == "strand-meta" {
			members := initialCluster(t, where, s.env["STRAND_INITIAL_CLUSTER"])
			if len(members) != roleCounts["strand-meta"] {
				t.Errorf("%s: the initial cluster has %d members, want %d", where, len(members), roleCounts["strand-meta"])
			}
			self := false
			for _, m := range members {
				if _, ok := listens(m.api, "STRAND_LISTEN"); !ok {
					t.Errorf("%s: member %s's API %s is no strand-meta's listen address", where, m.id, m.api)
				}
				if _, ok := listens(m.peer, "STRAND_PEER_LISTEN"); !ok {
					t.Errorf("%s: member %s's peer address %s is no strand-meta's peer listener", where, m.id, m.peer)
				}
				if h, _, _ := hostPort(m.api); h == s.ip {
					self = true
					if m.id != s.env["STRAND_ID"] {
						t.Errorf("%s: STRAND_ID=%s but the initial cluster gives its address id %s", where, s.env["STRAND_ID"], m.id)
					}
				}
			}
			if !self {
				t.Errorf("%s: its own address is not in STRAND_INITIAL_CLUSTER", where)
			}
		}
		idKey := map[string]string{"strand-meta": "STRAND_ID", "strand-controller": "STRAND_CONTROLLER_ID", "strand-coordinator": "STRAND_ID", "strand-data": "STRAND_NODE_ID"}[s.binary]
		id, ok := s.env[idKey]
		if !ok {
			t.Errorf("%s: no %s", where, idKey)
			continue
		}
		if ids[s.binary] == nil {
			ids[s.binary] = map[string]string{}
		}
		if other, dup := ids[s.binary][id]; dup {
			t.Errorf("services %s and %s have the same %s %s", s.name, other, idKey, id)
		}
		ids[s.binary][id] = s.name
	}

	// scripts/compose names the same nodes.
	script := string(readRepo(t, "scripts/compose"))
	m := regexp.MustCompile(`(?m)^all_nodes="([^"]*)"`).FindStringSubmatch(script)
	if m == nil {
		t.Fatal("scripts/compose: no all_nodes=")
	}
	if got, want := strings.Join(strings.Fields(m[1]), " "), strings.Join(sortedKeys(cf.Services), " "); sortedJoin(got) != want {
		t.Errorf("scripts/compose all_nodes = %q, compose services = %q", got, want)
	}
}

func sortedJoin(s string) string {
	f := strings.Fields(s)
	m := map[string]bool{}
	for _, v := range f {
		m[v] = true
	}
	return strings.Join(sortedKeys(m), " ")
}

// TestComposeConfig has docker-compose (or docker compose) validate the
// file, when one is installed.
func TestComposeConfig(t *testing.T) {
	args := []string{"-f", repoPath(t, "deploy/compose/docker-compose.yml"),
		"--project-directory", repoPath(t, "deploy/compose"), "config", "-q"}
	var cmd *exec.Cmd
	if err := exec.Command("docker", "compose", "version").Run(); err == nil {
		cmd = exec.Command("docker", append([]string{"compose"}, args...)...)
	} else if path, err := exec.LookPath("docker-compose"); err == nil {
		cmd = exec.Command(path, args...)
	} else {
		t.Skip("neither docker compose nor docker-compose is installed")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
}
