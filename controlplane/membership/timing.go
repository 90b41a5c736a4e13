package membership

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// Timing holds the failure-detection and dissemination timings of the pool.
// See the package documentation for the trade-off between fast detection and
// false failures. Every member of a pool should use the same timings.
type Timing struct {
	// ProbeInterval is how often a member probes a random other member.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct probe waits for an ack (keep it
	// well under ProbeInterval and above the network's round trip).
	ProbeTimeout time.Duration
	// IndirectChecks is how many members are asked to probe on a member's
	// behalf after a direct probe fails.
	IndirectChecks int
	// SuspicionMult scales the suspicion timeout (in probe intervals) before a
	// suspect is declared failed.
	SuspicionMult int
	// SuspicionMaxTimeoutMult bounds how far the suspicion timeout may start
	// above its minimum when confirmations are expected.
	SuspicionMaxTimeoutMult int
	// GossipInterval is how often queued broadcasts are sent to GossipNodes
	// random members.
	GossipInterval time.Duration
	// GossipNodes is the gossip fan-out.
	GossipNodes int
	// RetransmitMult scales how many times a broadcast is retransmitted.
	RetransmitMult int
	// PushPullInterval is how often full state is exchanged over TCP with a
	// random member (anti-entropy).
	PushPullInterval time.Duration
	// GossipToTheDead is how long failed members keep receiving gossip (so a
	// falsely failed member learns of it and refutes).
	GossipToTheDead time.Duration
	// ReconnectInterval is how often serf tries to reach failed members.
	ReconnectInterval time.Duration
	// AwarenessMaxMultiplier bounds Lifeguard's stretching of a slow member's
	// own probe timeouts (memberlist's local health awareness).
	AwarenessMaxMultiplier int
	// TCPTimeout bounds push-pull and join connections.
	TCPTimeout time.Duration
}

// DefaultTiming is the tuned LAN profile ("lan"): member-failed after about
// 0.8 s on loopback; see the package documentation for its cost.
func DefaultTiming() Timing {
	return Timing{
		ProbeInterval:           200 * time.Millisecond,
		ProbeTimeout:            100 * time.Millisecond,
		IndirectChecks:          3,
		SuspicionMult:           2,
		SuspicionMaxTimeoutMult: 6,
		GossipInterval:          50 * time.Millisecond,
		GossipNodes:             3,
		RetransmitMult:          4,
		PushPullInterval:        15 * time.Second,
		GossipToTheDead:         30 * time.Second,
		ReconnectInterval:       3 * time.Second,
		AwarenessMaxMultiplier:  8,
		TCPTimeout:              5 * time.Second,
	}
}

// ConservativeTiming is the "conservative" profile: about 2–2.5 s to
// member-failed, far fewer false failures on CPU-starved hosts.
func ConservativeTiming() Timing {
	t := DefaultTiming()
	t.ProbeInterval = 500 * time.Millisecond
	t.ProbeTimeout = 250 * time.Millisecond
	t.SuspicionMult = 3
	t.GossipInterval = 100 * time.Millisecond
	return t
}

// MemberlistLANTiming is memberlist's own LAN defaults ("memberlist-lan"):
// member-failed after a median 5.7 s, at most 8.8 s.
func MemberlistLANTiming() Timing {
	c := memberlist.DefaultLANConfig()
	return Timing{
		ProbeInterval:           c.ProbeInterval,
		ProbeTimeout:            c.ProbeTimeout,
		IndirectChecks:          c.IndirectChecks,
		SuspicionMult:           c.SuspicionMult,
		SuspicionMaxTimeoutMult: c.SuspicionMaxTimeoutMult,
		GossipInterval:          c.GossipInterval,
		GossipNodes:             c.GossipNodes,
		RetransmitMult:          c.RetransmitMult,
		PushPullInterval:        c.PushPullInterval,
		GossipToTheDead:         c.GossipToTheDeadTime,
		ReconnectInterval:       serf.DefaultConfig().ReconnectInterval,
		AwarenessMaxMultiplier:  c.AwarenessMaxMultiplier,
		TCPTimeout:              c.TCPTimeout,
	}
}

