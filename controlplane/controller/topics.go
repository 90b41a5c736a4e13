package controller

import (
	"context"
	"errors"
	"sort"

	"strand.dev/client/wire"
	"strand.dev/controlplane/metastate"
	"strand.dev/controlplane/placement"
)

// createTopic validates the request, places the replicas over the live data
// nodes and writes the topic; it answers the topic as the image has it.
func (c *Controller) createTopic(ctx context.Context, req wire.CreateTopicRequest) (*wire.TopicMetadata, error) {
	if err := wire.ValidateTopicName(req.Topic); err != nil {
		return nil, err
	}
	if req.Partitions < 1 || int(req.Partitions) > c.cfg.MaxPartitionsPerTopic {
		return nil, wire.Errorf(wire.CodeInvalidPartitions, "the number of partitions must be 1 to %d, got %d", c.cfg.MaxPartitionsPerTopic, req.Partitions)
	}
	rf := int(req.ReplicationFactor)
	if rf == 0 {
		rf = c.cfg.DefaultReplicationFactor
	}
	if rf < 1 {
		return nil, wire.Errorf(wire.CodeInvalidReplicationFactor, "the replication factor must be at least 1, got %d", req.ReplicationFactor)
	}
	if err := metastate.ValidateTopicConfigs(req.Configs); err != nil {
		return nil, err
	}
	img := c.image()
	if img == nil {
		return nil, wire.Errorf(wire.CodeNotController, "the controller has no metadata image yet")
	}
	if _, ok := img.Topics[req.Topic]; ok {
		return nil, wire.Errorf(wire.CodeTopicAlreadyExists, "topic %q already exists", req.Topic)
	}
	nodes := c.placeableNodes(img)
	assignment, err := placement.Place(nodes, int(req.Partitions), rf, placement.LoadOf(img))
	if err != nil {
		return nil, err
	}
	rec := wire.TopicRecord{Name: req.Topic, Configs: req.Configs}
	for p, reps := range assignment {
		rec.Partitions = append(rec.Partitions, &wire.PartitionRecord{Partition: int32(p), Replicas: reps})
	}
	resp, err := c.write(ctx, func(epoch int64) *wire.Command {
		return &wire.Command{Type: wire.CmdCreateTopic, CreateTopic: &wire.CreateTopicCmd{ControllerEpoch: epoch, Topic: rec}}
	})
	var version uint64
	switch {
	case err == nil:
		version = resp.Version
	case errors.Is(err, &wire.Error{Code: wire.CodeTopicAlreadyExists}):
		// A retried proposal whose first attempt landed: ours if the
		// assignment is the one we chose.
		cur, ierr := c.meta.Image(ctx, false)
		if ierr != nil || !sameAssignment(cur.Topics[req.Topic], assignment) {
			return nil, err
		}
		c.setImage(cur)
		version = cur.Version
	default:
		return nil, c.writeErr(err)
	}
	c.logger.Info("topic created", "topic", req.Topic, "partitions", req.Partitions, "replication_factor", rf)
	img, err = c.waitImage(ctx, func(img *wire.Image) bool { return img.Version >= version })
	if err != nil {
		return nil, wire.Errorf(wire.CodeRequestTimedOut, "topic %q created at version %d, but the image did not arrive: %v", req.Topic, version, err)
	}
	t := img.Topics[req.Topic]
	if t == nil {
		return nil, wire.Errorf(wire.CodeUnknownTopicOrPartition, "topic %q was created and is gone already", req.Topic)
	}
	md := topicMetadata(t)
	return &md, nil
}

