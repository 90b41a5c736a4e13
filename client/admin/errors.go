package admin

import (
	"errors"

	"strand.dev/client/wire"
)

// Sentinels for errors.Is on the errors the Admin methods return. The
// errors themselves are *wire.Error values carrying the server's message.
var (
	// ErrTopicExists: CreateTopic of a topic that exists.
	ErrTopicExists = &wire.Error{Code: wire.CodeTopicAlreadyExists}
	// ErrUnknownTopic: the topic does not exist.
	ErrUnknownTopic = wire.ErrUnknownTopicOrPartition
	// ErrInvalidConfig: a config name or value the cluster rejects.
	ErrInvalidConfig = &wire.Error{Code: wire.CodeInvalidConfig}
	// ErrInvalidReplicationFactor: more replicas than live data nodes, or
	// fewer than one.
	ErrInvalidReplicationFactor = &wire.Error{Code: wire.CodeInvalidReplicationFactor}
)

// ErrNoMeta: the cluster has no strand-meta nodes (a standalone data node),
// so there is no raft membership to show or change.
var ErrNoMeta = errors.New("the cluster has no strand-meta nodes (a standalone data node)")
