package metastate

import (
	"maps"

	"strand.dev/client/wire"
)

// builder derives the next image from a base image by copy-on-write. The base
// and everything reachable from it is never written: a map, a topic record or
// a partition record is copied the first time the command changes it, and
// later changes in the same command go to that copy. A builder is used by one
// goroutine for one command and then dropped (discarding it is how a rejected
// command leaves no trace).
type builder struct {
	base *wire.Image
	img  *wire.Image // shallow copy of base; its maps are base's until copied
	// version is the version the image will have if the command is accepted.
	version uint64

	nodesCopied  bool
	topicsCopied bool
	ownersCopied bool
	// freshTopics are topic records created by this builder (safe to modify).
	freshTopics map[*wire.TopicRecord]struct{}
	// freshParts are partition records created by this builder.
	freshParts map[*wire.PartitionRecord]struct{}
	// freshNodes are node records created by this builder.
	freshNodes map[*wire.NodeRecord]struct{}
}

func newBuilder(base *wire.Image) *builder {
	img := *base
	return &builder{base: base, img: &img, version: base.Version + 1}
}

// finish stamps the new version and returns the image.
func (b *builder) finish() *wire.Image {
	b.img.Version = b.version
	return b.img
}

// node returns the node record (read only), or nil.
func (b *builder) node(id int32) *wire.NodeRecord { return b.img.Nodes[id] }

// putNode stores a node record the builder owns.
func (b *builder) putNode(n *wire.NodeRecord) {
	b.copyNodes()
	b.img.Nodes[n.ID] = n
	b.markNode(n)
}

// mutNode returns a writable copy of a node record, or nil if it is unknown.
func (b *builder) mutNode(id int32) *wire.NodeRecord {
	n := b.img.Nodes[id]
	if n == nil {
		return nil
	}
	if _, ok := b.freshNodes[n]; ok {
		return n
	}
	cp := *n
	b.putNode(&cp)
	return &cp
}

func (b *builder) removeNode(id int32) {
	b.copyNodes()
	delete(b.img.Nodes, id)
}

func (b *builder) markNode(n *wire.NodeRecord) {
	if b.freshNodes == nil {
		b.freshNodes = map[*wire.NodeRecord]struct{}{}
	}
	b.freshNodes[n] = struct{}{}
}

func (b *builder) copyNodes() {
	if !b.nodesCopied {
		b.img.Nodes = maps.Clone(b.base.Nodes)
		if b.img.Nodes == nil {
			b.img.Nodes = map[int32]*wire.NodeRecord{}
		}
		b.nodesCopied = true
	}
}

// topic returns the topic record (read only), or nil.
func (b *builder) topic(name string) *wire.TopicRecord { return b.img.Topics[name] }

func (b *builder) copyTopics() {
	if !b.topicsCopied {
		b.img.Topics = maps.Clone(b.base.Topics)
		if b.img.Topics == nil {
			b.img.Topics = map[string]*wire.TopicRecord{}
		}
		b.topicsCopied = true
	}
}

// putTopic stores a topic record the builder owns (with partition records it
// owns too).
func (b *builder) putTopic(t *wire.TopicRecord) {
	b.copyTopics()
	b.img.Topics[t.Name] = t
	b.markTopic(t)
	for _, p := range t.Partitions {
		b.markPart(p)
	}
}

func (b *builder) removeTopic(name string) {
	b.copyTopics()
	delete(b.img.Topics, name)
}

// mutTopic returns a writable shallow copy of the topic record: its
// Partitions slice is a new slice of the same partition pointers, its Configs
// map is shared until the caller replaces it.
func (b *builder) mutTopic(name string) *wire.TopicRecord {
	t := b.img.Topics[name]
	if t == nil {
		return nil
	}
	if _, ok := b.freshTopics[t]; ok {
		return t
	}
	cp := *t
	cp.Partitions = append([]*wire.PartitionRecord(nil), t.Partitions...)
	b.copyTopics()
	b.img.Topics[name] = &cp
	b.markTopic(&cp)
	return &cp
}

func (b *builder) markTopic(t *wire.TopicRecord) {
	if b.freshTopics == nil {
		b.freshTopics = map[*wire.TopicRecord]struct{}{}
	}
	b.freshTopics[t] = struct{}{}
}

// partition returns the partition record (read only), or nil.
func (b *builder) partition(topic string, p int32) *wire.PartitionRecord {
	t := b.img.Topics[topic]
	if t == nil || p < 0 || int(p) >= len(t.Partitions) {
		return nil
	}
	return t.Partitions[p]
}

// mutPartition returns a writable copy of the partition record, or nil if it
// is unknown. Its Replicas and ISR slices are shared with the original: the
// caller assigns new slices and never writes into them.
func (b *builder) mutPartition(topic string, p int32) *wire.PartitionRecord {
	if b.partition(topic, p) == nil {
		return nil
	}
	t := b.mutTopic(topic)
	pr := t.Partitions[p]
	if _, ok := b.freshParts[pr]; ok {
		return pr
	}
	cp := *pr
	t.Partitions[p] = &cp
	b.markPart(&cp)
	return &cp
}

func (b *builder) markPart(p *wire.PartitionRecord) {
	if b.freshParts == nil {
		b.freshParts = map[*wire.PartitionRecord]struct{}{}
	}
	b.freshParts[p] = struct{}{}
}

// owner returns an offsets-partition owner record (read only), or nil.
func (b *builder) owner(p int32) *wire.OffsetsOwner { return b.img.OffsetsOwners[p] }

// putOwner stores a new owner record.
func (b *builder) putOwner(p int32, o *wire.OffsetsOwner) {
	if !b.ownersCopied {
		b.img.OffsetsOwners = maps.Clone(b.base.OffsetsOwners)
		if b.img.OffsetsOwners == nil {
			b.img.OffsetsOwners = map[int32]*wire.OffsetsOwner{}
		}
		b.ownersCopied = true
	}
	b.img.OffsetsOwners[p] = o
}
