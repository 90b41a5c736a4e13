package routing

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ParseBootstrap splits a comma-separated host:port list and checks every
// entry. Empty entries are skipped; an empty list is an error.
func ParseBootstrap(list string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if err := CheckAddr(a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bootstrap list %q names no host:port", list)
	}
	return out, nil
}

// CheckAddr checks that a is host:port with a port in 1..65535.
func CheckAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("bootstrap address %q is not host:port: %w", a, err)
	}
	if host == "" {
		return fmt.Errorf("bootstrap address %q has no host", a)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("bootstrap address %q: port %q is not a number in 1..65535", a, port)
	}
	return nil
}
