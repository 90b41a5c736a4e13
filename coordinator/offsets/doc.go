// Package offsets is the record format of __consumer_offsets and the state
// rebuilt by replaying one of its partitions.
//
// Three kinds of record share the topic, told apart by the key's leading
// int16 version, in Kafka's layout where Kafka has one:
//
//   - an offset commit: key v1 (group, topic, partition), value v3 (offset,
//     leader epoch, metadata, commit time) — byte for byte Kafka's
//     OffsetCommitKey v1 / OffsetCommitValue v3; values v0-v2 are read too;
//   - a group's metadata: key v2 (group), Kafka's GroupMetadataKey, with a
//     Strand value (version 100): the group's Snapshot (members, their
//     owned/revoking/target partitions, generation, assignor);
//   - an ownership marker: key v100 (no fields), value the coordinator id and
//     ownership epoch that wrote it, written by each new owner before it
//     reads the partition.
//
// A null value is a tombstone: the offset or group is deleted (and the topic,
// being compacted, eventually drops both).
//
// Every record written by a coordinator carries its ownership epoch in the
// record header HeaderOwnerEpoch. Replay ignores a record whose epoch is
// below the highest epoch seen before it in the partition: a deposed owner
// whose write lands after its successor's marker cannot change the state
// the successor, or any later owner, rebuilds.
package offsets
