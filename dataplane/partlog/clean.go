package partlog

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"strand.dev/client/recordbatch"
)

// cleanerState is a log's bookkeeping for the log cleaner. Its mutex is
// taken after the log's own (TruncateTo lowers firstDirty under them) and
// no log lock is taken while it is held.
type cleanerState struct {
	mu         sync.Mutex
	loaded     bool
	firstDirty int64  // everything below was deduplicated by the last cleaning
	truncGen   uint64 // counts truncations, which lower firstDirty
	busy       bool   // a cleaner thread is cleaning the log
	lastRun    time.Time
	lastTook   time.Duration
	runs       uint64
	bytesRead  uint64
	bytesOut   uint64
}

// firstDirtyLocked returns the first dirty offset, loading the checkpoint
// on first use. Callers hold c.mu.
func (l *Log) firstDirtyLocked() int64 {
	c := &l.clean
	if !c.loaded {
		off, err := readCleanerCheckpoint(l.dir)
		if err != nil {
			l.log.Warn("cleaner checkpoint unreadable; the whole log counts as dirty", "err", err)
		}
		c.firstDirty, c.loaded = off, true
	}
	return c.firstDirty
}

// cleanerTruncated lowers the first dirty offset to end after a
// truncation: offsets from end on may be written again and are dirty.
// Callers hold appendMu.
func (l *Log) cleanerTruncated(end int64) {
	c := &l.clean
	c.mu.Lock()
	defer c.mu.Unlock()
	c.truncGen++
	if l.firstDirtyLocked() <= end {
		return
	}
	c.firstDirty = end
	if err := writeCleanerCheckpoint(l.dir, end); err != nil {
		l.log.Warn("could not lower the cleaner checkpoint after a truncation", "err", err)
	}
}

// CleanerInfo is a log as the cleaner sees it.
type CleanerInfo struct {
	Compacted        bool    // cleanup.policy includes compact
	CleanableRatio   float64 // dirty bytes / (clean + dirty bytes) of the cleanable segments
	CleanBytes       int64   // bytes below the first dirty offset
	DirtyBytes       int64   // bytes of closed segments from the first dirty offset to the first uncleanable one
	FirstDirtyOffset int64
	// MustClean: the oldest dirty record is older than max.compaction.lag.ms.
	MustClean    bool
	LastCleaned  time.Time // end of the last cleaning (zero: never, since the log was opened)
	LastTook     time.Duration
	Cleanings    uint64
	BytesRead    uint64 // by the cleaner, since the log was opened
	BytesWritten uint64
}

// CleanerInfo describes the log for the cleaner and for metrics.
func (l *Log) CleanerInfo(now time.Time) CleanerInfo {
	p := l.plan(now)
	c := &l.clean
	c.mu.Lock()
	defer c.mu.Unlock()
	ci := CleanerInfo{
		Compacted: p.cfg.Compacted(), CleanBytes: p.cleanBytes, DirtyBytes: p.dirtyBytes,
		FirstDirtyOffset: p.firstDirty, MustClean: p.mustClean,
		LastCleaned: c.lastRun, LastTook: c.lastTook, Cleanings: c.runs, BytesRead: c.bytesRead, BytesWritten: c.bytesOut,
	}
	ci.CleanableRatio = p.ratio()
	return ci
}

// cleanPlan is what a cleaning would do, from a snapshot of the segment
// list.
type cleanPlan struct {
	cfg        Config
	segs       []*segment // the segments then, active last
	start      int64
	firstDirty int64
	dirtyFrom  int // index of the segment holding firstDirty
	dirtyTo    int // index of the first uncleanable segment (<= the active one)
	cleanBytes int64
	dirtyBytes int64
	mustClean  bool
	truncGen   uint64
	closed     bool
}

func (p cleanPlan) ratio() float64 {
	if p.cleanBytes+p.dirtyBytes == 0 {
		return 0
	}
	return float64(p.dirtyBytes) / float64(p.cleanBytes+p.dirtyBytes)
}

