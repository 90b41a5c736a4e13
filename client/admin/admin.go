package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"

	"strand.dev/client/internal/backoff"
	"strand.dev/client/internal/routing"
	"strand.dev/client/internal/transport"
	"strand.dev/client/wire"
)

// Admin manages topics and reports cluster state. Safe for concurrent use.
type Admin struct {
	cfg    config
	tr     *transport.Client
	router *routing.Router
	log    *slog.Logger
}

// New returns an Admin. It does no I/O until a method is called.
func New(opts ...Option) (*Admin, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	tr, r, err := cfg.conn.Open()
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	return &Admin{cfg: cfg, tr: tr, router: r, log: cfg.conn.Log().With("component", "admin")}, nil
}

// Close releases idle connections.
func (a *Admin) Close() { a.tr.Close() }

// Metadata returns the cluster's metadata, fresh from a node.
func (a *Admin) Metadata(ctx context.Context) (*wire.Metadata, error) {
	ctx, cancel := a.retryContext(ctx)
	defer cancel()
	var md *wire.Metadata
	err := a.retry(ctx, "metadata", func(ctx context.Context) error {
		var err error
		md, err = a.router.Refresh(ctx)
		return err
	})
	return md, err
}

// retryContext bounds ctx by the retry timeout.
func (a *Admin) retryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.cfg.retryTimeout)
}

// retry runs op until it succeeds, fails for a reason not worth retrying, or
// ctx ends. A retriable failure invalidates the cached metadata first, so the
// next attempt may go to another node. When ctx ends after a failure, the
// failure is returned (it says more than "deadline exceeded").
func (a *Admin) retry(ctx context.Context, what string, op func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		if nr, ok := err.(nonRetriable); ok {
			return nr.error
		}
		var nn *routing.NoNodeError
		if !transport.Retriable(err) && !errors.As(err, &nn) {
			return err
		}
		a.log.Debug("retrying", "op", what, "attempt", attempt, "err", err)
		a.router.Invalidate()
		if ctx.Err() != nil || backoff.Sleep(ctx, a.cfg.conn.RetryBackoff.Delay(attempt)) != nil {
			return fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
	}
}

// controllerCall sends one admin request to the active controller. Only
// failures where the request surely was not applied (no controller known, a
// controller that says it is not one, a connection that could not be made)
// are retried, so a create is never applied twice.
func (a *Admin) controllerCall(ctx context.Context, what, method, path string, q url.Values, in, out any) error {
	ctx, cancel := a.retryContext(ctx)
	defer cancel()
	return a.retry(ctx, what, func(ctx context.Context) error {
		addr, err := a.router.ControllerAddr(ctx)
		if err != nil {
			return err
		}
		err = a.tr.JSON(ctx, method, addr, path, q, in, out)
		if err == nil || errors.Is(err, &wire.Error{Code: wire.CodeNotController}) || transport.NotSent(err) {
			return err
		}
		return nonRetriable{err}
	})
}

// nonRetriable marks an error retry must return at once, whatever its code.
type nonRetriable struct{ error }

func (n nonRetriable) Unwrap() error { return n.error }

// NewTopic describes a topic to create.
type NewTopic struct {
	Name string
	// Partitions is the partition count, at least 1.
	Partitions int32
	// ReplicationFactor is the number of replicas per partition; 0 takes the
	// cluster's default.
	ReplicationFactor int16
	// Configs are topic configs by Kafka's names (retention.ms,
	// cleanup.policy, max.message.bytes, ...).
	Configs map[string]string
}

// CreateTopic creates a topic and returns its metadata as the controller
// answered it. It fails with ErrTopicExists if the topic exists.
func (a *Admin) CreateTopic(ctx context.Context, t NewTopic) (*wire.TopicMetadata, error) {
	if err := wire.ValidateTopicName(t.Name); err != nil {
		return nil, err
	}
	if t.Partitions < 1 {
		return nil, wire.Errorf(wire.CodeInvalidPartitions, "a topic needs at least one partition, not %d", t.Partitions)
	}
	if t.ReplicationFactor < 0 {
		return nil, wire.Errorf(wire.CodeInvalidReplicationFactor, "replication factor %d is negative", t.ReplicationFactor)
	}
	req := wire.CreateTopicRequest{Topic: t.Name, Partitions: t.Partitions, ReplicationFactor: t.ReplicationFactor, Configs: t.Configs}
	var tm wire.TopicMetadata
	if err := a.controllerCall(ctx, "create topic "+t.Name, http.MethodPost, wire.PathAdminTopics, nil, req, &tm); err != nil {
		return nil, err
	}
	a.router.Invalidate()
	return &tm, nil
}

// DeleteTopic deletes a topic and its data.
func (a *Admin) DeleteTopic(ctx context.Context, name string) error {
	q := url.Values{}
	q.Set(wire.ParamTopic, name)
	if err := a.controllerCall(ctx, "delete topic "+name, http.MethodDelete, wire.PathAdminTopics, q, nil, nil); err != nil {
		return err
	}
	a.router.Invalidate()
	return nil
}

// AlterConfigs sets and deletes configs of a topic and returns the topic's
// metadata after the change.
func (a *Admin) AlterConfigs(ctx context.Context, topic string, set map[string]string, del []string) (*wire.TopicMetadata, error) {
	req := wire.AlterConfigsRequest{Topic: topic, Set: set, Delete: del}
	var tm wire.TopicMetadata
	if err := a.controllerCall(ctx, "alter configs of "+topic, http.MethodPost, wire.PathAdminConfigs, nil, req, &tm); err != nil {
		return nil, err
	}
	a.router.Invalidate()
	return &tm, nil
}

// DescribeConfigs returns the configs set on a topic (configs left at the
// cluster's defaults are absent).
func (a *Admin) DescribeConfigs(ctx context.Context, topic string) (map[string]string, error) {
	md, err := a.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	t, ok := md.Topic(topic)
	if !ok {
		return nil, wire.Errorf(wire.CodeUnknownTopicOrPartition, "topic %q does not exist", topic)
	}
	out := make(map[string]string, len(t.Configs))
	for k, v := range t.Configs {
		out[k] = v
	}
	return out, nil
}

// ListTopics returns every topic's metadata, sorted by name.
func (a *Admin) ListTopics(ctx context.Context) ([]wire.TopicMetadata, error) {
	md, err := a.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	out := append([]wire.TopicMetadata(nil), md.Topics...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
