package controller

import (
	"context"

	"strand.dev/client/wire"
	"strand.dev/controlplane/membership"
)

// MetaAPI is what the controller needs from strand-meta;
// *metaclient.Client implements it.
type MetaAPI interface {
	// Image reads the image (linearizable unless stale).
	Image(ctx context.Context, stale bool) (*wire.Image, error)
	// Watch long-polls for an image newer than afterVersion.
	Watch(ctx context.Context, afterVersion uint64) (*wire.Image, error)
	// Propose submits a command and returns once it is applied.
	Propose(ctx context.Context, cmd *wire.Command) (*wire.ProposeResponse, error)
}

// Gossip is the controller's view of the gossip pool; *membership.Pool
// implements it.
type Gossip interface {
	Events() <-chan membership.Event
	Members() []membership.Member
}

// Deps are the controller's collaborators. Meta is required; a nil Gossip
// makes New join the pool described by Config.Membership.
type Deps struct {
	Meta   MetaAPI
	Gossip Gossip
}
