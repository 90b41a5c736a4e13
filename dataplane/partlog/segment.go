package partlog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"strand.dev/client/recordbatch"
	"strand.dev/dataplane/offsetindex"
)

// File name suffixes of a segment (ARCHITECTURE.md, "Storage layout").
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	// nameDigits is the width of a segment's zero-padded base offset name.
	nameDigits = 20
)

// segment is one segment of a log: its .log file of batches and its two
// sparse indexes. Fields are guarded by the owning Log's mu and written
// only with its appendMu held too; base and paths never change.
type segment struct {
	base    int64
	logPath string

	size int64 // bytes of whole, valid batches (readers never look beyond)
	// next is the offset after the segment's last batch, or -1 when
	// unknown (a cold segment opened after a clean shutdown: its end is
	// the next segment's base as far as readers care).
	next        int64
	maxTS       int64 // largest timestamp in the segment; -1 when it holds no batch
	maxTSOffset int64 // base offset of the batch holding maxTS
	// segment.ms counts, as in Kafka, in record time from firstTS (the
	// first batch's max timestamp, -1 when the segment is empty or it has
	// none) to an incoming batch's max timestamp, or else in wall-clock
	// time from created (Unix ms).
	firstTS int64
	created int64

	// offsets and times are held only for the active segment (and while a
	// segment is being recovered); cold segments' indexes are loaded into
	// the FilePool's cache on demand.
	offsets         *offsetindex.Offsets
	times           *offsetindex.Times
	bytesSinceIndex int64

	flushedSize      int64 // bytes known to be on stable storage
	persistedOffsets int   // bytes of offsets last written to the index file
	persistedTimes   int   // bytes of times last written to the time index file
	indexSynced      bool  // the index files on disk are complete and fsynced
	indexWritten     bool  // the index files on disk are complete (maybe not fsynced)
}

func segmentName(base int64) string {
	s := strconv.FormatInt(base, 10)
	return strings.Repeat("0", max(nameDigits-len(s), 0)) + s
}

func newSegment(dir string, base int64) *segment {
	return &segment{
		base:        base,
		logPath:     filepath.Join(dir, segmentName(base)+logSuffix),
		next:        base,
		maxTS:       -1,
		maxTSOffset: -1,
		firstTS:     -1,
	}
}

func (s *segment) indexPath() string { return strings.TrimSuffix(s.logPath, logSuffix) + indexSuffix }
func (s *segment) timeIndexPath() string {
	return strings.TrimSuffix(s.logPath, logSuffix) + timeIndexSuffix
}

// parseSegmentName returns the base offset of a segment file name and its
// suffix, or false for a file that is not a segment's.
func parseSegmentName(name string) (int64, string, bool) {
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if stem, ok := strings.CutSuffix(name, suf); ok && len(stem) == nameDigits {
			n, err := strconv.ParseInt(stem, 10, 64)
			if err != nil || n < 0 {
				return 0, "", false
			}
			return n, suf, true
		}
	}
	return 0, "", false
}

// observe accounts one appended batch of size bytes at position pos in the
// segment's in-memory indexes, as Kafka does: an offset index entry (and a
// time index entry for the largest timestamp so far) for the batch once
// more than interval bytes were appended since the last entry.
func (s *segment) observe(h recordbatch.BatchHeader, pos int64, interval int64) {
	if h.MaxTimestamp > s.maxTS {
		s.maxTS, s.maxTSOffset = h.MaxTimestamp, h.BaseOffset
	}
	if s.bytesSinceIndex > interval {
		s.offsets.Append(h.BaseOffset, pos)
		s.times.Append(s.maxTS, s.maxTSOffset)
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += int64(h.Size())
	s.size = pos + int64(h.Size())
	s.next = h.NextOffset()
}

// rollDue reports whether segment.ms says to roll before appending a batch
// whose max timestamp is incomingTS.
func (s *segment) rollDue(incomingTS, nowMs, segmentMs int64) bool {
	if s.size == 0 {
		return false
	}
	if s.firstTS >= 0 {
		return incomingTS-s.firstTS > segmentMs
	}
	return nowMs-s.created > segmentMs
}

// sealTimes adds the final time index entry (the segment's largest
// timestamp) so that a cold segment's largest timestamp is its time index's
// last entry.
func (s *segment) sealTimes() {
	if s.maxTS >= 0 && s.times != nil {
		s.times.Append(s.maxTS, s.maxTSOffset)
	}
}

// fits reports whether a batch of the given size and last offset can go in
// the segment: relative offsets and positions of the indexes are 32-bit.
func (s *segment) fits(lastOffset, size int64) bool {
	return lastOffset-s.base <= math.MaxInt32 && s.size+size <= math.MaxUint32
}

// Scans of more than smallScan bytes read through a pooled 1 MiB buffer.
const smallScan = 64 << 10

var scanReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 1<<20) }}

// errTornTail reports where a scan stopped: a batch that is torn, corrupt
// or out of order. Everything before it is valid.
type errTornTail struct {
	pos    int64
	reason string
}

