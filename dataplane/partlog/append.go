package partlog

import (
	"strand.dev/client/recordbatch"
)

// AppendInfo describes an append.
type AppendInfo struct {
	BaseOffset     int64 // offset of the first record appended
	LastOffset     int64 // offset of the last record appended
	LogAppendTime  int64 // the time stamped on the batches (Unix ms), -1 for CreateTime
	LogStartOffset int64
	Records        int // records appended
	Bytes          int // bytes appended
}

// decompressLimit bounds what a leader append decompresses to check a
// compressed batch's records: a batch may expand to many times its size,
// but not without bound.
func decompressLimit(cfg Config) int {
	return max(16*int(cfg.MaxMessageBytes), 64<<20)
}

// Append is the leader's append. It checks every batch first (magic,
// lengths, CRC-32C, record count, records, max.message.bytes, keys for a
// compacted topic; a compressed batch is decompressed within a bound to
// check its records) and writes nothing if one fails, answering a
// *wire.Error. It then assigns offsets by rewriting each batch's base
// offset in place (the records are not re-encoded), stamps the latest
// leader epoch and, for LogAppendTime topics, the append time, and writes
// the batches at the end of the active segment (rolling it first when
// segment.bytes or segment.ms says so).
//
// Append modifies batches in place; the caller must not use them
// concurrently. The data is in the page cache when Append returns; it is
// fsynced when flush.messages says so, by Flush, or by the flush loop.
func (l *Log) Append(batches []byte) (AppendInfo, error) {
	cfg := l.Config()
	hdrs, err := recordbatch.ValidateWith(batches, recordbatch.ValidateOptions{
		MaxBatchBytes:   int(cfg.MaxMessageBytes),
		DecompressLimit: decompressLimit(cfg),
		RequireKeys:     cfg.Compacted(),
	})
	if err != nil {
		return AppendInfo{}, err
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	// Writers hold appendMu, so l.end, l.epochs and l.closed cannot change
	// under us; reading them needs no mu.
	if l.closed {
		return AppendInfo{}, closedErr(l.dir)
	}
	appendTime := int64(-1)
	if cfg.LogAppendTime() {
		appendTime = l.now().UnixMilli()
	}
	epoch, _ := l.epochs.latest()
	next := l.end
	pos := 0
	for i := range hdrs {
		h := &hdrs[i]
		b := batches[pos : pos+h.Size()]
		recordbatch.SetBaseOffset(b, next)
		recordbatch.SetPartitionLeaderEpoch(b, epoch.Epoch)
		h.BaseOffset, h.PartitionLeaderEpoch = next, epoch.Epoch
		if appendTime >= 0 {
			recordbatch.SetLogAppendTime(b, appendTime)
			h.MaxTimestamp = appendTime
		}
		next = h.NextOffset()
		pos += h.Size()
	}
	info, err := l.write(batches, hdrs, cfg)
	info.LogAppendTime = appendTime
	return info, err
}

// AppendReplicated is the follower's append of batches fetched from the
// leader: offsets, leader epochs and timestamps are kept as they are. The
// batches are checked as stored batches (CRC-32C, lengths, records;
// compaction gaps allowed; no size limit but the segment's); the first must
// start at or after EndOffset() and each must start after the previous
// one's last offset (*UnexpectedOffsetError otherwise). A batch whose
// partition leader epoch is newer than the latest known one starts that
// epoch in the leader-epoch history.
func (l *Log) AppendReplicated(batches []byte) (AppendInfo, error) {
	cfg := l.Config()
	hdrs, err := recordbatch.ValidateWith(batches, recordbatch.ValidateOptions{Stored: true})
	if err != nil {
		return AppendInfo{}, err
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return AppendInfo{}, closedErr(l.dir)
	}
	next := l.end
	for i, h := range hdrs {
		if h.BaseOffset < next {
			reason := "starts before the log end offset"
			if i > 0 {
				reason = "does not follow the previous batch"
			}
			return AppendInfo{}, &UnexpectedOffsetError{EndOffset: l.end, Offset: h.BaseOffset, Reason: reason}
		}
		next = h.NextOffset()
	}
	info, err := l.write(batches, hdrs, cfg)
	if err != nil {
		return info, err
	}
	info.LogAppendTime = -1
	changed := false
	l.mu.Lock()
	for _, h := range hdrs {
		if h.PartitionLeaderEpoch >= 0 {
			changed = l.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset) || changed
		}
	}
	entries := l.epochs.clone()
	l.mu.Unlock()
	if changed {
		if err := writeEpochs(l.dir, entries); err != nil {
			return info, storageErr(err, "write leader-epoch checkpoint of %s", l.dir)
		}
	}
	return info, nil
}

