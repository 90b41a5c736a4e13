// Package membership is the one gossip pool every Strand process joins:
// strand-data, strand-coordinator and strand-controller. It wraps
// github.com/hashicorp/serf (on memberlist) and adds what Strand needs on top:
// typed tags (role, node id, API address, rack), a keyring for gossip
// encryption, a duplicate-id check, configurable failure-detection timings,
// and an event channel that never blocks the gossip layer.
//
// Gossip is a hint, the metadata image in strand-meta is the truth: the active
// controller reads liveness from this pool and writes its decisions through
// strand-meta. A consumer of events must therefore also reconcile against a
// full Members snapshot from time to time, because events can be dropped
// (see Pool.Events).
//
// # Joining
//
// A data node joins with:
//
//	pool, err := membership.New(membership.Config{
//		Role:       membership.RoleData,
//		ID:         "3",
//		APIAddr:    "10.0.0.3:9092",
//		Rack:       "rack-a",
//		BindAddr:   "0.0.0.0:7946",
//		Join:       []string{"10.0.0.1:7946"},
//		RetryJoin:  2 * time.Second, // start in any order
//		Keys:       keys, // from ParseKey / LoadKeyringFile, or nil for no encryption
//		Timing:     membership.DefaultTiming(),
//	})
//	if err != nil { ... }
//	defer pool.Shutdown()
//	... on SIGTERM: pool.Leave() (others see a member-leave at once)
//
// # Failure-detection timings and their trade-off
//
// memberlist probes one random member every ProbeInterval; a member that does
// not answer within ProbeTimeout (directly, then through IndirectChecks other
// members) becomes suspect, and a suspect that does not refute within the
// suspicion timeout is declared dead (serf's member-failed). The suspicion
// timeout starts at SuspicionMult × max(1, log10(n)) × ProbeInterval and may
// start higher (up to SuspicionMaxTimeoutMult times that) when other members
// can confirm the suspicion; with SuspicionMult 2 no confirmations are needed
// and the timeout is flat.
//
// Measured on the project's machine type (2 cores, separate processes on
// loopback, SIGKILL of one member, 10 rounds each):
//
//   - memberlist's LAN defaults (ProbeInterval 1 s, ProbeTimeout 500 ms,
//     SuspicionMult 4, GossipInterval 200 ms, GossipNodes 3): member-failed
//     after a median 5.7–5.8 s, at most 8.8 s at 7 members. Profile "memberlist-lan".
//   - the tuned LAN profile (ProbeInterval 200 ms, ProbeTimeout 100 ms,
//     SuspicionMult 2, GossipInterval 50 ms, GossipNodes 3): member-failed
//     after a median 0.73–0.84 s, at most 1.06 s; 0 false failures in 2
//     minutes with busy loops on both cores, but 144 false failures when the
//     gossip processes ran at a lower CPU priority than the load. This is
//     DefaultTiming, profile "lan": it is what makes a kill-to-new-leader time
//     under 2 s possible.
//   - a middle ground, profile "conservative" (ProbeInterval 500 ms,
//     ProbeTimeout 250 ms, SuspicionMult 3): about 2–2.5 s to member-failed,
//     for hosts where Strand shares CPUs with heavier, higher-priority work.
//
// The price of the fast profile is false failures when a process is starved of
// CPU for longer than about ProbeTimeout + suspicion timeout (about 0.5 s):
// the others declare it failed, and the controller fences it and moves its
// leaderships. That is safe (every metadata write is fenced by epochs) but it
// costs a leader change. Strand handles it so that it heals by itself:
//
//   - suspicion refutation: a member that hears it is suspected or dead
//     gossips an alive message with a higher incarnation (memberlist does
//     this on its own; Lifeguard's awareness, AwarenessMaxMultiplier,
//     stretches a starved member's own probe timeouts so it accuses others
//     less);
//   - dead members keep receiving gossip for GossipToTheDeadTime, so a
//     falsely failed member learns about it and refutes; the others then see
//     a member-join for it again (EventJoin), and the controller unfences it;
//   - serf retries failed members every ReconnectInterval;
//   - a restarted member may come back on a new address as soon as the old
//     one is failed (DeadNodeReclaimTime), so a restart is never "duplicate".
//
// Run Strand's processes at normal or higher priority than batch load, or
// choose the conservative profile, where that cannot be guaranteed.
//
// # Identity and rejection
//
// A member's gossip name is "<role>-<id>" (for example "data-3"), so two
// processes with the same role and id cannot both be alive: a join that would
// bring a second live member with a name already alive at another address is
// refused on both sides, and New returns ErrDuplicateID. A member whose gossip
// key does not match the pool's keyring cannot decrypt or be decrypted, its
// join fails, and nothing about it is registered.
//
// # Concurrency
//
// A Pool is safe for concurrent use. It owns one goroutine, started by New and
// ended by Shutdown, that turns serf's events into Events and sends them on
// the channel returned by Events without blocking (a full channel drops the
// event and counts it in strand_membership_events_dropped_total).
package membership
