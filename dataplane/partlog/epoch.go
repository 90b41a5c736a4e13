package partlog

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
)

// epochCheckpointFile is the leader-epoch checkpoint of a log directory
// (ARCHITECTURE.md, "Storage layout"), in Kafka's text format: a version
// line "0", a count line, then one "epoch startOffset" line per entry.
const epochCheckpointFile = "leader-epoch-checkpoint"

// EpochEntry says that leader epoch Epoch wrote the log from StartOffset
// on (until the next entry's start offset).
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// epochCache is a log's leader-epoch history, increasing in both epoch and
// start offset. Guarded by the Log's mu; persisted with writeEpochs.
type epochCache struct {
	entries []EpochEntry
}

func (c *epochCache) latest() (EpochEntry, bool) {
	if len(c.entries) == 0 {
		return EpochEntry{Epoch: -1, StartOffset: -1}, false
	}
	return c.entries[len(c.entries)-1], true
}

// assign records that epoch starts at startOffset, as Kafka's
// LeaderEpochFileCache.assign does: ignored unless epoch is newer than the
// latest; entries at or after startOffset are dropped first (they were
// never replicated under the new leader). It reports a change.
func (c *epochCache) assign(epoch int32, startOffset int64) bool {
	if epoch < 0 || startOffset < 0 {
		return false
	}
	if last, ok := c.latest(); ok && (epoch < last.Epoch || (epoch == last.Epoch && startOffset >= last.StartOffset)) {
		return false
	}
	c.truncateFromEnd(startOffset)
	for len(c.entries) > 0 && c.entries[len(c.entries)-1].Epoch >= epoch {
		c.entries = c.entries[:len(c.entries)-1]
	}
	c.entries = append(c.entries, EpochEntry{Epoch: epoch, StartOffset: startOffset})
	return true
}

// truncateFromEnd drops entries starting at or after endOffset (the log
// was truncated there). It reports a change.
func (c *epochCache) truncateFromEnd(endOffset int64) bool {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].StartOffset >= endOffset {
		n--
	}
	changed := n != len(c.entries)
	c.entries = c.entries[:n]
	return changed
}

// truncateFromStart drops entries wholly before startOffset (the log start
// offset moved there) and moves the entry covering it to start there.
func (c *epochCache) truncateFromStart(startOffset int64) bool {
	i := 0
	for i+1 < len(c.entries) && c.entries[i+1].StartOffset <= startOffset {
		i++
	}
	changed := i > 0
	c.entries = c.entries[i:]
	if len(c.entries) > 0 && c.entries[0].StartOffset < startOffset {
		c.entries[0].StartOffset = startOffset
		changed = true
	}
	return changed
}

// endOffsetFor answers "where does epoch end?" as Kafka's
// OffsetsForLeaderEpoch does: for the latest epoch, the log end offset;
// for an older one, the start offset of the first later epoch, with the
// largest known epoch <= the requested one; (-1, -1) for an epoch newer
// than any known or when nothing is known.
func (c *epochCache) endOffsetFor(epoch int32, logEnd int64) (int32, int64) {
	last, ok := c.latest()
	switch {
	case !ok || epoch < 0 || epoch > last.Epoch:
		return -1, -1
	case epoch == last.Epoch:
		return epoch, logEnd
	}
	// The first entry with a larger epoch.
	i := 0
	for i < len(c.entries) && c.entries[i].Epoch <= epoch {
		i++
	}
	if i == 0 {
		return epoch, c.entries[0].StartOffset
	}
	return c.entries[i-1].Epoch, c.entries[i].StartOffset
}

func (c *epochCache) clone() []EpochEntry { return append([]EpochEntry(nil), c.entries...) }

// readEpochs reads a leader-epoch checkpoint; a missing file is empty.
func readEpochs(dir string) ([]EpochEntry, error) {
	b, err := os.ReadFile(filepath.Join(dir, epochCheckpointFile))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	var lines []string
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) < 2 || lines[0] != "0" {
		return nil, fmt.Errorf("%s: bad header", epochCheckpointFile)
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n != len(lines)-2 {
		return nil, fmt.Errorf("%s: count %q does not match %d entries", epochCheckpointFile, lines[1], len(lines)-2)
	}
	out := make([]EpochEntry, 0, n)
	for _, l := range lines[2:] {
		var e EpochEntry
		if _, err := fmt.Sscanf(l, "%d %d", &e.Epoch, &e.StartOffset); err != nil {
			return nil, fmt.Errorf("%s: bad entry %q", epochCheckpointFile, l)
		}
		if k := len(out); k > 0 && (e.Epoch <= out[k-1].Epoch || e.StartOffset < out[k-1].StartOffset) {
			return nil, fmt.Errorf("%s: entry %q out of order", epochCheckpointFile, l)
		}
		out = append(out, e)
	}
	return out, nil
}

// writeEpochs replaces the leader-epoch checkpoint atomically.
func writeEpochs(dir string, entries []EpochEntry) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(entries))
	for _, e := range entries {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return writeFileAtomic(filepath.Join(dir, epochCheckpointFile), b.Bytes())
}

// writeFileAtomic writes data to path through a temporary file, fsyncs it,
// renames it into place and fsyncs the directory.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := fsync(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir fsyncs a directory, making creations, renames and removals in it
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return fsync(d)
}

// fsyncOff turns fsync into a no-op. Only tests that must run many
// recoveries quickly (the fuzz targets) set it.
var fsyncOff atomic.Bool

// fsync is f.Sync unless fsyncOff is set.
func fsync(f *os.File) error {
	if fsyncOff.Load() {
		return nil
	}
	return f.Sync()
}
