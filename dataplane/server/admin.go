package server

import (
	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
)

// metadata answers the node's view of the cluster: GET PathMetadata.
func (a *api) metadata(ctx *fasthttp.RequestCtx) error {
	if err := method(ctx, fasthttp.MethodGet); err != nil {
		return err
	}
	return writeJSON(ctx, a.meta.Metadata())
}

// adminPartitions lists the partitions this node holds: GET
// PathAdminPartitions.
func (a *api) adminPartitions(ctx *fasthttp.RequestCtx) error {
	if err := method(ctx, fasthttp.MethodGet); err != nil {
		return err
	}
	parts := a.rm.Partitions()
	out := wire.LocalPartitionsResponse{NodeID: a.nodeID, Partitions: make([]wire.LocalPartition, 0, len(parts))}
	for _, p := range parts {
		info := p.Info()
		out.Partitions = append(out.Partitions, wire.LocalPartition{
			Topic:          info.Topic,
			Partition:      info.Partition,
			LogStartOffset: info.LogStartOffset,
			LogEndOffset:   info.LogEndOffset,
			HighWatermark:  info.HighWatermark,
			Segments:       info.Stats.Segments,
			SizeBytes:      info.Stats.SizeBytes,
			Leader:         info.Leader,
			LeaderEpoch:    info.LeaderEpoch,
		})
	}
	return writeJSON(ctx, out)
}

// notController is the answer to admin requests on a node that does not
// serve them.
func (a *api) notController() error {
	e := wire.Errorf(wire.CodeNotController, "this data node does not serve admin requests; send them to the controller")
	if md := a.meta.Metadata(); md.ControllerAddr != "" {
		e.LeaderAddr = md.ControllerAddr
	}
	return e
}

// adminTopics creates (POST, CreateTopicRequest) and deletes (DELETE
// ?topic=NAME) topics: PathAdminTopics.
func (a *api) adminTopics(ctx *fasthttp.RequestCtx) error {
	if err := method(ctx, fasthttp.MethodPost, fasthttp.MethodDelete); err != nil {
		return err
	}
	if a.admin == nil {
		return a.notController()
	}
	if ctx.IsDelete() {
		q, err := parseQuery(ctx.QueryArgs())
		if err != nil {
			return err
		}
		name, ok := q.str(wire.ParamTopic)
		if !ok {
			return wire.Errorf(wire.CodeInvalidRequest, "query parameter %s is missing", wire.ParamTopic)
		}
		md, err := a.admin.DeleteTopic(name)
		if err != nil {
			return err
		}
		return writeJSON(ctx, md)
	}
	var req wire.CreateTopicRequest
	if err := decodeJSON(ctx.PostBody(), &req); err != nil {
		return err
	}
	md, err := a.admin.CreateTopic(req)
	if err != nil {
		return err
	}
	return writeJSON(ctx, md)
}

// adminConfigs alters a topic's configs: POST PathAdminConfigs.
func (a *api) adminConfigs(ctx *fasthttp.RequestCtx) error {
	if err := method(ctx, fasthttp.MethodPost); err != nil {
		return err
	}
	if a.admin == nil {
		return a.notController()
	}
	var req wire.AlterConfigsRequest
	if err := decodeJSON(ctx.PostBody(), &req); err != nil {
		return err
	}
	md, err := a.admin.AlterConfigs(req)
	if err != nil {
		return err
	}
	return writeJSON(ctx, md)
}
