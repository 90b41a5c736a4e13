// Package metastate is strand-meta's replicated state machine: the versioned
// metadata image (data nodes, the controller lease, topics and partitions,
// offsets-partition ownership, producer-id blocks) and the deterministic
// commands that change it.
//
// The package does no I/O and reads no clock and no randomness: the raft node
// feeds it committed log entries with Apply, hands the current image to
// readers with Image, and persists it with Snapshot and Restore. Two machines
// that apply the same log hold byte-identical snapshots.
//
// Every command is validated twice: cheaply before it is proposed (Validate,
// which looks only at the command) and fully when it is applied (Apply, which
// also checks it against the image: compare-and-set on epochs, existence,
// fencing; topic config values are the one thing only Validate checks). A
// rejected command changes neither the image nor its version and
// returns a *wire.Error with a stable code; an accepted one bumps the version
// by exactly one.
//
// Images are immutable once handed out. Apply builds the next image by
// copy-on-write at the granularity of a node, a topic (its partition pointer
// slice) and a partition, so a reader holding an older image never sees it
// change, and a command touching one topic copies neither the partitions of
// the others nor, beyond the topic map itself, anything else.
//
//	m := metastate.New("cluster-1")
//	data, _ := json.Marshal(&wire.Command{Type: wire.CmdNoop})
//	resp, err := m.Apply(1, data) // resp.Version == 1
//	img := m.Image()              // never mutated afterwards
package metastate
