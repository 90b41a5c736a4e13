// Package controller is strand-controller: the active controller (one per
// cluster, chosen by a lease in strand-meta) watches the gossip pool, fences
// dead data nodes, elects partition leaders, places the replicas of new
// topics and serves the admin API; standbys wait for the lease and forward
// admin requests to the active controller.
//
// It follows the Consul/Nomad leader loop: gossip is a hint and the metadata
// image is the truth. Gossip events only wake the leader loop (they are
// queued without blocking and may be dropped); every wake-up, and a periodic
// full reconcile, recomputes the whole plan from the latest image and a
// Members snapshot with the pure election package and proposes what differs.
// Leader-only work starts in establishLeadership and stops in
// revokeLeadership.
//
// # Lease and epoch
//
// The controller lease lives in the image (wire.ControllerLease). A standby
// acquires a vacant lease at once and takes over a held one only after it has
// seen no renewal for the lease duration (strand-meta's raft leader checks the
// same on its own clock). The active controller renews every lease/3 and
// counts its lease as valid until lease after it sent the last successful
// renewal; past that, or on any STALE_CONTROLLER_EPOCH answer, it revokes its
// leadership at once and writes nothing more. Every write carries the epoch,
// so even a write already in flight when another controller took over is
// rejected by strand-meta: a controller paused by SIGSTOP wakes up, finds its
// lease expired and stops, and whatever it still sends does not land.
//
// # Goroutines
//
// Run owns four goroutines: the image watcher (long-polls strand-meta and
// publishes the newest image), the gossip pump (turns membership events into
// a wake-up signal), the HTTP server (admin API, forwarding, status,
// /healthz, /metrics) and the campaign loop (acquires the lease, then runs the
// leader loop, the lease keeper and the lease watchdog while active). State
// shared between them is the newest image (imgMu, with an atomic pointer for
// readers), the leadership (mu) and the shutdown set (shutdownMu); no two of
// these mutexes are ever held together, and none is held across I/O.
package controller
