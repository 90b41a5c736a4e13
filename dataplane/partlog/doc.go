// Package partlog is Strand's partition log: Kafka RecordBatch v2 bytes in
// append-only segment files, read back as file regions for sendfile.
//
// A Log lives in one directory (<data-dir>/<topic>-<partition>/):
//
//	00000000000000000000.log        batches, appended as received (offsets assigned in place)
//	00000000000000000000.index      sparse offset -> position, every index.interval.bytes
//	00000000000000000000.timeindex  sparse max timestamp so far -> offset
//	leader-epoch-checkpoint         epoch -> start offset (Kafka's text format)
//
// and a Manager owns a data directory of them, with the
// recovery-point-offset-checkpoint file, a clean-shutdown marker, a lock
// file, a FilePool that bounds open descriptors (an LRU: cold segments are
// closed and reopened on demand) and the memory of loaded cold indexes, and
// the periodic flush (flush.ms), retention and checkpoint work (Run).
//
// What the log promises:
//
//   - Append (leader) validates every batch first (kmsg's RecordBatch v2
//     format, through strand.dev/client/recordbatch) and writes nothing of
//     a request that has one bad batch; offsets are assigned by rewriting
//     base offsets, never by re-encoding records.
//   - Read returns whole batches as a file region on a descriptor of the
//     caller's own, bounded by bytes and by a high watermark.
//   - Retention removes whole segments by time and size; the log start
//     offset is the first segment's base offset, so it survives restarts.
//   - Compaction (cleanup.policy compact): Clean, or the Manager's cleaner
//     threads (ManagerOptions.Cleaner), keep the latest record of each key
//     in the closed segments, dirtiest log first, with a bounded key map
//     and I/O; offsets stay (a compacted log has gaps), batches keep their
//     producer ids and sequences, small segments merge, and a rewritten
//     group of segments swaps in atomically (<base>.log.cleaned, then
//     <base>.<end>.swap; Open finishes or discards what a crash left).
//   - Durability: data is in the page cache when Append returns and on
//     disk after Flush (flush.messages, flush.ms, a roll, or Close). The
//     recovery point (persisted by the Manager) bounds what a restart after
//     a crash rescans; a torn or corrupt tail is cut at the first bad batch
//     and nothing before it is lost. After a clean shutdown nothing is
//     rescanned.
//
// Concurrency: Log and Manager methods are safe for concurrent use; see
// Log for the lock order (appendMu, flushMu, mu, then the FilePool's).
//
// Example:
//
//	m, err := partlog.OpenManager("/var/lib/strand", partlog.ManagerOptions{})
//	go m.Run(ctx)
//	l, err := m.Create("orders", 0, partlog.DefaultConfig())
//	info, err := l.Append(batchBytes)          // info.BaseOffset is the first record's offset
//	r, err := l.Read(info.BaseOffset, 1<<20, l.EndOffset())
//	defer r.File.Close()                        // when r.Len > 0: send r.Len bytes of r.File
//	err = m.Close()
package partlog