// deleteTopic removes a topic; the data nodes delete its data when they see
// the image without it.
func (c *Controller) deleteTopic(ctx context.Context, name string) (*wire.DeleteTopicResponse, error) {
	img := c.image()
	if img == nil {
		return nil, wire.Errorf(wire.CodeNotController, "the controller has no metadata image yet")
	}
	t := img.Topics[name]
	if t == nil {
		return nil, wire.Errorf(wire.CodeUnknownTopicOrPartition, "topic %q does not exist", name)
	}
	resp, err := c.write(ctx, func(epoch int64) *wire.Command {
		return &wire.Command{Type: wire.CmdDeleteTopic, DeleteTopic: &wire.DeleteTopicCmd{ControllerEpoch: epoch, Name: name}}
	})
	if err != nil {
		return nil, c.writeErr(err)
	}
	c.logger.Info("topic deleted", "topic", name)
	return &wire.DeleteTopicResponse{Topic: name, ID: t.ID, Version: resp.Version}, nil
}

// alterConfigs sets and deletes topic configs.
func (c *Controller) alterConfigs(ctx context.Context, req wire.AlterConfigsRequest) (*wire.TopicMetadata, error) {
	if err := metastate.ValidateTopicConfigs(req.Set); err != nil {
		return nil, err
	}
	for _, k := range req.Delete {
		if !metastate.KnownTopicConfig(k) {
			return nil, wire.Errorf(wire.CodeInvalidConfig, "unknown topic config %q", k)
		}
	}
	img := c.image()
	if img == nil {
		return nil, wire.Errorf(wire.CodeNotController, "the controller has no metadata image yet")
	}
	if img.Topics[req.Topic] == nil {
		return nil, wire.Errorf(wire.CodeUnknownTopicOrPartition, "topic %q does not exist", req.Topic)
	}
	resp, err := c.write(ctx, func(epoch int64) *wire.Command {
		return &wire.Command{Type: wire.CmdAlterTopicConfigs, AlterTopicConfigs: &wire.AlterTopicConfigsCmd{
			ControllerEpoch: epoch, Name: req.Topic, Set: req.Set, Delete: req.Delete,
		}}
	})
	if err != nil {
		return nil, c.writeErr(err)
	}
	img, err = c.waitImage(ctx, func(img *wire.Image) bool { return img.Version >= resp.Version })
	if err != nil {
		return nil, wire.Errorf(wire.CodeRequestTimedOut, "configs altered at version %d, but the image did not arrive: %v", resp.Version, err)
	}
	t := img.Topics[req.Topic]
	if t == nil {
		return nil, wire.Errorf(wire.CodeUnknownTopicOrPartition, "topic %q is gone", req.Topic)
	}
	md := topicMetadata(t)
	return &md, nil
}

// writeErr turns a local refusal into NOT_CONTROLLER.
func (c *Controller) writeErr(err error) error {
	if errors.Is(err, errNotActive) || errors.Is(err, wire.ErrStaleControllerEpoch) {
		return wire.Errorf(wire.CodeNotController, "%s is no longer the active controller: %v", c.cfg.ID, err)
	}
	return err
}

// placeableNodes are the registered, unfenced data nodes gossip sees alive
// and that are not in controlled shutdown.
func (c *Controller) placeableNodes(img *wire.Image) []placement.Node {
	live := c.liveDataNodes()
	down := c.shuttingDown(img)
	var out []placement.Node
	for id, n := range img.Nodes {
		if !n.Fenced && live[id] && !down[id] {
			out = append(out, placement.Node{ID: id, Rack: n.Rack})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func sameAssignment(t *wire.TopicRecord, assignment [][]int32) bool {
	if t == nil || len(t.Partitions) != len(assignment) {
		return false
	}
	for i, p := range t.Partitions {
		if len(p.Replicas) != len(assignment[i]) {
			return false
		}
		for j := range p.Replicas {
			if p.Replicas[j] != assignment[i][j] {
				return false
			}
		}
	}
	return true
}

// topicMetadata is the routing view of a topic record.
func topicMetadata(t *wire.TopicRecord) wire.TopicMetadata {
	md := wire.TopicMetadata{Name: t.Name, ID: t.ID, Configs: t.Configs}
	for _, p := range t.Partitions {
		md.Partitions = append(md.Partitions, wire.PartitionMetadata{
			Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: p.Replicas, ISR: p.ISR,
		})
	}
	return md
}