// plan snapshots the segments and works out the dirty section: the closed
// segments from the first dirty offset up to the first uncleanable
// segment, which is the active one or, with min.compaction.lag.ms, the
// first whose newest record is younger than the lag.
func (l *Log) plan(now time.Time) cleanPlan {
	l.mu.RLock()
	defer l.mu.RUnlock()
	p := cleanPlan{cfg: l.cfg, start: l.start, closed: l.closed, segs: append([]*segment(nil), l.segs...)}
	l.clean.mu.Lock()
	fd := l.firstDirtyLocked()
	p.truncGen = l.clean.truncGen
	l.clean.mu.Unlock()
	p.firstDirty = min(max(fd, l.start), l.end)
	if p.closed {
		return p
	}
	nowMs := now.UnixMilli()
	p.dirtyFrom = l.segmentFor(p.firstDirty)
	p.dirtyTo = len(l.segs) - 1
	for i := p.dirtyFrom; i < len(l.segs)-1; i++ {
		s := l.segs[i]
		if p.cfg.MinCompactionLagMs > 0 && s.maxTS >= 0 && nowMs-s.maxTS < p.cfg.MinCompactionLagMs {
			p.dirtyTo = i
			break
		}
	}
	for i, s := range l.segs[:p.dirtyTo] {
		if i < p.dirtyFrom {
			p.cleanBytes += s.size
		} else {
			p.dirtyBytes += s.size
		}
	}
	if p.dirtyBytes > 0 && p.cfg.MaxCompactionLagMs < math.MaxInt64 {
		for _, s := range l.segs[p.dirtyFrom:p.dirtyTo] {
			if s.size == 0 {
				continue
			}
			if h, err := l.headerAt(s, 0); err == nil && h.FirstTimestamp >= 0 {
				p.mustClean = nowMs-h.FirstTimestamp > p.cfg.MaxCompactionLagMs
			}
			break
		}
	}
	return p
}

// CleanOptions are one cleaning's resources.
type CleanOptions struct {
	// Now is the time tombstone expiry and the compaction lags count from
	// (default: the log's clock).
	Now time.Time
	// KeyMapBytes bounds the key map (default 16 MiB); a log with more
	// distinct dirty keys than fit is cleaned in several passes.
	KeyMapBytes int64
	// BufferBytes is the read and write buffer size (default 1 MiB).
	BufferBytes int
	keyMap      *keyMap   // a cleaner thread's own, reused
	throttle    *throttle // shared by the cleaner threads
	// hook, when set, is called at named points of a cleaning (crash tests).
	hook func(point string)
}

// CleanResult describes one cleaning.
type CleanResult struct {
	Cleaned       bool  // something was rewritten
	FirstDirty    int64 // the first dirty offset before
	MapEnd        int64 // the new first dirty offset: every key below it was deduplicated
	Keys          int   // distinct keys in the dirty section (up to MapEnd)
	SegmentsIn    int
	SegmentsOut   int
	BytesRead     int64
	BytesWritten  int64
	RecordsIn     int64
	RecordsOut    int64
	TombstonesOut int64 // tombstones dropped after delete.retention.ms
	Aborted       int   // groups not swapped in because the log changed meanwhile
	Took          time.Duration
}

// errKeyMapTooSmall is the error of a cleaning whose key map cannot hold
// the keys of one batch.
var errKeyMapTooSmall = errors.New("the cleaner's key map cannot hold the keys of one batch; raise log.cleaner.dedupe.buffer.size")

