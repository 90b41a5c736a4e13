package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"strand.dev/client/internal/transport"
	"strand.dev/client/wire"
)

// Consumer-group administration. Every group request goes to the
// coordinator that owns the group, found by asking any coordinator
// (wire.PathGroupCoordinator); the coordinators' addresses come from the
// cluster metadata (or from the Coordinators option). A coordinator that
// answers NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS (ownership moving
// after a coordinator failed) makes the request go round again.

// Sentinels of the group administration errors, for errors.Is.
var (
	// ErrGroupNotFound: the group does not exist (no members, no committed
	// offsets).
	ErrGroupNotFound = wire.ErrGroupIDNotFound
	// ErrGroupNotEmpty: the group has members; delete and offset resets
	// need an empty group.
	ErrGroupNotEmpty = wire.ErrNonEmptyGroup
	// ErrNoCoordinator: no coordinator is known (none in the cluster
	// metadata and none given with the Coordinators option), or none owns
	// the group's offsets partition yet.
	ErrNoCoordinator = wire.ErrCoordinatorNotAvailable
)

// ListGroups lists the groups of every coordinator, sorted by id. A
// coordinator that did not answer is named in Unreachable (the list may
// then be incomplete); ListGroups fails only when no coordinator answers.
func (a *Admin) ListGroups(ctx context.Context) (*wire.ListGroupsResponse, error) {
	ctx, cancel := a.retryContext(ctx)
	defer cancel()
	var out wire.ListGroupsResponse
	err := a.retry(ctx, "list groups", func(ctx context.Context) error {
		addrs, err := a.coordinators(ctx)
		if err != nil {
			return err
		}
		var errs []error
		for _, addr := range addrs {
			out = wire.ListGroupsResponse{}
			err := a.tr.JSON(ctx, http.MethodGet, addr, wire.PathGroupList, nil, nil, &out)
			if err == nil {
				return nil
			}
			if !transport.Retriable(err) {
				return nonRetriable{err}
			}
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		return nil, err
	}
	if out.Groups == nil {
		out.Groups = []wire.GroupListing{}
	}
	return &out, nil
}

// DescribeGroup returns a group's state, assignor, members (client id,
// host, instance id, assignment) and, per partition, its committed offset,
// log end offset (high watermark) and lag. The coordinator reports the log
// ends; a partition it could not ask is asked here, from its leader, so a
// lag is missing (-1) only when neither could. ErrGroupNotFound for an
// unknown group.
func (a *Admin) DescribeGroup(ctx context.Context, group string) (*wire.GroupDescription, error) {
	if err := wire.ValidateGroupID(group); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set(wire.ParamGroup, group)
	var d wire.GroupDescription
	if err := a.groupCall(ctx, "describe group "+group, group, http.MethodGet, wire.PathGroupDescribe, q, nil, &d, true); err != nil {
		return nil, err
	}
	a.fillLags(ctx, d.Offsets)
	if d.Members == nil {
		d.Members = []wire.MemberDescription{}
	}
	if d.Offsets == nil {
		d.Offsets = []wire.PartitionLag{}
	}
	return &d, nil
}

// fillLags asks the partition leaders for the log end offsets the
// coordinator could not report.
func (a *Admin) fillLags(ctx context.Context, offs []wire.PartitionLag) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range offs {
		o := &offs[i]
		if o.LogEndOffset >= 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			end, err := a.logEnd(ctx, o.Topic, o.Partition)
			if err != nil {
				a.log.Debug("log end offset", "topic", o.Topic, "partition", o.Partition, "err", err)
				return
			}
			o.LogEndOffset = end
			if o.Offset >= 0 {
				o.Lag = max(end-o.Offset, 0)
			}
		}()
	}
	wg.Wait()
}

// logEnd asks a partition's leader for its high watermark.
func (a *Admin) logEnd(ctx context.Context, topic string, p int32) (int64, error) {
	l, err := a.router.LeaderOf(ctx, topic, p)
	if err != nil {
		return 0, err
	}
	or, err := a.tr.ListOffset(ctx, l.Addr, topic, p, wire.AtLatest)
	if err != nil {
		return 0, err
	}
	return or.Offset, nil
}

