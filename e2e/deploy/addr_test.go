package deploy

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// hostPort splits host:port; ok is false when it is not one.
func hostPort(s string) (host string, port int, ok bool) {
	h, p, err := net.SplitHostPort(strings.TrimSpace(s))
	if err != nil {
		return "", 0, false
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, false
	}
	return h, n, true
}

// addrList splits a comma-separated list of host:port.
func addrList(t *testing.T, where, s string) []string {
	t.Helper()
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if _, _, ok := hostPort(a); !ok {
			t.Errorf("%s: %q is not host:port", where, a)
			continue
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		t.Errorf("%s: no address in %q", where, s)
	}
	return out
}

// metaMember is one entry of --initial-cluster.
type metaMember struct {
	id        string
	peer, api string
}

// initialCluster parses "id=peer@api,...".
func initialCluster(t *testing.T, where, s string) []metaMember {
	t.Helper()
	var out []metaMember
	for _, part := range strings.Split(s, ",") {
		id, addrs, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			t.Errorf("%s: %q is not id=peer@api", where, part)
			continue
		}
		peer, api, ok := strings.Cut(addrs, "@")
		if !ok {
			api = peer
		}
		for _, a := range []string{peer, api} {
			if _, _, ok := hostPort(a); !ok {
				t.Errorf("%s: %q is not host:port", where, a)
			}
		}
		out = append(out, metaMember{id: id, peer: peer, api: api})
	}
	return out
}

// portOf returns the port of host:port, or 0.
func portOf(s string) int {
	_, p, _ := hostPort(s)
	return p
}

// bindAdvertise are the pairs of settings where the advertised address must
// carry the port the bound one listens on.
var bindAdvertise = [][2]string{
	{"STRAND_LISTEN", "STRAND_ADVERTISE"},
	{"STRAND_LISTEN", "STRAND_ADVERTISE_ADDR"},
	{"STRAND_GOSSIP_BIND", "STRAND_GOSSIP_ADVERTISE"},
}

// checkBindAdvertise checks that each advertised address uses its bound
// port, and that a process bound to every interface advertises something
// else (0.0.0.0 is no address for others to use).
func checkBindAdvertise(t *testing.T, where string, env map[string]string) {
	t.Helper()
	for _, pair := range bindAdvertise {
		bind, okB := env[pair[0]]
		adv, okA := env[pair[1]]
		if okB && okA && portOf(bind) != portOf(adv) && !strings.Contains(adv, "$(") {
			t.Errorf("%s: %s=%s but %s=%s: the advertised port differs", where, pair[1], adv, pair[0], bind)
		}
		if okA {
			if h, _, _ := hostPort(adv); h == "0.0.0.0" || h == "" {
				t.Errorf("%s: %s=%s is not an address others can use", where, pair[1], adv)
			}
		}
	}
}
