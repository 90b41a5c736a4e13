package partlog

import (
	"strand.dev/client/recordbatch"
)

// OffsetForTimestamp returns the first offset whose record's timestamp is
// >= ts, with that timestamp, or (-1, -1) when no record is that recent
// (Kafka's ListOffsets by timestamp). For LogAppendTime batches a record's
// timestamp is its batch's append time.
func (l *Log) OffsetForTimestamp(ts int64) (int64, int64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return -1, -1, closedErr(l.dir)
	}
	for _, s := range l.segs {
		if s.size == 0 || s.maxTS < ts {
			continue
		}
		off, rts, err := l.searchTimestamp(s, ts)
		if err != nil || off >= 0 {
			return off, rts, err
		}
	}
	return -1, -1, nil
}

// searchTimestamp looks for ts in one segment. Callers hold mu shared.
func (l *Log) searchTimestamp(s *segment, ts int64) (int64, int64, error) {
	times, err := l.timeIndex(s)
	if err != nil {
		return -1, -1, err
	}
	offs, err := l.offsetIndex(s)
	if err != nil {
		return -1, -1, err
	}
	from := s.base
	if e, ok := times.LookupBefore(ts); ok {
		from = e.Offset
	}
	pos := offs.Lookup(from).Position
	limit := max(int(l.cfg.MaxMessageBytes), 64<<20)
	for pos < s.size {
		b, h, err := l.readBatchAt(s, pos, max(limit, 0))
		if err != nil {
			return -1, -1, err
		}
		pos += int64(h.Size())
		if h.MaxTimestamp < ts || h.LastOffset() < l.start {
			continue
		}
		recs, err := recordbatch.Decode(b, decompressLimit(l.cfg))
		if err != nil {
			return -1, -1, storageErr(err, "decode batch at offset %d", h.BaseOffset)
		}
		for _, r := range recs {
			if r.Timestamp >= ts && r.Offset >= l.start {
				return r.Offset, r.Timestamp, nil
			}
		}
	}
	return -1, -1, nil
}