// Clean compacts the log once, whatever its dirty ratio: it maps every key
// of the dirty section to the offset of its latest record, then rewrites
// the closed segments from the log start up to the end of the mapped
// section, keeping for each key only its latest record (a tombstone only
// until it is older than delete.retention.ms), and swaps each rewritten
// group of segments in atomically. Offsets, leader epochs, producer ids,
// epochs and sequences are kept; a batch left without records is kept
// empty when it is its producer's last, for idempotence. Small segments are
// merged up to segment.bytes. The active segment is never touched. A log
// whose cleanup.policy has no compact is left alone.
//
// Clean runs alongside appends, reads, retention and truncation; only the
// swap of each group holds the log's write lock. A group whose segments
// changed meanwhile (truncated or deleted) is dropped and counted in
// Aborted. One Clean at a time per log (the Manager's cleaner threads see
// to it; concurrent calls are serialised).
func (l *Log) Clean(ctx context.Context, opts CleanOptions) (CleanResult, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	if opts.Now.IsZero() {
		opts.Now = l.now()
	}
	if opts.BufferBytes <= 0 {
		opts.BufferBytes = 1 << 20
	}
	if opts.keyMap == nil {
		if opts.KeyMapBytes <= 0 {
			opts.KeyMapBytes = 16 << 20
		}
		opts.keyMap = newKeyMap(opts.KeyMapBytes)
	}
	start := time.Now()
	c := &cleaning{l: l, ctx: ctx, opts: opts, km: opts.keyMap, producers: map[int64]int64{}}
	c.p = l.plan(opts.Now)
	res, err := c.run()
	res.Took = time.Since(start)
	if err == nil {
		cs := &l.clean
		cs.mu.Lock()
		cs.lastRun, cs.lastTook = time.Now(), res.Took
		cs.runs++
		cs.bytesRead += uint64(res.BytesRead)
		cs.bytesOut += uint64(res.BytesWritten)
		cs.mu.Unlock()
	}
	return res, err
}

// cleaning is one Clean in progress.
type cleaning struct {
	l    *Log
	ctx  context.Context
	opts CleanOptions
	p    cleanPlan
	km   *keyMap
	// producers maps a producer id to the last offset of its last batch in
	// the cleaned range: that batch is kept even when emptied.
	producers map[int64]int64
	mapEnd    int64
	keepOffs  []int64  // offsets of the records kept of the batch at hand
	keepRaw   [][]byte // and their bytes (uncompressed batches)
	res       CleanResult
	buf       []byte
	out       []byte
}

func (c *cleaning) hook(point string) {
	if c.opts.hook != nil {
		c.opts.hook(point)
	}
}

func (c *cleaning) run() (CleanResult, error) {
	p, l := c.p, c.l
	c.res.FirstDirty, c.res.MapEnd = p.firstDirty, p.firstDirty
	if p.closed {
		return c.res, closedErr(l.dir)
	}
	if !p.cfg.Compacted() || p.dirtyFrom >= p.dirtyTo {
		return c.res, nil
	}
	c.km.reset()
	// Producers' last batches: the clean section's headers first, then the
	// dirty section's (later) batches override them while keys are mapped.
	for _, s := range p.segs[:p.dirtyFrom+1] {
		if err := c.scanProducers(s, p.firstDirty); err != nil {
			return c.res, err
		}
	}
	if err := c.buildMap(); err != nil {
		return c.res, err
	}
	c.res.MapEnd, c.res.Keys = c.mapEnd, c.km.size()
	c.hook("mapped")
	// Rewrite the segments holding offsets below mapEnd, in groups.
	n := 0
	for n < p.dirtyTo && p.segs[n].base < c.mapEnd {
		n++
	}
	for _, g := range groupSegments(p.segs[:n], p.segs[n].base, p.cfg.SegmentBytes) {
		if err := c.ctx.Err(); err != nil {
			return c.res, err
		}
		if err := c.cleanGroup(g); err != nil {
			return c.res, err
		}
	}
	c.res.Cleaned = c.res.SegmentsIn > 0
	if c.res.Aborted > 0 {
		return c.res, nil
	}
	cs := &l.clean
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.truncGen == p.truncGen && c.mapEnd > cs.firstDirty {
		if err := writeCleanerCheckpoint(l.dir, c.mapEnd); err != nil {
			return c.res, storageErr(err, "write the cleaner checkpoint of %s", l.dir)
		}
		cs.firstDirty = c.mapEnd
	}
	return c.res, nil
}

// segGroup is a run of segments rewritten into one.
type segGroup struct {
	segs []*segment
	end  int64 // the base of the segment after the group
}

// groupSegments splits segs (followed by a segment at base next) into runs
// whose total size stays within maxBytes and whose offsets fit one
// segment's 32-bit relative offsets, so small segments merge as they clean.
func groupSegments(segs []*segment, next, maxBytes int64) []segGroup {
	var out []segGroup
	for i := 0; i < len(segs); {
		j, size := i+1, segs[i].size
		for j < len(segs) && size+segs[j].size <= maxBytes && size+segs[j].size <= math.MaxInt32 &&
			segEnd(segs, j+1, next)-segs[i].base <= math.MaxInt32 {
			size += segs[j].size
			j++
		}
		out = append(out, segGroup{segs: segs[i:j], end: segEnd(segs, j, next)})
		i = j
	}
	return out
}