func (e *errTornTail) Error() string {
	return fmt.Sprintf("invalid batch at byte %d: %s", e.pos, e.reason)
}

// scanner rebuilds a segment's state by reading its batches.
type scanner struct {
	seg      *segment
	interval int64
	verify   bool // check CRC and records (recovery); otherwise headers only
	// epochs collects (leader epoch, start offset) where a batch's
	// partition leader epoch goes up.
	epochs []EpochEntry
	buf    []byte
}

// scan reads f from position from up to fileSize, observing every valid
// batch into s.seg (which must be at position from already, with its
// indexes allocated). It returns nil at a clean end, *errTornTail at the
// first bad batch, or an I/O error.
func (sc *scanner) scan(f *os.File, from, fileSize int64) error {
	var r *bufio.Reader
	if fileSize-from < smallScan {
		r = bufio.NewReaderSize(io.NewSectionReader(f, from, fileSize-from), smallScan)
	} else {
		r = scanReaders.Get().(*bufio.Reader)
		r.Reset(io.NewSectionReader(f, from, fileSize-from))
		defer func() {
			r.Reset(nil)
			scanReaders.Put(r)
		}()
	}
	pos := from
	var over [recordbatch.LogOverhead]byte
	for pos < fileSize {
		if fileSize-pos < recordbatch.HeaderSize {
			return &errTornTail{pos, fmt.Sprintf("%d trailing bytes, less than a batch header", fileSize-pos)}
		}
		if _, err := io.ReadFull(r, over[:]); err != nil {
			return fmt.Errorf("read %s at %d: %w", f.Name(), pos, err)
		}
		length := int64(int32(binary.BigEndian.Uint32(over[8:])))
		size := recordbatch.LogOverhead + length
		if length < recordbatch.HeaderSize-recordbatch.LogOverhead || pos+size > fileSize {
			return &errTornTail{pos, fmt.Sprintf("batch length %d does not fit the %d bytes left", length, fileSize-pos)}
		}
		n := int(size)
		if !sc.verify {
			n = recordbatch.HeaderSize
		}
		if cap(sc.buf) < n {
			sc.buf = make([]byte, n)
		}
		b := sc.buf[:n]
		copy(b, over[:])
		if _, err := io.ReadFull(r, b[recordbatch.LogOverhead:]); err != nil {
			return fmt.Errorf("read %s at %d: %w", f.Name(), pos, err)
		}
		if !sc.verify {
			if _, err := r.Discard(int(size) - n); err != nil {
				return fmt.Errorf("read %s at %d: %w", f.Name(), pos, err)
			}
		}
		var h recordbatch.BatchHeader
		var err error
		if sc.verify {
			h, err = recordbatch.ValidateBatch(b, recordbatch.ValidateOptions{Stored: true})
		} else {
			h, err = recordbatch.ParseHeader(b)
			if err == nil && h.Magic != recordbatch.Magic {
				err = fmt.Errorf("magic %d", h.Magic)
			}
		}
		if err != nil {
			return &errTornTail{pos, err.Error()}
		}
		if h.BaseOffset < sc.seg.next || h.LastOffsetDelta < 0 || !sc.seg.fits(h.LastOffset(), 0) {
			return &errTornTail{pos, fmt.Sprintf("batch offsets %d..%d do not follow offset %d in segment %d", h.BaseOffset, h.LastOffset(), sc.seg.next, sc.seg.base)}
		}
		if e := h.PartitionLeaderEpoch; e >= 0 && (len(sc.epochs) == 0 || e > sc.epochs[len(sc.epochs)-1].Epoch) {
			sc.epochs = append(sc.epochs, EpochEntry{Epoch: e, StartOffset: h.BaseOffset})
		}
		sc.seg.observe(h, pos, sc.interval)
		pos += size
	}
	return nil
}

// readHeaderAt reads the header of the batch at pos of a segment of the
// given size, checking that the batch lies within it.
func readHeaderAt(f *os.File, pos, size int64) (recordbatch.BatchHeader, error) {
	var b [recordbatch.HeaderSize]byte
	if size-pos < recordbatch.HeaderSize {
		return recordbatch.BatchHeader{}, fmt.Errorf("%s: no batch header at byte %d of %d", f.Name(), pos, size)
	}
	if _, err := f.ReadAt(b[:], pos); err != nil {
		return recordbatch.BatchHeader{}, fmt.Errorf("read %s at %d: %w", f.Name(), pos, err)
	}
	h, err := recordbatch.ParseHeader(b[:])
	if err != nil {
		return h, err
	}
	if h.Magic != recordbatch.Magic || h.Length < recordbatch.HeaderSize-recordbatch.LogOverhead || pos+int64(h.Size()) > size {
		return h, fmt.Errorf("%s: bad batch header at byte %d (magic %d, length %d, segment size %d)", f.Name(), pos, h.Magic, h.Length, size)
	}
	return h, nil
}

// errIndexMismatch says a cold segment's index points at the wrong place.
var errIndexMismatch = errors.New("index entry does not point at a batch of its offset")
