package routing

import (
	"context"

	"strand.dev/client/wire"
)

// Leader is where a partition is led.
type Leader struct {
	ID    int32
	Addr  string
	Epoch int32
}

// Topic returns the topic's metadata. An unknown topic is reported, after
// one refresh, as a *wire.Error of code UNKNOWN_TOPIC_OR_PARTITION.
func (r *Router) Topic(ctx context.Context, topic string) (*wire.TopicMetadata, error) {
	md, err := r.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	if t, ok := md.Topic(topic); ok {
		return t, nil
	}
	if md, err = r.Refresh(ctx); err != nil {
		return nil, err
	}
	if t, ok := md.Topic(topic); ok {
		return t, nil
	}
	return nil, wire.Errorf(wire.CodeUnknownTopicOrPartition, "topic %q does not exist", topic)
}

// LeaderOf returns the leader of a partition from the cached metadata (no
// refresh beyond what Metadata does). A partition without a leader, or led by
// a node the metadata does not list, is LEADER_NOT_AVAILABLE; an unknown
// topic or partition is UNKNOWN_TOPIC_OR_PARTITION. Both are retriable.
func (r *Router) LeaderOf(ctx context.Context, topic string, partition int32) (Leader, error) {
	md, err := r.Metadata(ctx)
	if err != nil {
		return Leader{}, err
	}
	return leaderIn(md, topic, partition)
}

func leaderIn(md *wire.Metadata, topic string, partition int32) (Leader, error) {
	t, ok := md.Topic(topic)
	if !ok {
		return Leader{}, wire.Errorf(wire.CodeUnknownTopicOrPartition, "topic %q does not exist", topic)
	}
	for _, p := range t.Partitions {
		if p.Partition != partition {
			continue
		}
		if p.Leader < 0 {
			return Leader{}, wire.Errorf(wire.CodeLeaderNotAvailable, "%s-%d has no leader", topic, partition)
		}
		n, ok := md.Node(p.Leader)
		if !ok || n.Addr == "" {
			return Leader{}, wire.Errorf(wire.CodeLeaderNotAvailable, "%s-%d: leader %d is not among the known nodes", topic, partition, p.Leader)
		}
		return Leader{ID: p.Leader, Addr: n.Addr, Epoch: p.LeaderEpoch}, nil
	}
	return Leader{}, wire.Errorf(wire.CodeUnknownTopicOrPartition, "topic %q has no partition %d", topic, partition)
}

// ControllerAddr returns where admin requests go. With no active controller
// it refreshes once; if there is still none the error is NOT_CONTROLLER
// (retriable).
func (r *Router) ControllerAddr(ctx context.Context) (string, error) {
	md, err := r.Metadata(ctx)
	if err != nil {
		return "", err
	}
	if md.ControllerAddr != "" {
		return md.ControllerAddr, nil
	}
	if md, err = r.Refresh(ctx); err != nil {
		return "", err
	}
	if md.ControllerAddr != "" {
		return md.ControllerAddr, nil
	}
	return "", wire.Errorf(wire.CodeNotController, "no active controller is known (the cluster has none right now)")
}
