package partlog

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// recoveryPointFile is the data directory's recovery-point checkpoint
// (ARCHITECTURE.md, "Storage layout"), in Kafka's format: a version line
// "0", a count line, then "topic partition offset" lines.
const recoveryPointFile = "recovery-point-offset-checkpoint"

// cleanShutdownFile marks a data directory whose logs were all closed
// cleanly; it is removed as soon as the manager has opened them.
const cleanShutdownFile = ".clean-shutdown"

// topicPartition names a partition.
type topicPartition struct {
	topic     string
	partition int32
}

func (tp topicPartition) dirName() string {
	return tp.topic + "-" + strconv.FormatInt(int64(tp.partition), 10)
}

// parseDirName reads "<topic>-<partition>".
func parseDirName(name string) (topicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 {
		return topicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 || strconv.FormatInt(p, 10) != name[i+1:] {
		return topicPartition{}, false
	}
	return topicPartition{topic: name[:i], partition: int32(p)}, true
}

// readOffsetCheckpoint reads a checkpoint file; a missing file is empty.
func readOffsetCheckpoint(path string) (map[topicPartition]int64, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return map[topicPartition]int64{}, nil
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
		return nil, fmt.Errorf("%s: bad header", path)
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n != len(lines)-2 {
		return nil, fmt.Errorf("%s: count %q does not match %d entries", path, lines[1], len(lines)-2)
	}
	out := make(map[topicPartition]int64, n)
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s: bad entry %q", path, l)
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		off, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || p < 0 || off < 0 {
			return nil, fmt.Errorf("%s: bad entry %q", path, l)
		}
		out[topicPartition{f[0], int32(p)}] = off
	}
	return out, nil
}

// writeOffsetCheckpoint replaces a checkpoint file atomically.
func writeOffsetCheckpoint(path string, offsets map[topicPartition]int64) error {
	tps := make([]topicPartition, 0, len(offsets))
	for tp := range offsets {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].topic != tps[j].topic {
			return tps[i].topic < tps[j].topic
		}
		return tps[i].partition < tps[j].partition
	})
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(tps))
	for _, tp := range tps {
		fmt.Fprintf(&b, "%s %d %d\n", tp.topic, tp.partition, offsets[tp])
	}
	return writeFileAtomic(path, b.Bytes())
}