// DeleteGroup deletes an empty group and its committed offsets, and
// returns how many offsets went. ErrGroupNotEmpty while it has members,
// ErrGroupNotFound when it does not exist.
func (a *Admin) DeleteGroup(ctx context.Context, group string) (int, error) {
	if err := wire.ValidateGroupID(group); err != nil {
		return 0, err
	}
	var out wire.DeleteGroupResponse
	// Not retried once sent: a delete that was applied and is retried
	// would report the group as unknown.
	if err := a.groupCall(ctx, "delete group "+group, group, http.MethodPost, wire.PathGroupDelete, nil, wire.DeleteGroupRequest{GroupID: group}, &out, false); err != nil {
		return 0, err
	}
	return out.OffsetsDeleted, nil
}

// CommittedOffsets returns a group's committed offsets of some topics'
// partitions (every partition of a topic given with no partitions; every
// offset of the group when topics is empty). A partition without a
// committed offset has wire.NoOffset; an unknown group has none.
func (a *Admin) CommittedOffsets(ctx context.Context, group string, topics ...wire.TopicPartitions) ([]wire.CommittedOffset, error) {
	if err := wire.ValidateGroupID(group); err != nil {
		return nil, err
	}
	var out wire.OffsetFetchResponse
	req := wire.OffsetFetchRequest{GroupID: group, Topics: topics}
	if err := a.groupCall(ctx, "fetch offsets of "+group, group, http.MethodPost, wire.PathGroupOffsetsFetch, nil, req, &out, true); err != nil {
		return nil, err
	}
	if out.Offsets == nil {
		out.Offsets = []wire.CommittedOffset{}
	}
	return out.Offsets, nil
}

// OffsetReset says how ResetOffsets moves a group's committed offsets of
// one topic.
type OffsetReset struct {
	Group string
	Topic string
	// Partitions to reset; empty means every partition of the topic.
	Partitions []int32
	// To is wire.ResetToEarliest, wire.ResetToLatest, wire.ResetToOffset
	// (with Offset, clamped to each partition's earliest and latest
	// offsets) or wire.ResetToDatetime (with Time: each partition's first
	// record at or after it, or its end when there is none).
	To     string
	Offset int64
	Time   time.Time
	// DryRun computes the new offsets without committing them.
	DryRun bool
}

// ResetOffsets sets a group's committed offsets of one topic, only while
// the group has no members (ErrGroupNotEmpty otherwise), and returns the
// offsets set (or, with DryRun, that would be set). An unknown topic or a
// partition the topic does not have is ErrUnknownTopic, checked against
// fresh metadata before anything is sent. A group that does not exist yet
// is created with these offsets.
func (a *Admin) ResetOffsets(ctx context.Context, r OffsetReset) ([]wire.CommittedOffset, error) {
	if err := wire.ValidateGroupID(r.Group); err != nil {
		return nil, err
	}
	req := wire.ResetOffsetsRequest{GroupID: r.Group, Topic: r.Topic, Partitions: r.Partitions, To: r.To, DryRun: r.DryRun}
	switch r.To {
	case wire.ResetToEarliest, wire.ResetToLatest:
	case wire.ResetToOffset:
		if r.Offset < 0 {
			return nil, wire.Errorf(wire.CodeInvalidRequest, "reset to offset %d: offsets are not negative", r.Offset)
		}
		req.Offset = r.Offset
	case wire.ResetToDatetime:
		if r.Time.IsZero() || r.Time.UnixMilli() < 0 {
			return nil, wire.Errorf(wire.CodeInvalidRequest, "reset to datetime needs a time after 1970, not %v", r.Time)
		}
		req.TimestampMs = r.Time.UnixMilli()
	default:
		return nil, wire.Errorf(wire.CodeInvalidRequest, "reset target %q: use %s, %s, %s or %s", r.To, wire.ResetToEarliest, wire.ResetToLatest, wire.ResetToOffset, wire.ResetToDatetime)
	}
	if err := a.checkPartitions(ctx, r.Topic, r.Partitions); err != nil {
		return nil, err
	}
	var out wire.ResetOffsetsResponse
	if err := a.groupCall(ctx, "reset offsets of "+r.Group, r.Group, http.MethodPost, wire.PathGroupResetOffsets, nil, req, &out, true); err != nil {
		return nil, err
	}
	if out.Offsets == nil {
		out.Offsets = []wire.CommittedOffset{}
	}
	return out.Offsets, nil
}

