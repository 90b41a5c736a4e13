package metastate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"

	"strand.dev/client/wire"
)

// Snapshot format, version 1 (all integers varint or uvarint, strings
// length-prefixed, maps in key order so that equal states give equal bytes):
//
//	magic "STRNDMS1"
//	applied index, image version, cluster id
//	nodes: count, then id, addr, gossip addr, rack, incarnation, fenced
//	controller: holder, addr, epoch, lease ms, renewed at
//	topics: count, then name, id, configs (count, key, value...),
//	        partitions (count, then per partition in order: replicas, leader,
//	        leader epoch, isr, partition epoch)
//	offsets owners: count, then partition, coordinator, addr, epoch
//	next producer id
//	CRC-32C (Castagnoli) of everything above, 4 bytes little endian
//
// A partition's number is its position. Decoding checks every count against
// the bytes left, so a corrupt snapshot fails instead of allocating wildly.
const snapshotMagic = "STRNDMS1"

// Errors of Restore and SnapshotIndex.
var (
	// ErrCorruptSnapshot: the bytes are not a snapshot this version can read
	// (bad magic, checksum, truncation or impossible values).
	ErrCorruptSnapshot = errors.New("metastate: corrupt snapshot")
	// ErrClusterMismatch: the snapshot belongs to another cluster.
	ErrClusterMismatch = errors.New("metastate: snapshot of another cluster")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot encodes the current image and applied index. It reads one
// published state and may run concurrently with Apply.
func (m *Machine) Snapshot() ([]byte, error) {
	s := m.cur.Load()
	return encodeSnapshot(s.img, s.applied), nil
}

// Restore replaces the machine's state with a snapshot's. On error the state
// is unchanged. Images handed out earlier are not affected.
func (m *Machine) Restore(data []byte) error {
	img, applied, err := decodeSnapshot(data)
	if err != nil {
		return err
	}
	if m.clusterID != "" && img.ClusterID != m.clusterID {
		return fmt.Errorf("%w: the snapshot is of cluster %q, this machine of %q", ErrClusterMismatch, img.ClusterID, m.clusterID)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.publish(nil, img, applied)
	return nil
}

// SnapshotIndex reads the applied index a snapshot was taken at, checking
// only its header.
func SnapshotIndex(data []byte) (uint64, error) {
	if len(data) < len(snapshotMagic)+4 || string(data[:len(snapshotMagic)]) != snapshotMagic {
		return 0, fmt.Errorf("%w: bad magic", ErrCorruptSnapshot)
	}
	applied, n := binary.Uvarint(data[len(snapshotMagic):])
	if n <= 0 {
		return 0, fmt.Errorf("%w: bad applied index", ErrCorruptSnapshot)
	}
	return applied, nil
}

func encodeSnapshot(img *wire.Image, applied uint64) []byte {
	parts := 0
	for _, t := range img.Topics {
		parts += len(t.Partitions)
	}
	buf := make([]byte, 0, 256+64*len(img.Nodes)+64*len(img.Topics)+24*parts+48*len(img.OffsetsOwners))
	buf = append(buf, snapshotMagic...)
	buf = binary.AppendUvarint(buf, applied)
	buf = binary.AppendUvarint(buf, img.Version)
	buf = appendString(buf, img.ClusterID)

	nodeIDs := make([]int32, 0, len(img.Nodes))
	for id := range img.Nodes {
		nodeIDs = append(nodeIDs, id)
	}
	sort.Slice(nodeIDs, func(i, j int) bool { return nodeIDs[i] < nodeIDs[j] })
	buf = binary.AppendUvarint(buf, uint64(len(nodeIDs)))
	for _, id := range nodeIDs {
		n := img.Nodes[id]
		buf = binary.AppendVarint(buf, int64(n.ID))
		buf = appendString(buf, n.Addr)
		buf = appendString(buf, n.GossipAddr)
		buf = appendString(buf, n.Rack)
		buf = binary.AppendVarint(buf, n.Incarnation)
		buf = appendBool(buf, n.Fenced)
	}

	c := img.Controller
	buf = appendString(buf, c.Holder)
	buf = appendString(buf, c.Addr)
	buf = binary.AppendVarint(buf, c.Epoch)
	buf = binary.AppendVarint(buf, c.LeaseMs)
	buf = binary.AppendUvarint(buf, c.RenewedAt)

	names := make([]string, 0, len(img.Topics))
	for name := range img.Topics {
		names = append(names, name)
	}
	sort.Strings(names)
	buf = binary.AppendUvarint(buf, uint64(len(names)))
	for _, name := range names {
		t := img.Topics[name]
		buf = appendString(buf, t.Name)
		buf = appendString(buf, t.ID)
		keys := make([]string, 0, len(t.Configs))
		for k := range t.Configs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf = binary.AppendUvarint(buf, uint64(len(keys)))
		for _, k := range keys {
			buf = appendString(buf, k)
			buf = appendString(buf, t.Configs[k])
		}
		buf = binary.AppendUvarint(buf, uint64(len(t.Partitions)))
		for _, p := range t.Partitions {
			buf = appendIDs(buf, p.Replicas)
			buf = binary.AppendVarint(buf, int64(p.Leader))
			buf = binary.AppendVarint(buf, int64(p.LeaderEpoch))
			buf = appendIDs(buf, p.ISR)
			buf = binary.AppendVarint(buf, int64(p.PartitionEpoch))
		}
	}

	owned := make([]int32, 0, len(img.OffsetsOwners))
	for p := range img.OffsetsOwners {
		owned = append(owned, p)
	}
	sort.Slice(owned, func(i, j int) bool { return owned[i] < owned[j] })
	buf = binary.AppendUvarint(buf, uint64(len(owned)))
	for _, p := range owned {
		o := img.OffsetsOwners[p]
		buf = binary.AppendVarint(buf, int64(p))
		buf = appendString(buf, o.Coordinator)
		buf = appendString(buf, o.Addr)
		buf = binary.AppendVarint(buf, o.Epoch)
	}
	buf = binary.AppendVarint(buf, img.NextProducerID)
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func appendBool(buf []byte, v bool) []byte {
	if v {
		return append(buf, 1)
	}
	return append(buf, 0)
}

func appendIDs(buf []byte, ids []int32) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(ids)))
	for _, id := range ids {
		buf = binary.AppendVarint(buf, int64(id))
	}
	return buf
}