// segEnd is the base of segs[j], or next past the end.
func segEnd(segs []*segment, j int, next int64) int64 {
	if j < len(segs) {
		return segs[j].base
	}
	return next
}

// batchReader reads a segment file's batches in order through a buffer.
type batchReader struct {
	f    *os.File
	r    *bufio.Reader
	pos  int64
	size int64
	buf  []byte
}

func openBatchReader(path string, size int64, bufBytes int) (*batchReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &batchReader{f: f, r: bufio.NewReaderSize(io.NewSectionReader(f, 0, size), bufBytes), size: size}, nil
}

func (br *batchReader) close() { br.f.Close() }

// next returns the next batch (valid until the next call) and its header;
// io.EOF at the end.
func (br *batchReader) next() ([]byte, recordbatch.BatchHeader, error) {
	if br.pos >= br.size {
		return nil, recordbatch.BatchHeader{}, io.EOF
	}
	var over [recordbatch.LogOverhead]byte
	if _, err := io.ReadFull(br.r, over[:]); err != nil {
		return nil, recordbatch.BatchHeader{}, fmt.Errorf("read %s at %d: %w", br.f.Name(), br.pos, err)
	}
	length := int64(int32(binary.BigEndian.Uint32(over[8:])))
	size := recordbatch.LogOverhead + length
	if length < recordbatch.HeaderSize-recordbatch.LogOverhead || br.pos+size > br.size {
		return nil, recordbatch.BatchHeader{}, fmt.Errorf("%s: bad batch length %d at byte %d", br.f.Name(), length, br.pos)
	}
	if int64(cap(br.buf)) < size {
		br.buf = make([]byte, size)
	}
	b := br.buf[:size]
	copy(b, over[:])
	if _, err := io.ReadFull(br.r, b[recordbatch.LogOverhead:]); err != nil {
		return nil, recordbatch.BatchHeader{}, fmt.Errorf("read %s at %d: %w", br.f.Name(), br.pos, err)
	}
	h, err := recordbatch.ParseHeader(b)
	if err != nil {
		return nil, h, fmt.Errorf("%s at byte %d: %w", br.f.Name(), br.pos, err)
	}
	br.pos += size
	return b, h, nil
}

// scanProducers records the last batch of each producer among s's batches
// below upTo, from their headers.
func (c *cleaning) scanProducers(s *segment, upTo int64) error {
	if s.size == 0 || s.base >= upTo {
		return nil
	}
	br, err := openBatchReader(s.logPath, s.size, c.opts.BufferBytes)
	if err != nil {
		return storageErr(err, "open segment %s", s.logPath)
	}
	defer br.close()
	for {
		b, h, err := br.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return storageErr(err, "cleaner read")
		}
		if h.BaseOffset >= upTo {
			return nil
		}
		if err := c.read(len(b)); err != nil {
			return err
		}
		if h.ProducerID >= 0 {
			c.producers[h.ProducerID] = h.LastOffset()
		}
	}
}

// read accounts bytes read (stats and throttle).
func (c *cleaning) read(n int) error {
	c.res.BytesRead += int64(n)
	return c.opts.throttle.wait(c.ctx, n)
}

// buildMap maps the keys of the dirty section, batch by batch, until the
// section ends or the map is full; mapEnd is then the offset after the
// last batch mapped (the end of the dirty section when all fit).
func (c *cleaning) buildMap() error {
	p := c.p
	c.mapEnd = p.firstDirty
	limit := decompressLimit(p.cfg)
	for i := p.dirtyFrom; i < p.dirtyTo; i++ {
		s := p.segs[i]
		if c.l.isClosed() {
			return closedErr(c.l.dir)
		}
		full, err := c.mapSegment(s, limit)
		if err != nil {
			return err
		}
		if full {
			if c.mapEnd == p.firstDirty {
				return storageErr(errKeyMapTooSmall, "clean %s (key map of %d keys)", c.l.dir, c.km.capacity())
			}
			return nil
		}
		c.mapEnd = max(c.mapEnd, p.segs[i+1].base)
	}
	return nil
}

