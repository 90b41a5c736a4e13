package server

import (
	"slices"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
	"strand.dev/coordinator/group"
	"strand.dev/coordinator/offsets"
)

// commit answers PathGroupCommit once the offsets are durable.
func (s *Server) commit(ctx *fasthttp.RequestCtx) (any, error) {
	var req wire.OffsetCommitRequest
	if err := decode(ctx, &req); err != nil {
		return nil, err
	}
	pt, err := s.route(req.GroupID)
	if err != nil {
		return nil, err
	}
	tps, err := s.validateCommits(req.GroupID, req.Offsets)
	if err != nil {
		return nil, err
	}
	outside := req.MemberID == "" && req.Generation < 0
	now := s.cfg.Now().UnixMilli()
	recs := make([]recordbatch.Record, 0, len(req.Offsets))
	vals := make([]offsets.OffsetValue, 0, len(req.Offsets))
	for _, o := range req.Offsets {
		v := offsets.OffsetValue{Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata, CommitTimestampMs: now}
		vals = append(vals, v)
		recs = append(recs, recordbatch.Record{Key: offsets.OffsetKey(req.GroupID, o.Topic, o.Partition).Encode(), Value: v.Encode(), Timestamp: now})
	}
	w := newWrite(recs)
	e := pt.lockLive(req.GroupID, outside)
	if e == nil {
		return nil, wire.Errorf(wire.CodeUnknownMember, "group %q has no member %q", req.GroupID, req.MemberID)
	}
	if err := e.g.CheckCommit(req.MemberID, req.GroupInstanceID, req.Generation, tps); err != nil {
		e.mu.Unlock()
		return nil, err
	}
	e.seq++
	seq := e.seq
	err = pt.writerFor(req.GroupID).submit(s.stopCtx, pt.stop, w)
	e.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := w.wait(s.stopCtx); err != nil {
		return nil, err
	}
	e.mu.Lock()
	for i, tp := range tps {
		if cur, ok := e.offsets[tp]; !ok || cur.seq < seq {
			e.offsets[tp] = committed{OffsetValue: vals[i], seq: seq}
		}
	}
	e.mu.Unlock()
	if err := s.stillServing(pt); err != nil {
		return nil, err
	}
	s.met.commits.Add(float64(len(tps)))
	return wire.OffsetCommitResponse{Committed: len(tps), CommitTimestampMs: now}, nil
}

// validateCommits checks each offset against the topics and limits; the
// request is refused whole on the first problem.
func (s *Server) validateCommits(groupID string, offs []wire.OffsetCommit) ([]group.TopicPartition, error) {
	if len(offs) == 0 {
		return nil, wire.Errorf(wire.CodeInvalidRequest, "group %q: the commit names no partition", groupID)
	}
	counts := s.view.Counts()
	seen := make(map[group.TopicPartition]bool, len(offs))
	tps := make([]group.TopicPartition, 0, len(offs))
	for _, o := range offs {
		n, ok := counts[o.Topic]
		if !ok || o.Partition < 0 || o.Partition >= n {
			return nil, wire.Errorf(wire.CodeUnknownTopicOrPartition, "group %q: commit for %s-%d, which does not exist", groupID, o.Topic, o.Partition)
		}
		if o.Offset < 0 {
			return nil, wire.Errorf(wire.CodeInvalidRequest, "group %q: commit of offset %d for %s-%d: offsets are not negative", groupID, o.Offset, o.Topic, o.Partition)
		}
		if len(o.Metadata) > s.cfg.MaxOffsetMetadataBytes {
			return nil, wire.Errorf(wire.CodeOffsetMetadataTooLarge, "group %q: metadata of %s-%d is %d bytes, the limit (offset.metadata.max.bytes) is %d", groupID, o.Topic, o.Partition, len(o.Metadata), s.cfg.MaxOffsetMetadataBytes)
		}
		tp := group.TopicPartition{Topic: o.Topic, Partition: o.Partition}
		if seen[tp] {
			return nil, wire.Errorf(wire.CodeInvalidRequest, "group %q: %s-%d appears twice in one commit", groupID, o.Topic, o.Partition)
		}
		seen[tp] = true
		tps = append(tps, tp)
	}
	return tps, nil
}

// fetchOffsets answers PathGroupOffsetsFetch.
func (s *Server) fetchOffsets(ctx *fasthttp.RequestCtx) (any, error) {
	var req wire.OffsetFetchRequest
	if err := decode(ctx, &req); err != nil {
		return nil, err
	}
	pt, err := s.route(req.GroupID)
	if err != nil {
		return nil, err
	}
	out := wire.OffsetFetchResponse{GroupID: req.GroupID, Offsets: []wire.CommittedOffset{}}
	e := pt.entry(req.GroupID, false)
	var have map[group.TopicPartition]committed
	if e != nil {
		e.mu.Lock()
		have = make(map[group.TopicPartition]committed, len(e.offsets))
		for tp, c := range e.offsets {
			have[tp] = c
		}
		e.mu.Unlock()
	}
	answer := func(tp group.TopicPartition) wire.CommittedOffset {
		c, ok := have[tp]
		if !ok {
			return wire.CommittedOffset{Topic: tp.Topic, Partition: tp.Partition, Offset: wire.NoOffset, LeaderEpoch: -1}
		}
		return wire.CommittedOffset{Topic: tp.Topic, Partition: tp.Partition, Offset: c.Offset, LeaderEpoch: c.LeaderEpoch,
			Metadata: c.Metadata, CommitTimestampMs: c.CommitTimestampMs}
	}
	switch {
	case req.Topics == nil:
		for tp := range have {
			out.Offsets = append(out.Offsets, answer(tp))
		}
	default:
		counts := s.view.Counts()
		for _, t := range req.Topics {
			parts := t.Partitions
			if len(parts) == 0 {
				for p := range counts[t.Topic] {
					parts = append(parts, p)
				}
				for tp := range have {
					if tp.Topic == t.Topic && !slices.Contains(parts, tp.Partition) {
						parts = append(parts, tp.Partition)
					}
				}
			}
			for _, p := range parts {
				out.Offsets = append(out.Offsets, answer(group.TopicPartition{Topic: t.Topic, Partition: p}))
			}
		}
	}
	sortOffsets(out.Offsets)
	return out, s.stillServing(pt)
}