// decoder reads a snapshot body; the first error sticks and later reads
// return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrCorruptSnapshot, what)
	}
	d.b = nil
}

func (d *decoder) uvarint(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int32(what string) int32 {
	v := d.varint(what)
	if int64(int32(v)) != v {
		d.fail(what)
		return 0
	}
	return int32(v)
}

// count reads a length that must not exceed the bytes left (each element
// takes at least one byte).
func (d *decoder) count(what string) int {
	v := d.uvarint(what)
	if v > uint64(len(d.b)) {
		d.fail(what)
		return 0
	}
	return int(v)
}

func (d *decoder) string(what string) string {
	n := d.count(what)
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) bool(what string) bool {
	if len(d.b) == 0 || d.b[0] > 1 {
		d.fail(what)
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

// ids reads a node id list into slab, returning the list (capacity-capped,
// never nil) and the slab after it.
func (d *decoder) ids(what string, slab []int32) ([]int32, []int32) {
	n := d.count(what)
	start := len(slab)
	for i := 0; i < n; i++ {
		slab = append(slab, d.int32(what))
	}
	if d.err != nil {
		return []int32{}, slab
	}
	return slab[start:len(slab):len(slab)], slab
}

func decodeSnapshot(data []byte) (*wire.Image, uint64, error) {
	if len(data) < len(snapshotMagic)+4 || string(data[:len(snapshotMagic)]) != snapshotMagic {
		return nil, 0, fmt.Errorf("%w: bad magic", ErrCorruptSnapshot)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, 0, fmt.Errorf("%w: checksum mismatch", ErrCorruptSnapshot)
	}
	d := &decoder{b: body[len(snapshotMagic):]}
	applied := d.uvarint("applied index")
	img := emptyImage("")
	img.Version = d.uvarint("version")
	img.ClusterID = d.string("cluster id")

	for n := d.count("node count"); n > 0 && d.err == nil; n-- {
		rec := &wire.NodeRecord{
			ID:          d.int32("node id"),
			Addr:        d.string("node addr"),
			GossipAddr:  d.string("node gossip addr"),
			Rack:        d.string("node rack"),
			Incarnation: d.varint("node incarnation"),
			Fenced:      d.bool("node fenced"),
		}
		if _, dup := img.Nodes[rec.ID]; dup {
			d.fail("duplicate node")
		}
		img.Nodes[rec.ID] = rec
	}

	img.Controller = wire.ControllerLease{
		Holder:    d.string("lease holder"),
		Addr:      d.string("lease addr"),
		Epoch:     d.varint("lease epoch"),
		LeaseMs:   d.varint("lease ms"),
		RenewedAt: d.uvarint("lease renewed at"),
	}

	for n := d.count("topic count"); n > 0 && d.err == nil; n-- {
		t := &wire.TopicRecord{Name: d.string("topic name"), ID: d.string("topic id")}
		if nc := d.count("config count"); nc > 0 {
			t.Configs = make(map[string]string, nc)
			for ; nc > 0 && d.err == nil; nc-- {
				k := d.string("config key")
				t.Configs[k] = d.string("config value")
			}
		}
		np := d.count("partition count")
		recs := make([]wire.PartitionRecord, np)
		t.Partitions = make([]*wire.PartitionRecord, np)
		slab := make([]int32, 0, 6*np)
		for i := 0; i < np && d.err == nil; i++ {
			p := &recs[i]
			p.Partition = int32(i)
			p.Replicas, slab = d.ids("replicas", slab)
			p.Leader = d.int32("leader")
			p.LeaderEpoch = d.int32("leader epoch")
			p.ISR, slab = d.ids("isr", slab)
			p.PartitionEpoch = d.int32("partition epoch")
			t.Partitions[i] = p
		}
		if _, dup := img.Topics[t.Name]; dup {
			d.fail("duplicate topic")
		}
		img.Topics[t.Name] = t
	}

	for n := d.count("owner count"); n > 0 && d.err == nil; n-- {
		p := d.int32("offsets partition")
		img.OffsetsOwners[p] = &wire.OffsetsOwner{
			Coordinator: d.string("owner coordinator"),
			Addr:        d.string("owner addr"),
			Epoch:       d.varint("owner epoch"),
		}
	}
	img.NextProducerID = d.varint("next producer id")
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, 0, d.err
	}
	return img, applied, nil
}
