package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"strand.dev/client/consumer"
	"strand.dev/client/recordbatch"
)

// entryOf turns a record's value into a log entry of this run.
func entryOf(run string, tp TP, offset int64, value []byte) LogEntry {
	r, part, id, ok := DecodeValue(value)
	return LogEntry{Offset: offset, ID: id, Valid: ok && r == run && part == tp.Partition}
}

// ReadFromLeader reads [0, hw) of a partition as a consumer does, from its
// leader.
func ReadFromLeader(ctx context.Context, bootstrap []string, run string, tp TP, hw int64) ([]LogEntry, error) {
	if hw == 0 {
		return nil, nil
	}
	c, err := consumer.New(consumer.Bootstrap(bootstrap...), consumer.AutoOffsetReset(consumer.ResetNone),
		consumer.FetchMaxWait(200*time.Millisecond), consumer.MaxPollRecords(5000))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctp := consumer.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}
	if err := c.Assign(ctp); err != nil {
		return nil, err
	}
	if err := c.Seek(ctp, 0); err != nil {
		return nil, err
	}
	var out []LogEntry
	next := int64(0)
	for next < hw {
		recs, err := c.Poll(ctx)
		if err != nil {
			return out, fmt.Errorf("read %s from its leader at offset %d of %d: %w", tp, next, hw, err)
		}
		for _, r := range recs {
			if r.Offset >= hw {
				next = hw
				break
			}
			out = append(out, entryOf(run, tp, r.Offset, r.Value))
			next = r.Offset + 1
		}
	}
	return out, nil
}

// maxSegmentBytes bounds a segment file read back (the suite's segments
// are far smaller).
const maxSegmentBytes = 1 << 30

// ReadReplica decodes the segment files of a data node's directory of a
// partition: the replica's own log, whatever its role. The node's whole
// data directory is copied out of its container into tmp on the first call
// for that container (one docker cp per node, not per partition); later
// calls read that copy.
func ReadReplica(ctx context.Context, d *Docker, container, dataDir, run string, tp TP, tmp string) ([]LogEntry, error) {
	local := filepath.Join(tmp, container)
	if _, err := os.Stat(local); errors.Is(err, os.ErrNotExist) {
		if err := d.CopyFrom(ctx, container, dataDir, local); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	dst := filepath.Join(local, tp.String())
	if _, err := os.Stat(dst); err != nil {
		return nil, fmt.Errorf("%s holds no directory %s: %w", container, tp, err)
	}
	files, err := filepath.Glob(filepath.Join(dst, "*.log"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []LogEntry
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return out, err
		}
		if len(b) > maxSegmentBytes {
			return out, fmt.Errorf("%s: %d bytes", f, len(b))
		}
		entries, err := decodeSegment(b, run, tp)
		out = append(out, entries...)
		if err != nil {
			return out, fmt.Errorf("%s: %w", strings.TrimPrefix(f, tmp), err)
		}
	}
	return out, nil
}

// decodeSegment decodes a segment's batches up to its end, or to a torn
// tail (a batch that does not fit, or zero bytes), which a crashed writer
// may leave and recovery cuts off.
func decodeSegment(b []byte, run string, tp TP) ([]LogEntry, error) {
	var out []LogEntry
	for pos := 0; pos < len(b); {
		if len(b)-pos < recordbatch.HeaderSize {
			return out, nil
		}
		h, err := recordbatch.ParseHeader(b[pos:])
		if err != nil || h.Length <= 0 || pos+h.Size() > len(b) {
			return out, nil
		}
		batches, err := recordbatch.DecodeBatches(b[pos:pos+h.Size()], 64<<20)
		if err != nil {
			return out, fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		for _, bt := range batches {
			if bt.Header.Control() {
				continue
			}
			for _, r := range bt.Records {
				out = append(out, entryOf(run, tp, r.Offset, r.Value))
			}
		}
		pos += h.Size()
	}
	return out, nil
}

// PartitionState is a partition's end state: its leader's high watermark
// and log end, and the ISR.
type PartitionState struct {
	Leader        int32
	HighWatermark int64
	ISR           map[int32]bool
	Replicas      []int32
}

// WaitQuiesced waits until every partition of the topics has its full ISR
// and every replica's log end equals its leader's high watermark (the
// workload has stopped), and returns each partition's state.
func WaitQuiesced(ctx context.Context, c *Cluster, topics []string, timeout time.Duration) (map[TP]PartitionState, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		st, err := quiesced(ctx, c, topics)
		if err == nil {
			return st, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("not quiescent after %v: %w", timeout, last)
		case <-time.After(time.Second):
		}
	}
}

func quiesced(ctx context.Context, c *Cluster, topics []string) (map[TP]PartitionState, error) {
	md, err := c.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	type ends struct{ leo, hw int64 }
	local := map[int32]map[TP]ends{}
	for _, n := range c.Role(RoleData) {
		lp, err := c.LocalPartitions(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Container, err)
		}
		m := map[TP]ends{}
		for _, p := range lp.Partitions {
			m[TP{p.Topic, p.Partition}] = ends{p.LogEndOffset, p.HighWatermark}
		}
		local[lp.NodeID] = m
	}
	out := map[TP]PartitionState{}
	var problems []string
	for _, name := range topics {
		t, ok := md.Topic(name)
		if !ok {
			return nil, fmt.Errorf("topic %s is gone", name)
		}
		for _, p := range t.Partitions {
			tp := TP{name, p.Partition}
			st := PartitionState{Leader: p.Leader, ISR: map[int32]bool{}, Replicas: p.Replicas}
			for _, r := range p.ISR {
				st.ISR[r] = true
			}
			le, ok := local[p.Leader][tp]
			if p.Leader < 0 || !ok {
				problems = append(problems, fmt.Sprintf("%s: leader %d does not report it", tp, p.Leader))
				continue
			}
			st.HighWatermark = le.hw
			out[tp] = st
			if len(p.ISR) < len(p.Replicas) {
				problems = append(problems, fmt.Sprintf("%s: ISR %v of %v", tp, p.ISR, p.Replicas))
			}
			if le.hw != le.leo {
				problems = append(problems, fmt.Sprintf("%s: high watermark %d below the leader's log end %d", tp, le.hw, le.leo))
			}
			for _, r := range p.Replicas {
				if e, ok := local[r][tp]; !ok || e.leo != le.leo {
					problems = append(problems, fmt.Sprintf("%s: node %d's log end %d, the leader's %d", tp, r, e.leo, le.leo))
				}
			}
		}
	}
	if len(problems) > 0 {
		return out, errors.New(strings.Join(problems, "; "))
	}
	return out, nil
}
