// Package wal is strand-meta's write-ahead log: the durable record of the raft
// log entries, the raft HardState and the snapshots taken or received.
//
// A WAL is a directory of segment files. Each segment is a sequence of
// records framed as
//
//	length uint32 (little endian, of type + payload)
//	crc    uint32 (CRC-32C over length, type and payload)
//	type   byte
//	payload
//
// A Save writes every record of one raft Ready in one write and, when asked,
// makes it durable with one fdatasync. Opening a WAL replays its segments:
// a torn or corrupt tail of the last segment (a crash during a write) is cut
// off and logged; a bad record anywhere else is ErrCorrupt, because segments
// are synced before the next one is started.
//
// Replay semantics follow raft's: an entry at index i replaces the entries at
// i and above; a received snapshot (MarkerReset) discards the whole log; a
// snapshot taken locally (MarkerLocal) only makes the entries it covers
// unnecessary. ReleaseTo deletes segments whose entries are all covered by a
// durable snapshot.
//
// Concurrency: a WAL is owned by one goroutine (the raft loop); its methods
// are not safe for concurrent use.
//
//	w, rec, err := wal.Open(dir, wal.Options{})
//	// restore rec.Snapshot (if any), rec.HardState, rec.Entries into raft storage
//	err = w.Save(hs, entries, true) // fdatasync before the messages are sent
package wal
