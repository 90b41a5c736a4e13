package metastate

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"maps"
	"strconv"

	"strand.dev/client/wire"
)

// createTopic adds a topic with the controller's replica placement. Every
// replica must be a registered node. Each partition starts with its
// unfenced replicas as ISR and the first of them as leader (Replicas[0] when
// every replica is unfenced, as at a normal creation), epochs 0: a replica
// fenced between placement and apply starts out of sync, never as leader.
func (b *builder) createTopic(c *wire.CreateTopicCmd) error {
	if err := b.checkController(c.ControllerEpoch); err != nil {
		return err
	}
	in := &c.Topic
	if b.topic(in.Name) != nil {
		return wire.Errorf(wire.CodeTopicAlreadyExists, "topic %q already exists", in.Name)
	}
	id := in.ID
	if id == "" {
		id = b.deriveTopicID(in.Name)
	}
	for _, t := range b.img.Topics {
		if t.ID == id {
			return wire.Errorf(wire.CodeInvalidRequest, "topic id %q is already the id of topic %q", id, t.Name)
		}
	}
	n := len(in.Partitions)
	// One slab of records and one of node ids per topic keep a large
	// creation to a handful of allocations.
	recs := make([]wire.PartitionRecord, n)
	slab := make([]int32, 0, 2*n*len(in.Partitions[0].Replicas))
	t := &wire.TopicRecord{Name: in.Name, ID: id, Partitions: make([]*wire.PartitionRecord, n)}
	if len(in.Configs) > 0 {
		t.Configs = maps.Clone(in.Configs)
	}
	for i, p := range in.Partitions {
		for _, r := range p.Replicas {
			if b.node(r) == nil {
				return wire.Errorf(wire.CodeInvalidRequest, "partition %s: replica %d is not a registered node", partitionName(in.Name, int32(i)), r)
			}
		}
		start := len(slab)
		slab = append(slab, p.Replicas...)
		replicas := slab[start:len(slab):len(slab)]
		start = len(slab)
		leader := int32(-1)
		for _, r := range p.Replicas {
			if !b.node(r).Fenced {
				slab = append(slab, r)
				if leader < 0 {
					leader = r
				}
			}
		}
		isr := slab[start:len(slab):len(slab)]
		recs[i] = wire.PartitionRecord{Partition: int32(i), Replicas: replicas, Leader: leader, ISR: isr}
		t.Partitions[i] = &recs[i]
	}
	b.putTopic(t)
	return nil
}

// deriveTopicID makes a topic id from the cluster id, the topic name and the
// image version the topic is created at: deterministic, and different for
// every creation (a re-created topic gets a new id). 16 bytes of SHA-256,
// base64url without padding, like Kafka's topic ids.
func (b *builder) deriveTopicID(name string) string {
	h := sha256.New()
	h.Write([]byte(b.img.ClusterID))
	h.Write([]byte{0})
	h.Write([]byte(name))
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], b.version)
	h.Write(v[:])
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// deleteTopic removes a topic (controller only).
func (b *builder) deleteTopic(c *wire.DeleteTopicCmd) error {
	if err := b.checkController(c.ControllerEpoch); err != nil {
		return err
	}
	if b.topic(c.Name) == nil {
		return wire.Errorf(wire.CodeUnknownTopicOrPartition, "topic %q does not exist", c.Name)
	}
	b.removeTopic(c.Name)
	return nil
}

// alterTopicConfigs sets and deletes configs (controller only).
func (b *builder) alterTopicConfigs(c *wire.AlterTopicConfigsCmd) error {
	if err := b.checkController(c.ControllerEpoch); err != nil {
		return err
	}
	if b.topic(c.Name) == nil {
		return wire.Errorf(wire.CodeUnknownTopicOrPartition, "topic %q does not exist", c.Name)
	}
	t := b.mutTopic(c.Name)
	cfg := maps.Clone(t.Configs)
	if cfg == nil {
		cfg = map[string]string{}
	}
	maps.Copy(cfg, c.Set)
	for _, k := range c.Delete {
		delete(cfg, k)
	}
	if len(cfg) > MaxConfigs {
		return wire.Errorf(wire.CodeInvalidConfig, "topic %q would have %d configs, the limit is %d", c.Name, len(cfg), MaxConfigs)
	}
	if len(cfg) == 0 {
		cfg = nil
	}
	t.Configs = cfg
	return nil
}

// partitionName is "topic-partition".
func partitionName(topic string, p int32) string {
	return topic + "-" + strconv.Itoa(int(p))
}