var profiles = map[string]func() Timing{
	"lan":            DefaultTiming,
	"conservative":   ConservativeTiming,
	"memberlist-lan": MemberlistLANTiming,
}

// Profiles lists the names TimingProfile accepts.
func Profiles() []string {
	out := make([]string, 0, len(profiles))
	for k := range profiles {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TimingProfile returns the named profile: "lan" (the default),
// "conservative" or "memberlist-lan".
func TimingProfile(name string) (Timing, error) {
	f, ok := profiles[name]
	if !ok {
		return Timing{}, fmt.Errorf("unknown gossip timing profile %q (known: %s)", name, strings.Join(Profiles(), ", "))
	}
	return f(), nil
}

// Validate checks that the timings are usable together.
func (t Timing) Validate() error {
	switch {
	case t.ProbeInterval <= 0 || t.ProbeTimeout <= 0 || t.GossipInterval <= 0:
		return fmt.Errorf("probe interval, probe timeout and gossip interval must be positive")
	case t.ProbeTimeout >= t.ProbeInterval:
		return fmt.Errorf("probe timeout %v must be below the probe interval %v", t.ProbeTimeout, t.ProbeInterval)
	case t.SuspicionMult < 1 || t.SuspicionMaxTimeoutMult < 1:
		return fmt.Errorf("suspicion multipliers must be at least 1")
	case t.GossipNodes < 1 || t.RetransmitMult < 1 || t.IndirectChecks < 0:
		return fmt.Errorf("gossip nodes and retransmit multiplier must be at least 1, indirect checks not negative")
	case t.PushPullInterval < 0 || t.GossipToTheDead < 0 || t.ReconnectInterval <= 0 || t.TCPTimeout <= 0:
		return fmt.Errorf("push-pull interval and gossip-to-the-dead must not be negative, reconnect interval and TCP timeout must be positive")
	case t.AwarenessMaxMultiplier < 0:
		return fmt.Errorf("awareness multiplier must not be negative")
	}
	return nil
}

// SuspicionTimeout is the minimum suspicion timeout these timings give in a
// pool of n members (memberlist's formula).
func (t Timing) SuspicionTimeout(n int) time.Duration {
	scale := 1.0
	if n > 10 {
		scale = math.Log10(float64(n))
	}
	return time.Duration(float64(t.SuspicionMult) * scale * float64(t.ProbeInterval))
}

// TypicalDetection is the typical time from a member's death to member-failed
// in a pool of n members when no confirmations are awaited: a probe interval
// until someone probes it, the direct and indirect probe timeouts, and the
// suspicion timeout. It is an estimate, not a bound: scheduling delays and a
// probe order that reaches the dead member late add to it.
func (t Timing) TypicalDetection(n int) time.Duration {
	return t.ProbeInterval + 2*t.ProbeTimeout + t.SuspicionTimeout(n)
}

// apply copies the timings into serf's and memberlist's configs.
func (t Timing) apply(sc *serf.Config) {
	mc := sc.MemberlistConfig
	mc.ProbeInterval = t.ProbeInterval
	mc.ProbeTimeout = t.ProbeTimeout
	mc.IndirectChecks = t.IndirectChecks
	mc.SuspicionMult = t.SuspicionMult
	mc.SuspicionMaxTimeoutMult = t.SuspicionMaxTimeoutMult
	mc.GossipInterval = t.GossipInterval
	mc.GossipNodes = t.GossipNodes
	mc.RetransmitMult = t.RetransmitMult
	mc.PushPullInterval = t.PushPullInterval
	mc.GossipToTheDeadTime = t.GossipToTheDead
	mc.AwarenessMaxMultiplier = t.AwarenessMaxMultiplier
	mc.TCPTimeout = t.TCPTimeout
	// A member restarted on a new address replaces its failed entry as
	// soon as it is failed.
	mc.DeadNodeReclaimTime = t.ProbeInterval
	sc.ReconnectInterval = t.ReconnectInterval
}