// write appends checked batches with their final offsets to the active
// segment, rolling first when needed, publishes them and flushes when
// flush.messages says so. Callers hold appendMu.
func (l *Log) write(batches []byte, hdrs []recordbatch.BatchHeader, cfg Config) (AppendInfo, error) {
	first, last := hdrs[0], hdrs[len(hdrs)-1]
	size := int64(len(batches))
	nowMs := l.now().UnixMilli()
	a := l.active()
	switch {
	case !a.fits(last.LastOffset(), size) && first.BaseOffset > a.base:
		if err := l.roll(first.BaseOffset, nowMs); err != nil {
			return AppendInfo{}, err
		}
	case a.size > 0 && (a.size+size > cfg.SegmentBytes || a.rollDue(last.MaxTimestamp, nowMs, cfg.SegmentMs)):
		if err := l.roll(first.BaseOffset, nowMs); err != nil {
			return AppendInfo{}, err
		}
	}
	a = l.active()
	pf, err := l.files.acquire(a.logPath, true)
	if err != nil {
		return AppendInfo{}, storageErr(err, "open segment %s", a.logPath)
	}
	if _, err := pf.f.WriteAt(batches, a.size); err != nil {
		// Leave nothing of a failed append behind.
		terr := pf.f.Truncate(a.size)
		l.files.release(pf)
		if terr != nil {
			l.log.Error("could not cut a failed append off; the log directory needs recovery", "err", terr)
		}
		return AppendInfo{}, storageErr(err, "append to %s", a.logPath)
	}
	l.files.release(pf)

	records := 0
	interval := int64(cfg.IndexIntervalBytes)
	l.mu.Lock()
	wasEmpty := a.size == 0
	pos := a.size
	for _, h := range hdrs {
		a.observe(h, pos, interval)
		pos += int64(h.Size())
		records += int(h.RecordCount)
	}
	if wasEmpty {
		a.firstTS, a.created = first.MaxTimestamp, nowMs
	}
	l.end = last.NextOffset()
	l.unflushed += int64(records)
	l.appended += uint64(len(hdrs))
	l.appendedBytes += uint64(size)
	info := AppendInfo{
		BaseOffset:     first.BaseOffset,
		LastOffset:     last.LastOffset(),
		LogStartOffset: l.start,
		Records:        records,
		Bytes:          len(batches),
	}
	flush := l.unflushed >= cfg.FlushMessages
	l.mu.Unlock()
	if flush {
		if err := l.flushTo(-1); err != nil {
			return info, err
		}
	}
	return info, nil
}

// roll seals the active segment and starts a new one at base. The sealed
// segment's indexes are written now and fsynced, with its data, by a
// background flush that then advances the recovery point to base (Kafka
// flushes on roll the same way). An empty active segment is replaced
// instead. Callers hold appendMu.
func (l *Log) roll(base, nowMs int64) error {
	old := l.active()
	if old.size > 0 {
		l.mu.Lock()
		old.sealTimes()
		l.mu.Unlock()
		if err := l.persistIndexes(old); err != nil {
			return err
		}
	}
	ns := newSegment(l.dir, base)
	ns.offsets, ns.times = newIndexes(base)
	ns.created = nowMs
	if err := createFile(ns.logPath); err != nil {
		return storageErr(err, "create segment %s", ns.logPath)
	}
	l.mu.Lock()
	empty := old.size == 0
	if empty {
		l.segs = l.segs[:len(l.segs)-1]
	} else {
		l.files.storeCached(old.logPath+indexSuffix, old.offsets, len(old.offsets.Bytes()))
		l.files.storeCached(old.logPath+timeIndexSuffix, old.times, len(old.times.Bytes()))
		old.offsets, old.times = nil, nil
		if old.next < 0 {
			old.next = base
		}
	}
	l.segs = append(l.segs, ns)
	if len(l.segs) == 1 {
		l.start = base
	}
	l.dirGen++
	l.rolls++
	l.mu.Unlock()
	if empty {
		if err := l.removeSegmentFiles(old); err != nil {
			return err
		}
	}
	l.log.Debug("rolled segment", "new_base", base, "sealed_bytes", old.size)
	l.bg.Add(1)
	go func() {
		defer l.bg.Done()
		if err := l.flushTo(base); err != nil {
			l.log.Warn("flush after roll failed", "err", err)
		}
	}()
	return nil
}
