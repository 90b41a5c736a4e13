package offsets

import (
	"encoding/binary"
	"fmt"

	"strand.dev/client/recordbatch"
	"strand.dev/coordinator/group"
)

// GroupState is what one partition holds about one group.
type GroupState struct {
	// Snapshot is the group's last metadata, nil when none (a group known
	// only by its committed offsets).
	Snapshot *group.Snapshot
	// Offsets are its committed offsets.
	Offsets map[group.TopicPartition]OffsetValue
}

// State is the content of one offsets partition, rebuilt by applying its
// records in offset order. It is not safe for concurrent use.
type State struct {
	// Groups by id.
	Groups map[string]*GroupState
	// Epoch is the highest ownership epoch seen.
	Epoch int64
	// Owner is the coordinator of the last marker seen.
	Owner string
	// Applied, Skipped and Corrupt count records: applied, ignored as
	// written by a deposed owner, and undecodable (also ignored).
	Applied, Skipped, Corrupt int64
	// NextOffset is the offset after the last record applied.
	NextOffset int64

	// topics interns topic names, so that a million offset keys share a
	// few strings.
	topics map[string]string
}

// NewState returns an empty state.
func NewState() *State {
	return &State{Groups: map[string]*GroupState{}, topics: map[string]string{}}
}

// applyOffset applies an offset commit (or its tombstone) without
// allocating the key's strings when the group and topic are known. It
// reports false when the key is not an offset key, for the general path.
func (s *State) applyOffset(rec *recordbatch.Record) (bool, error) {
	r := reader{b: rec.Key}
	switch r.i16("key version") {
	case keyOffsetV0, keyOffsetV1:
	default:
		return false, nil
	}
	gb, tb, p := r.bytes("group"), r.bytes("topic"), r.i32("partition")
	if err := r.done("key"); err != nil {
		return true, err
	}
	topic, ok := s.topics[string(tb)]
	if !ok {
		topic = string(tb)
		s.topics[topic] = topic
	}
	tp := group.TopicPartition{Topic: topic, Partition: p}
	g := s.Groups[string(gb)]
	if rec.Value == nil {
		if g != nil {
			delete(g.Offsets, tp)
			s.dropIfEmpty(string(gb))
		}
		return true, nil
	}
	v, err := DecodeOffsetValue(rec.Value)
	if err != nil {
		return true, err
	}
	if g == nil {
		g = s.group(string(gb))
	}
	g.Offsets[tp] = v
	return true, nil
}

// RecordEpoch reads a record's HeaderOwnerEpoch (0 when absent).
func RecordEpoch(rec *recordbatch.Record) int64 {
	for _, h := range rec.Headers {
		if h.Key == HeaderOwnerEpoch && len(h.Value) == 8 {
			return int64(binary.BigEndian.Uint64(h.Value))
		}
	}
	return 0
}

// Apply applies one record. A record with an epoch below the highest seen so
// far is skipped; an undecodable one is counted and skipped, and its error
// returned for the caller to log.
func (s *State) Apply(rec *recordbatch.Record) error {
	s.NextOffset = max(s.NextOffset, rec.Offset+1)
	epoch := RecordEpoch(rec)
	if epoch < s.Epoch {
		s.Skipped++
		return nil
	}
	if done, err := s.applyOffset(rec); done {
		if err != nil {
			s.Corrupt++
			return fmt.Errorf("offset %d: %w", rec.Offset, err)
		}
		s.Epoch = max(s.Epoch, epoch)
		s.Applied++
		return nil
	}
	key, err := DecodeKey(rec.Key)
	if err != nil {
		s.Corrupt++
		return fmt.Errorf("offset %d: %w", rec.Offset, err)
	}
	switch key.Kind {
	case KindOwner:
		if rec.Value == nil {
			break
		}
		v, err := DecodeOwnerValue(rec.Value)
		if err != nil {
			s.Corrupt++
			return fmt.Errorf("offset %d: %w", rec.Offset, err)
		}
		s.Epoch = max(s.Epoch, v.Epoch, epoch)
		s.Owner = v.Coordinator
	case KindOffset:
		tp := group.TopicPartition{Topic: key.Topic, Partition: key.Partition}
		if rec.Value == nil {
			if g := s.Groups[key.Group]; g != nil {
				delete(g.Offsets, tp)
				s.dropIfEmpty(key.Group)
			}
			break
		}
		v, err := DecodeOffsetValue(rec.Value)
		if err != nil {
			s.Corrupt++
			return fmt.Errorf("offset %d: %w", rec.Offset, err)
		}
		s.group(key.Group).Offsets[tp] = v
	case KindGroup:
		if rec.Value == nil {
			if g := s.Groups[key.Group]; g != nil {
				g.Snapshot = nil
				s.dropIfEmpty(key.Group)
			}
			break
		}
		snap, err := DecodeGroupValue(key.Group, rec.Value)
		if err != nil {
			s.Corrupt++
			return fmt.Errorf("offset %d: %w", rec.Offset, err)
		}
		s.group(key.Group).Snapshot = &snap
	}
	s.Epoch = max(s.Epoch, epoch)
	s.Applied++
	return nil
}

func (s *State) group(id string) *GroupState {
	g := s.Groups[id]
	if g == nil {
		g = &GroupState{Offsets: map[group.TopicPartition]OffsetValue{}}
		s.Groups[id] = g
	}
	return g
}

func (s *State) dropIfEmpty(id string) {
	if g := s.Groups[id]; g != nil && g.Snapshot == nil && len(g.Offsets) == 0 {
		delete(s.Groups, id)
	}
}

// ApplyBatches applies the records of raw RecordBatch bytes (as a fetch
// returns them) from NextOffset on, decompressing within limit bytes; records
// below NextOffset (a fetch answers whole batches) are passed over.
// Undecodable records are skipped (counted in Corrupt); an undecodable batch
// is an error. It returns the number of records applied or skipped.
func (s *State) ApplyBatches(raw []byte, limit int) (int, error) {
	batches, err := recordbatch.DecodeBatches(raw, limit)
	n := 0
	for _, b := range batches {
		if b.Header.Control() {
			s.NextOffset = max(s.NextOffset, b.Header.NextOffset())
			continue
		}
		for i := range b.Records {
			if b.Records[i].Offset < s.NextOffset {
				continue
			}
			_ = s.Apply(&b.Records[i])
			n++
		}
		s.NextOffset = max(s.NextOffset, b.Header.NextOffset())
	}
	if err != nil {
		return n, fmt.Errorf("offsets: decode: %w", err)
	}
	return n, nil
}