func sortOffsets(o []wire.CommittedOffset) {
	slices.SortFunc(o, func(a, b wire.CommittedOffset) int {
		return group.TopicPartition{Topic: a.Topic, Partition: a.Partition}.Compare(group.TopicPartition{Topic: b.Topic, Partition: b.Partition})
	})
}

// resetOffsets answers PathGroupResetOffsets: only for a group without
// members.
func (s *Server) resetOffsets(ctx *fasthttp.RequestCtx) (any, error) {
	var req wire.ResetOffsetsRequest
	if err := decode(ctx, &req); err != nil {
		return nil, err
	}
	pt, err := s.route(req.GroupID)
	if err != nil {
		return nil, err
	}
	n, ok := s.view.Counts()[req.Topic]
	if !ok {
		return nil, wire.Errorf(wire.CodeUnknownTopicOrPartition, "topic %q does not exist", req.Topic)
	}
	parts := req.Partitions
	if len(parts) == 0 {
		for p := range n {
			parts = append(parts, p)
		}
	}
	for _, p := range parts {
		if p < 0 || p >= n {
			return nil, wire.Errorf(wire.CodeUnknownTopicOrPartition, "%s has no partition %d", req.Topic, p)
		}
	}
	switch req.To {
	case wire.ResetToEarliest, wire.ResetToLatest, wire.ResetToOffset, wire.ResetToDatetime:
	default:
		return nil, wire.Errorf(wire.CodeInvalidRequest, "reset target %q: use %s, %s, %s or %s", req.To, wire.ResetToEarliest, wire.ResetToLatest, wire.ResetToOffset, wire.ResetToDatetime)
	}
	if req.To == wire.ResetToOffset && req.Offset < 0 {
		return nil, wire.Errorf(wire.CodeInvalidRequest, "reset to offset %d: offsets are not negative", req.Offset)
	}
	if req.To == wire.ResetToDatetime && req.TimestampMs < 0 {
		return nil, wire.Errorf(wire.CodeInvalidRequest, "reset to timestamp %d: timestamps are not negative", req.TimestampMs)
	}
	if e := pt.entry(req.GroupID, false); e != nil {
		e.mu.Lock()
		empty := e.g.Empty()
		e.mu.Unlock()
		if !empty {
			return nil, wire.Errorf(wire.CodeNonEmptyGroup, "group %q has members; offsets can be reset only while it is empty", req.GroupID)
		}
	}
	rctx, cancel := s.requestContext(30 * time.Second)
	defer cancel()
	out := wire.ResetOffsetsResponse{GroupID: req.GroupID}
	for _, p := range parts {
		lo, err := s.lc.ListOffset(rctx, req.Topic, p, wire.AtEarliest)
		if err != nil {
			return nil, err
		}
		hi, err := s.lc.ListOffset(rctx, req.Topic, p, wire.AtLatest)
		if err != nil {
			return nil, err
		}
		off := lo
		switch req.To {
		case wire.ResetToLatest:
			off = hi
		case wire.ResetToOffset:
			off = min(max(req.Offset, lo), hi)
		case wire.ResetToDatetime:
			at, err := s.lc.ListOffset(rctx, req.Topic, p, strconv.FormatInt(req.TimestampMs, 10))
			if err != nil {
				return nil, err
			}
			// No record at or after the time: the end, as Kafka does.
			off = hi
			if at >= 0 {
				off = min(max(at, lo), hi)
			}
		}
		out.Offsets = append(out.Offsets, wire.CommittedOffset{Topic: req.Topic, Partition: p, Offset: off, LeaderEpoch: -1})
	}
	if req.DryRun {
		return out, nil
	}
	now := s.cfg.Now().UnixMilli()
	recs := make([]recordbatch.Record, 0, len(out.Offsets))
	for i := range out.Offsets {
		o := &out.Offsets[i]
		o.CommitTimestampMs = now
		v := offsets.OffsetValue{Offset: o.Offset, LeaderEpoch: -1, CommitTimestampMs: now}
		recs = append(recs, recordbatch.Record{Key: offsets.OffsetKey(req.GroupID, o.Topic, o.Partition).Encode(), Value: v.Encode(), Timestamp: now})
	}
	w := newWrite(recs)
	e := pt.lockLive(req.GroupID, true)
	if !e.g.Empty() {
		e.mu.Unlock()
		return nil, wire.Errorf(wire.CodeNonEmptyGroup, "group %q gained members; offsets can be reset only while it is empty", req.GroupID)
	}
	e.seq++
	seq := e.seq
	err = pt.writerFor(req.GroupID).submit(rctx, pt.stop, w)
	e.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := w.wait(rctx); err != nil {
		return nil, err
	}
	e.mu.Lock()
	for _, o := range out.Offsets {
		tp := group.TopicPartition{Topic: o.Topic, Partition: o.Partition}
		if cur, ok := e.offsets[tp]; !ok || cur.seq < seq {
			e.offsets[tp] = committed{OffsetValue: offsets.OffsetValue{Offset: o.Offset, LeaderEpoch: -1, CommitTimestampMs: now}, seq: seq}
		}
	}
	e.mu.Unlock()
	return out, s.stillServing(pt)
}
