package membership

import (
	"fmt"
	"net"
)

// CheckAdvertise checks a server's API listen address (--listen,
// STRAND_LISTEN) and the address it tells others to use (advertiseFlag,
// e.g. "advertise-addr", and its STRAND_ twin). The advertised address
// goes into gossip tags and strand-meta, so in a cluster (needAdvertise) a
// listen address that binds every interface needs one: 0.0.0.0 is no
// address another process can dial. An advertised address must name a
// host and a port.
func CheckAdvertise(listen, advertiseFlag, advertise string, needAdvertise bool) error {
	env := envName(advertiseFlag)[0]
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen (STRAND_LISTEN) %q is not host:port: %w", listen, err)
	}
	if advertise == "" {
		if needAdvertise && (host == "" || net.ParseIP(host).IsUnspecified()) {
			return fmt.Errorf("--listen (STRAND_LISTEN) %q binds every interface: set --%s (%s) to the host:port others reach this server at", listen, advertiseFlag, env)
		}
		return nil
	}
	ahost, aport, err := net.SplitHostPort(advertise)
	if err != nil {
		return fmt.Errorf("--%s (%s) %q is not host:port: %w", advertiseFlag, env, advertise, err)
	}
	if ahost == "" || net.ParseIP(ahost).IsUnspecified() || aport == "0" || aport == "" {
		return fmt.Errorf("--%s (%s) %q is no address others can reach", advertiseFlag, env, advertise)
	}
	return nil
}
