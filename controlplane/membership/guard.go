package membership

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// ErrDuplicateID is returned by New (and by a join) when a live member with
// the same role and id already exists at another address.
var ErrDuplicateID = errors.New("membership: duplicate node id")

// mergeGuard is memberlist's merge delegate: it refuses a join (push-pull
// with the join flag) that would bring a member whose name is already alive
// here at another address. Both sides of the join run it, so the newcomer's
// join fails and the pool never lists it.
type mergeGuard struct {
	// serf is set once serf.Create returned; before that nothing merges.
	serf atomic.Pointer[serf.Serf]
	// rejected counts refused merges, read by New to name the error.
	rejected atomic.Int64
	// lastReject is the last refusal's message.
	lastReject atomic.Pointer[string]
}

// NotifyMerge implements memberlist.MergeDelegate. It is called from
// memberlist's connection handlers without memberlist's node lock held.
func (g *mergeGuard) NotifyMerge(peers []*memberlist.Node) error {
	s := g.serf.Load()
	if s == nil {
		return nil
	}
	local := map[string]serf.Member{}
	for _, m := range s.Members() {
		local[m.Name] = m
	}
	for _, p := range peers {
		if p.State != memberlist.StateAlive && p.State != memberlist.StateSuspect {
			continue
		}
		m, ok := local[p.Name]
		if !ok || (m.Status != serf.StatusAlive && m.Status != serf.StatusLeaving) {
			continue
		}
		if net.IP(p.Addr).Equal(m.Addr) && p.Port == m.Port {
			continue
		}
		msg := fmt.Sprintf("member %q is alive at %s and a joining pool has it at %s",
			p.Name, net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))),
			net.JoinHostPort(net.IP(p.Addr).String(), strconv.Itoa(int(p.Port))))
		g.rejected.Add(1)
		g.lastReject.Store(&msg)
		return fmt.Errorf("%w: %s", ErrDuplicateID, msg)
	}
	return nil
}
