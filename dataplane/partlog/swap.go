package partlog

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Files of the log cleaner in a log directory. A cleaned group of segments
// is written as <base>.log.cleaned (not yet a replacement: recovery deletes
// it), fsynced, and committed by renaming it to <base>.<end>.swap, where
// [base, end) is the offset range of the segments it replaces. From then on
// the swap wins: the old segments' files in [base, end) are deleted and the
// swap file is renamed to <base>.log. A crash anywhere leaves either the
// old segments (with a .cleaned file recovery deletes) or a .swap file that
// recovery finishes the same way, so a log never mixes old and cleaned
// data for one range.
const (
	cleanedSuffix = ".log.cleaned"
	swapSuffix    = ".swap"
	// cleanerCheckpointFile holds the log's first dirty offset: the
	// cleaner has deduplicated everything below it.
	cleanerCheckpointFile = "cleaner-offset-checkpoint"
)

func cleanedName(base int64) string { return segmentName(base) + cleanedSuffix }

func swapName(base, end int64) string { return segmentName(base) + "." + segmentName(end) + swapSuffix }

// parseSwapName reads "<base>.<end>.swap".
func parseSwapName(name string) (base, end int64, ok bool) {
	stem, ok := strings.CutSuffix(name, swapSuffix)
	if !ok || len(stem) != 2*nameDigits+1 || stem[nameDigits] != '.' {
		return 0, 0, false
	}
	b, err1 := strconv.ParseInt(stem[:nameDigits], 10, 64)
	e, err2 := strconv.ParseInt(stem[nameDigits+1:], 10, 64)
	if err1 != nil || err2 != nil || b < 0 || e <= b {
		return 0, 0, false
	}
	return b, e, true
}

// finishSwaps completes the cleaner's swaps that a crash interrupted and
// deletes its unfinished output, before the log lists its segments: every
// *.log.cleaned file goes; for every <base>.<end>.swap file (oldest first),
// the segment files with a base offset in [base, end) are deleted and the
// swap file becomes <base>.log (its indexes are rebuilt by the recovery
// scan). It returns whether the directory changed.
func finishSwaps(dir string, lg *slog.Logger) (bool, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("list %s: %w", dir, err)
	}
	type swap struct {
		name      string
		base, end int64
	}
	var swaps []swap
	changed := false
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, cleanedSuffix) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
				return changed, fmt.Errorf("delete unfinished cleaner output %s: %w", name, err)
			}
			changed = true
			continue
		}
		if b, en, ok := parseSwapName(name); ok {
			swaps = append(swaps, swap{name, b, en})
		}
	}
	sort.Slice(swaps, func(i, j int) bool { return swaps[i].base < swaps[j].base })
	for _, sw := range swaps {
		lg.Warn("finishing an interrupted cleaner swap", "base", sw.base, "end", sw.end)
		if err := replaceWithSwap(dir, ents, sw.base, sw.end, sw.name); err != nil {
			return true, err
		}
		changed = true
	}
	return changed, nil
}

// replaceWithSwap deletes the segment files of ents with a base offset in
// [base, end) and renames the swap file to <base>.log. Index files go
// first, so no stale index is ever left beside a new log file.
func replaceWithSwap(dir string, ents []os.DirEntry, base, end int64, swapFile string) error {
	var logs, idx []string
	for _, e := range ents {
		b, suf, ok := parseSegmentName(e.Name())
		if !ok || b < base || b >= end {
			continue
		}
		if suf == logSuffix {
			logs = append(logs, e.Name())
		} else {
			idx = append(idx, e.Name())
		}
	}
	for _, n := range append(idx, logs...) {
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("delete replaced segment file %s: %w", n, err)
		}
	}
	if err := os.Rename(filepath.Join(dir, swapFile), filepath.Join(dir, segmentName(base)+logSuffix)); err != nil {
		return fmt.Errorf("rename %s into place: %w", swapFile, err)
	}
	return nil
}

// readCleanerCheckpoint reads the log's first dirty offset (0 when there
// is no checkpoint).
func readCleanerCheckpoint(dir string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, cleanerCheckpointFile))
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: bad offset %q", cleanerCheckpointFile, strings.TrimSpace(string(b)))
	}
	return n, nil
}

// writeCleanerCheckpoint replaces the log's first dirty offset atomically.
func writeCleanerCheckpoint(dir string, offset int64) error {
	return writeFileAtomic(filepath.Join(dir, cleanerCheckpointFile), []byte(strconv.FormatInt(offset, 10)+"\n"))
}