// mapSegment puts the keys of s's batches from firstDirty on into the map;
// full reports that the map filled up before the segment's end.
func (c *cleaning) mapSegment(s *segment, limit int) (full bool, err error) {
	if s.size == 0 {
		return false, nil
	}
	br, err := openBatchReader(s.logPath, s.size, c.opts.BufferBytes)
	if err != nil {
		return false, storageErr(err, "open segment %s", s.logPath)
	}
	defer br.close()
	for {
		if err := c.ctx.Err(); err != nil {
			return false, err
		}
		b, h, err := br.next()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, storageErr(err, "cleaner read")
		}
		if err := c.read(len(b)); err != nil {
			return false, err
		}
		if h.LastOffset() < c.p.firstDirty {
			continue
		}
		if c.km.size()+int(h.RecordCount) > c.km.capacity() {
			return true, nil
		}
		if !h.Control() {
			if err := c.eachRecord(b, h, limit, func(r keyedRecord) {
				if r.key != nil {
					c.km.put(r.key, r.offset)
				}
				c.res.RecordsIn++
			}); err != nil {
				return false, storageErr(err, "cleaner read of batch %d in %s", h.BaseOffset, s.logPath)
			}
		}
		if h.ProducerID >= 0 {
			c.producers[h.ProducerID] = h.LastOffset()
		}
		c.mapEnd = h.NextOffset()
	}
}

// keep decides a record's fate: records at or after mapEnd stay (their
// keys were not mapped), keyless ones go (a compacted log cannot hold them:
// Kafka's cleaner drops them too), superseded ones go, and a latest record
// that is a tombstone goes once it is older than delete.retention.ms.
func (c *cleaning) keep(r keyedRecord, nowMs int64) bool {
	if r.offset >= c.mapEnd {
		return true
	}
	if r.key == nil {
		return false
	}
	if latest, ok := c.km.get(r.key); ok && latest > r.offset {
		return false
	}
	if r.tombstone && nowMs-r.timestamp > c.p.cfg.DeleteRetentionMs {
		c.res.TombstonesOut++
		return false
	}
	return true
}

// cleanGroup rewrites one group of segments into <base>.log.cleaned and
// swaps it in.
func (c *cleaning) cleanGroup(g segGroup) error {
	l, cfg := c.l, c.p.cfg
	base := g.segs[0].base
	cleanedPath := filepath.Join(l.dir, cleanedName(base))
	f, err := os.OpenFile(cleanedPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return storageErr(err, "create %s", cleanedPath)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(cleanedPath)
		}
	}()
	ns := newSegment(l.dir, base)
	ns.offsets, ns.times = newIndexes(base)
	w := bufio.NewWriterSize(f, c.opts.BufferBytes)
	interval := int64(cfg.IndexIntervalBytes)
	nowMs := c.opts.Now.UnixMilli()
	limit := decompressLimit(cfg)
	write := func(b []byte) error {
		h, err := recordbatch.ParseHeader(b)
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return storageErr(err, "write %s", cleanedPath)
		}
		ns.observe(h, ns.size, interval)
		c.res.BytesWritten += int64(len(b))
		return c.opts.throttle.wait(c.ctx, len(b))
	}
	last := len(g.segs) - 1
	for last > 0 && g.segs[last].size == 0 {
		last--
	}
	for i, s := range g.segs {
		if s.size == 0 {
			continue
		}
		if l.isClosed() {
			return closedErr(l.dir)
		}
		br, err := openBatchReader(s.logPath, s.size, c.opts.BufferBytes)
		if err != nil {
			return storageErr(err, "open segment %s", s.logPath)
		}
		err = c.rewriteSegment(br, write, nowMs, limit, i == last)
		br.close()
		if err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return storageErr(err, "write %s", cleanedPath)
	}
	c.hook("written")
	if err := fsync(f); err != nil {
		return storageErr(err, "sync %s", cleanedPath)
	}
	if err := f.Close(); err != nil {
		return storageErr(err, "close %s", cleanedPath)
	}
	ok = true
	ns.sealTimes()
	ns.next = -1
	ns.flushedSize = ns.size
	swapped, err := l.swapIn(g, cleanedPath, ns, c.hook)
	if err != nil {
		return err
	}
	if !swapped {
		c.res.Aborted++
		os.Remove(cleanedPath)
		return nil
	}
	c.res.SegmentsIn += len(g.segs)
	c.res.SegmentsOut++
	return nil
}

