package offsets

import (
	"encoding/binary"
	"fmt"
	"slices"

	"strand.dev/coordinator/group"
)

// Key versions (the leading int16 of a key).
const (
	keyOffsetV0 int16 = 0 // Kafka's OffsetCommitKey v0, read only
	keyOffsetV1 int16 = 1 // Kafka's OffsetCommitKey v1
	keyGroup    int16 = 2 // Kafka's GroupMetadataKey v2
	keyOwner    int16 = 100
)

// Value versions.
const (
	offsetValueV3 int16 = 3   // Kafka's OffsetCommitValue v3
	groupValueV   int16 = 100 // Strand's group snapshot
	ownerValueV   int16 = 0
)

// HeaderOwnerEpoch is the record header carrying the writer's ownership
// epoch (8 bytes, big-endian).
const HeaderOwnerEpoch = "strand.owner.epoch"

// Kind tells the records apart.
type Kind int

// The record kinds.
const (
	KindOffset Kind = iota + 1
	KindGroup
	KindOwner
)

// Key is a decoded record key.
type Key struct {
	Kind      Kind
	Group     string // offset and group keys
	Topic     string // offset keys
	Partition int32  // offset keys
}

// OffsetKey is the key of a group's committed offset for a partition.
func OffsetKey(groupID, topic string, partition int32) Key {
	return Key{Kind: KindOffset, Group: groupID, Topic: topic, Partition: partition}
}

// GroupKey is the key of a group's metadata.
func GroupKey(groupID string) Key { return Key{Kind: KindGroup, Group: groupID} }

// OwnerKey is the key of the ownership marker.
func OwnerKey() Key { return Key{Kind: KindOwner} }

// Encode returns the key's bytes.
func (k Key) Encode() []byte {
	var w writer
	switch k.Kind {
	case KindOffset:
		w.i16(keyOffsetV1)
		w.str(k.Group)
		w.str(k.Topic)
		w.i32(k.Partition)
	case KindGroup:
		w.i16(keyGroup)
		w.str(k.Group)
	case KindOwner:
		w.i16(keyOwner)
	default:
		panic(fmt.Sprintf("offsets: encode of key kind %d", k.Kind))
	}
	return w.b
}

// DecodeKey reads a key.
func DecodeKey(b []byte) (Key, error) {
	r := reader{b: b}
	var k Key
	switch v := r.i16("key version"); v {
	case keyOffsetV0, keyOffsetV1:
		k = Key{Kind: KindOffset, Group: r.str("group"), Topic: r.str("topic"), Partition: r.i32("partition")}
	case keyGroup:
		k = Key{Kind: KindGroup, Group: r.str("group")}
	case keyOwner:
		k = Key{Kind: KindOwner}
	default:
		if r.err == nil {
			return Key{}, fmt.Errorf("%w: unknown key version %d", ErrCorrupt, v)
		}
	}
	return k, r.done("key")
}

// OffsetValue is a committed offset.
type OffsetValue struct {
	Offset            int64
	LeaderEpoch       int32
	Metadata          string
	CommitTimestampMs int64
}

// Encode returns the value in Kafka's OffsetCommitValue v3 layout.
func (v OffsetValue) Encode() []byte {
	w := writer{b: make([]byte, 0, 24+len(v.Metadata))}
	w.i16(offsetValueV3)
	w.i64(v.Offset)
	w.i32(v.LeaderEpoch)
	w.str(v.Metadata)
	w.i64(v.CommitTimestampMs)
	return w.b
}

// DecodeOffsetValue reads an offset value of Kafka's versions 0 to 3.
func DecodeOffsetValue(b []byte) (OffsetValue, error) {
	r := reader{b: b}
	v := OffsetValue{LeaderEpoch: -1}
	switch ver := r.i16("offset value version"); ver {
	case 0, 2:
		v.Offset, v.Metadata, v.CommitTimestampMs = r.i64("offset"), r.str("metadata"), r.i64("commit timestamp")
	case 1:
		v.Offset, v.Metadata, v.CommitTimestampMs = r.i64("offset"), r.str("metadata"), r.i64("commit timestamp")
		r.i64("expire timestamp")
	case 3:
		v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestampMs = r.i64("offset"), r.i32("leader epoch"), r.str("metadata"), r.i64("commit timestamp")
	default:
		if r.err == nil {
			return OffsetValue{}, fmt.Errorf("%w: unknown offset value version %d", ErrCorrupt, ver)
		}
	}
	return v, r.done("offset value")
}

// OwnerValue is an ownership marker.
type OwnerValue struct {
	Coordinator string
	Epoch       int64
	TimestampMs int64
}