// checkPartitions checks that a topic exists and has the partitions named.
func (a *Admin) checkPartitions(ctx context.Context, topic string, parts []int32) error {
	if err := wire.ValidateTopicName(topic); err != nil {
		return err
	}
	ctx, cancel := a.retryContext(ctx)
	defer cancel()
	if _, err := a.Metadata(ctx); err != nil {
		return err
	}
	t, err := a.router.Topic(ctx, topic)
	if err != nil {
		return err
	}
	n := int32(len(t.Partitions))
	seen := map[int32]bool{}
	for _, p := range parts {
		if p < 0 || p >= n {
			return wire.Errorf(wire.CodeUnknownTopicOrPartition, "topic %s has partitions 0 to %d, not %d", topic, n-1, p)
		}
		if seen[p] {
			return wire.Errorf(wire.CodeInvalidRequest, "partition %d named twice", p)
		}
		seen[p] = true
	}
	return nil
}

// coordinators returns the coordinator addresses to ask: the Coordinators
// option's, or the cluster metadata's.
func (a *Admin) coordinators(ctx context.Context) ([]string, error) {
	if len(a.cfg.coordinators) > 0 {
		return a.cfg.coordinators, nil
	}
	md, err := a.router.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	if len(md.Coordinators) == 0 {
		if md, err = a.router.Refresh(ctx); err != nil {
			return nil, err
		}
	}
	if len(md.Coordinators) == 0 && md.Version == 0 && len(md.MetaAddrs) == 0 {
		// A standalone data node: no metadata will ever name a coordinator.
		return nil, nonRetriable{wire.Errorf(wire.CodeCoordinatorNotAvailable, "the cluster is a standalone data node, whose metadata names no coordinator: give the coordinator's address")}
	}
	if len(md.Coordinators) == 0 {
		return nil, wire.Errorf(wire.CodeCoordinatorNotAvailable, "the cluster metadata names no live coordinator")
	}
	return slices.Clone(md.Coordinators), nil
}

// findCoordinator asks the coordinators, in turn, which one owns group.
func (a *Admin) findCoordinator(ctx context.Context, group string) (string, error) {
	addrs, err := a.coordinators(ctx)
	if err != nil {
		return "", err
	}
	q := url.Values{}
	q.Set(wire.ParamGroup, group)
	var errs []error
	for _, addr := range addrs {
		var fc wire.FindCoordinatorResponse
		err := a.tr.JSON(ctx, http.MethodGet, addr, wire.PathGroupCoordinator, q, nil, &fc)
		if err == nil {
			if fc.Addr == "" {
				return "", wire.Errorf(wire.CodeCoordinatorNotAvailable, "coordinator %s named no owner of group %q", addr, group)
			}
			return fc.Addr, nil
		}
		if !transport.Retriable(err) {
			return "", nonRetriable{err}
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("finding the coordinator of group %q: %w", group, errors.Join(errs...))
}

// groupCall sends one request to group's coordinator. It goes round again
// (find, send) when the coordinator was not the owner, was still loading,
// or could not be reached; other retriable failures (a timeout, a data
// plane write that failed) are retried only for an idempotent request.
func (a *Admin) groupCall(ctx context.Context, what, group, method, path string, q url.Values, in, out any, idempotent bool) error {
	ctx, cancel := a.retryContext(ctx)
	defer cancel()
	return a.retry(ctx, what, func(ctx context.Context) error {
		addr, err := a.findCoordinator(ctx, group)
		if err != nil {
			return err
		}
		err = a.tr.JSON(ctx, method, addr, path, q, in, out)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, wire.ErrNotCoordinator), errors.Is(err, wire.ErrCoordinatorLoadInProgress),
			errors.Is(err, wire.ErrCoordinatorNotAvailable), transport.NotSent(err):
			return err
		case idempotent && transport.Retriable(err):
			return err
		}
		return nonRetriable{err}
	})
}