// rewriteSegment writes the batches of one segment that survive: whole
// batches whose records all stay are copied as they are; batches that
// lose records are rebuilt (RecordBatch v2, same offsets, leader epoch,
// producer id, epoch and base sequence); emptied batches are dropped,
// except a producer's last and the group's last (with keepLast), kept
// without records: the group then ends at the offset the original did, so
// a follower fetching it, or a recovery scanning it, finds the same end.
func (c *cleaning) rewriteSegment(br *batchReader, write func([]byte) error, nowMs int64, limit int, keepLast bool) error {
	for {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		b, h, err := br.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return storageErr(err, "cleaner read")
		}
		if err := c.read(len(b)); err != nil {
			return err
		}
		if h.Control() || h.BaseOffset >= c.mapEnd {
			if err := write(b); err != nil {
				return err
			}
			c.res.RecordsOut += int64(h.RecordCount)
			continue
		}
		c.keepOffs, c.keepRaw = c.keepOffs[:0], c.keepRaw[:0]
		total := 0
		maxTS := int64(-1)
		if err := c.eachRecord(b, h, limit, func(r keyedRecord) {
			total++
			if c.keep(r, nowMs) {
				c.keepOffs = append(c.keepOffs, r.offset)
				c.keepRaw = append(c.keepRaw, r.raw)
				maxTS = max(maxTS, r.timestamp)
			}
		}); err != nil {
			return storageErr(err, "cleaner read of batch %d in %s", h.BaseOffset, br.f.Name())
		}
		kept := len(c.keepOffs)
		c.res.RecordsOut += int64(kept)
		var out []byte
		switch {
		case kept == total:
			out = b
		case kept > 0 && h.Compression() == recordbatch.None:
			c.out = appendFiltered(c.out[:0], b, h, c.keepRaw, maxTS)
			out = c.out
		case kept > 0:
			if out, err = c.rebuild(b, h, limit); err != nil {
				return storageErr(err, "cleaner rebuild of batch %d", h.BaseOffset)
			}
		case h.ProducerID >= 0 && c.producers[h.ProducerID] == h.LastOffset(), keepLast && br.pos >= br.size:
			out = emptyBatch(b)
		default:
			continue
		}
		if err := write(out); err != nil {
			return err
		}
	}
}

// eachRecord calls fn for each record of batch b: by walkKeyed for an
// uncompressed batch, by decoding it otherwise.
func (c *cleaning) eachRecord(b []byte, h recordbatch.BatchHeader, limit int, fn func(keyedRecord)) error {
	if h.Compression() == recordbatch.None {
		return walkKeyed(b, h, fn)
	}
	bs, err := recordbatch.DecodeBatches(b, limit)
	if err != nil {
		return err
	}
	for _, r := range bs[0].Records {
		fn(keyedRecord{offset: r.Offset, timestamp: r.Timestamp, key: r.Key, tombstone: r.Value == nil})
	}
	return nil
}

// rebuild writes batch b again with only the records at c.keepOffs
// (increasing), keeping the batch's identity (recordbatch.Rebuild).
func (c *cleaning) rebuild(b []byte, h recordbatch.BatchHeader, limit int) ([]byte, error) {
	bs, err := recordbatch.DecodeBatches(b, limit)
	if err != nil {
		return nil, err
	}
	kept := make([]recordbatch.Record, 0, len(c.keepOffs))
	i := 0
	for _, r := range bs[0].Records {
		if i < len(c.keepOffs) && r.Offset == c.keepOffs[i] {
			kept = append(kept, r)
			i++
		}
	}
	return recordbatch.Rebuild(h, kept)
}