// Encode returns the marker's bytes.
func (v OwnerValue) Encode() []byte {
	var w writer
	w.i16(ownerValueV)
	w.str(v.Coordinator)
	w.i64(v.Epoch)
	w.i64(v.TimestampMs)
	return w.b
}

// DecodeOwnerValue reads a marker.
func DecodeOwnerValue(b []byte) (OwnerValue, error) {
	r := reader{b: b}
	if v := r.i16("owner value version"); v != ownerValueV && r.err == nil {
		return OwnerValue{}, fmt.Errorf("%w: unknown owner value version %d", ErrCorrupt, v)
	}
	v := OwnerValue{Coordinator: r.str("coordinator"), Epoch: r.i64("epoch"), TimestampMs: r.i64("timestamp")}
	return v, r.done("owner value")
}

// EncodeGroupValue returns a group snapshot's bytes.
func EncodeGroupValue(s group.Snapshot) []byte {
	var w writer
	w.i16(groupValueV)
	w.str(s.Assignor)
	w.i32(s.Generation)
	w.i64(s.EmptySinceMs)
	topics := make([]string, 0, len(s.Partitions))
	for t := range s.Partitions {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	w.count(len(topics))
	for _, t := range topics {
		w.str(t)
		w.i32(s.Partitions[t])
	}
	w.count(len(s.Members))
	for _, m := range s.Members {
		w.str(m.MemberID)
		w.str(m.InstanceID)
		w.str(m.ClientID)
		w.str(m.ClientHost)
		writeStrings(&w, m.Topics)
		writeStrings(&w, m.Assignors)
		w.i32(m.SessionTimeoutMs)
		w.i32(m.RebalanceTimeoutMs)
		w.i32(m.JoinGeneration)
		w.i32(m.Generation)
		writePartitions(&w, m.Owned)
		writePartitions(&w, m.Revoking)
		writePartitions(&w, m.Target)
	}
	return w.b
}

// DecodeGroupValue reads a group snapshot; groupID comes from the key.
func DecodeGroupValue(groupID string, b []byte) (group.Snapshot, error) {
	r := reader{b: b}
	if v := r.i16("group value version"); v != groupValueV && r.err == nil {
		return group.Snapshot{}, fmt.Errorf("%w: unknown group value version %d (not written by Strand)", ErrCorrupt, v)
	}
	s := group.Snapshot{GroupID: groupID, Assignor: r.str("assignor"), Generation: r.i32("generation"), EmptySinceMs: r.i64("empty since"), Partitions: map[string]int32{}}
	for range r.count("topics", 6) {
		t := r.str("topic")
		s.Partitions[t] = r.i32("partitions")
	}
	for range r.count("members", 4*2+2*4+4*4+3*4) {
		m := group.MemberSnapshot{
			MemberID: r.str("member id"), InstanceID: r.str("instance id"),
			ClientID: r.str("client id"), ClientHost: r.str("client host"),
			Topics: readStrings(&r, "topics"), Assignors: readStrings(&r, "assignors"),
			SessionTimeoutMs: r.i32("session timeout"), RebalanceTimeoutMs: r.i32("rebalance timeout"),
			JoinGeneration: r.i32("join generation"), Generation: r.i32("generation"),
		}
		m.Owned = readPartitions(&r, "owned")
		m.Revoking = readPartitions(&r, "revoking")
		m.Target = readPartitions(&r, "target")
		s.Members = append(s.Members, m)
	}
	return s, r.done("group value")
}

func writeStrings(w *writer, ss []string) {
	w.count(len(ss))
	for _, s := range ss {
		w.str(s)
	}
}

func readStrings(r *reader, what string) []string {
	n := r.count(what, 2)
	out := make([]string, 0, n)
	for range n {
		out = append(out, r.str(what))
	}
	return out
}

// writePartitions writes sorted partitions grouped by topic.
func writePartitions(w *writer, tps []group.TopicPartition) {
	sorted := slices.Clone(tps)
	slices.SortFunc(sorted, group.TopicPartition.Compare)
	groups := group.ToWire(sorted)
	w.count(len(groups))
	for _, g := range groups {
		w.str(g.Topic)
		w.count(len(g.Partitions))
		for _, p := range g.Partitions {
			w.i32(p)
		}
	}
}

func readPartitions(r *reader, what string) []group.TopicPartition {
	out := []group.TopicPartition{}
	for range r.count(what, 6) {
		t := r.str(what)
		for range r.count(what, 4) {
			out = append(out, group.TopicPartition{Topic: t, Partition: r.i32(what)})
		}
	}
	return out
}

// EpochHeader encodes an ownership epoch for HeaderOwnerEpoch.
func EpochHeader(epoch int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(epoch)) }
