// Package chaos is Strand's fault-injection suite against the compose
// cluster (deploy/compose): a workload of acks=all producers writing
// sequence-numbered records to several topics, and group consumers that
// commit after processing, runs while faults are injected one after another
// through Docker (SIGKILL, pause, network disconnect, full stop and start);
// a checker then reads every partition from its leader and every replica's
// log and verifies that no acknowledged record was lost, none is duplicated,
// each producer's records keep their order in each partition, every replica
// is identical up to the high watermark, committed offsets never moved
// backwards and the groups converged.
//
// The pieces:
//
//   - Ledger records every send, its acknowledgement (offset and time) or
//     failure, and the fault phase it belongs to; it measures each
//     partition's longest stretch without an acknowledgement per phase.
//   - Check is a pure function from the ledger, the logs read back and the
//     committed-offset history to a Report (the table, and every violation).
//   - Docker drives the faults; Cluster finds partition leaders, the active
//     controller, the strand-meta leader and group coordinators.
//   - Run (cmd/strand-chaos) ties them together; scripts/chaos builds the
//     images, starts a fresh compose cluster and runs it.
//
// Goroutines: the workload's producers run on the client library's
// goroutines and report through callbacks into the Ledger (safe for
// concurrent use); each group member has one goroutine; the fault sequence
// runs on the caller's goroutine.
package chaos