// emptyBatch returns the header of batch b as a batch without records: the
// same base offset, offset range, timestamps, leader epoch, producer id,
// epoch and base sequence (so the producer's state survives), no
// compression, and a new CRC.
func emptyBatch(b []byte) []byte {
	out := make([]byte, recordbatch.HeaderSize)
	copy(out, b[:recordbatch.HeaderSize])
	binary.BigEndian.PutUint32(out[batchOffLength:], recordbatch.HeaderSize-recordbatch.LogOverhead)
	attrs := binary.BigEndian.Uint16(out[batchOffAttributes:])
	binary.BigEndian.PutUint16(out[batchOffAttributes:], attrs&^attrCompressionBits)
	binary.BigEndian.PutUint32(out[batchOffRecordCount:], 0)
	binary.BigEndian.PutUint32(out[batchOffCRC:], recordbatch.Checksum(out))
	return out
}

// isClosed reports whether the log was closed (a cleaning stops).
func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// swapIn replaces the group's segments with the cleaned file, atomically
// on disk (see swapSuffix) and in memory (under the write lock and mu, so
// readers see the old segments or the new one, never a mix). It returns
// false, changing nothing, when the group's segments are no longer the
// log's (truncated, deleted by retention, or the log closed).
func (l *Log) swapIn(g segGroup, cleanedPath string, ns *segment, hook func(string)) (bool, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return false, nil
	}
	l.mu.RLock()
	k := -1
	for i, s := range l.segs {
		if s == g.segs[0] {
			k = i
			break
		}
	}
	same := k >= 0 && k+len(g.segs) < len(l.segs) && l.segs[k+len(g.segs)].base == g.end
	for j := 0; same && j < len(g.segs); j++ {
		same = l.segs[k+j] == g.segs[j]
	}
	l.mu.RUnlock()
	if !same {
		return false, nil
	}
	base := g.segs[0].base
	swapPath := filepath.Join(l.dir, swapName(base, g.end))
	if err := os.Rename(cleanedPath, swapPath); err != nil {
		return false, storageErr(err, "commit cleaned segment %s", cleanedPath)
	}
	if err := syncDir(l.dir); err != nil {
		return false, storageErr(err, "sync log directory %s", l.dir)
	}
	hook("committed")

	l.mu.Lock()
	for _, s := range g.segs {
		l.files.forget(s.logPath)
	}
	var ents []os.DirEntry
	for _, s := range g.segs {
		for _, p := range []string{s.indexPath(), s.timeIndexPath(), s.logPath} {
			ents = append(ents, nameEntry(filepath.Base(p)))
		}
	}
	err := replaceWithSwap(l.dir, ents, base, g.end, filepath.Base(swapPath))
	if err == nil {
		err = os.WriteFile(ns.indexPath(), ns.offsets.Bytes(), 0o644)
	}
	if err == nil {
		err = os.WriteFile(ns.timeIndexPath(), ns.times.Bytes(), 0o644)
	}
	if err != nil {
		// The swap file is committed: a restart finishes the swap. Until
		// then the log cannot serve the range.
		l.mu.Unlock()
		return false, storageErr(err, "swap in cleaned segment %d of %s", base, l.dir)
	}
	ns.indexWritten, ns.indexSynced = true, false
	ns.persistedOffsets, ns.persistedTimes = len(ns.offsets.Bytes()), len(ns.times.Bytes())
	l.files.storeCached(ns.logPath+indexSuffix, ns.offsets, len(ns.offsets.Bytes()))
	l.files.storeCached(ns.logPath+timeIndexSuffix, ns.times, len(ns.times.Bytes()))
	ns.offsets, ns.times = nil, nil
	segs := make([]*segment, 0, len(l.segs)-len(g.segs)+1)
	segs = append(segs, l.segs[:k]...)
	segs = append(segs, ns)
	segs = append(segs, l.segs[k+len(g.segs):]...)
	l.segs = segs
	l.dirGen++
	l.mu.Unlock()
	hook("swapped")
	if err := syncDir(l.dir); err != nil {
		return true, storageErr(err, "sync log directory %s", l.dir)
	}
	return true, nil
}

// nameEntry is a directory entry known only by its name.
type nameEntry string

func (n nameEntry) Name() string               { return string(n) }
func (n nameEntry) IsDir() bool                { return false }
func (n nameEntry) Type() os.FileMode          { return 0 }
func (n nameEntry) Info() (os.FileInfo, error) { return nil, os.ErrNotExist }
