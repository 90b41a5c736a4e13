package metaclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"strand.dev/client/wire"
)

// Image reads the metadata image. By default the read is linearizable (the
// serving node confirms with raft that it is up to date); stale=true lets any
// node answer from its local copy at once.
func (c *Client) Image(ctx context.Context, stale bool) (*wire.Image, error) {
	var q url.Values
	if stale {
		q = url.Values{"stale": {"true"}}
	}
	img := new(wire.Image)
	if err := c.call(ctx, request{method: http.MethodGet, path: wire.PathMetaImage, query: q}, img); err != nil {
		return nil, err
	}
	return img, nil
}

// Watch is one long-poll: it returns the image once its version is greater
// than afterVersion, or, when the server's wait (WithWatchWait) ends first,
// the current image, whose version may equal afterVersion. The answering
// node may be a lagging follower, so the version may even be lower: callers
// that need monotonic versions use a Watcher.
func (c *Client) Watch(ctx context.Context, afterVersion uint64) (*wire.Image, error) {
	q := url.Values{
		"version":    {strconv.FormatUint(afterVersion, 10)},
		"timeout_ms": {strconv.FormatInt(c.cfg.watchWait.Milliseconds(), 10)},
	}
	img := new(wire.Image)
	req := request{method: http.MethodGet, path: wire.PathMetaWatch, query: q, wait: c.cfg.watchWait}
	if err := c.call(ctx, req, img); err != nil {
		return nil, err
	}
	return img, nil
}

// Propose submits a command and returns once it is committed and applied.
// Any node accepts it (followers forward it to the raft leader). Retriable
// failures (no leader, not the leader, timeouts, unreachable nodes) are
// retried on the next address until ctx ends; the state machine's rejection
// comes back at once as the *wire.Error it is, so errors.Is(err,
// wire.ErrStaleControllerEpoch) and the like work.
//
// A retried command may have been applied by an attempt whose answer was
// lost; commands are guarded by epochs and compare-and-set, so the retry is
// then rejected (for example INVALID_UPDATE_VERSION or TOPIC_ALREADY_EXISTS)
// and the caller re-reads the image to find out.
func (c *Client) Propose(ctx context.Context, cmd *wire.Command) (*wire.ProposeResponse, error) {
	resp := new(wire.ProposeResponse)
	if err := c.call(ctx, request{method: http.MethodPost, path: wire.PathMetaPropose, body: cmd}, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// Status asks one node for its raft status. With addr empty any node
// answers (with retries, like every other call); with an address, exactly
// that node is asked, once.
func (c *Client) Status(ctx context.Context, addr string) (*wire.MetaStatus, error) {
	st := new(wire.MetaStatus)
	req := request{method: http.MethodGet, path: wire.PathMetaStatus}
	if addr == "" {
		if err := c.call(ctx, req, st); err != nil {
			return nil, err
		}
		return st, nil
	}
	if err := c.once(ctx, addr, req, nil, st); err != nil {
		return nil, err
	}
	return st, nil
}

// Members lists the raft members.
func (c *Client) Members(ctx context.Context) ([]wire.MemberStatus, error) {
	var resp wire.MembersResponse
	if err := c.call(ctx, request{method: http.MethodGet, path: wire.PathMetaMembers}, &resp); err != nil {
		return nil, err
	}
	return resp.Members, nil
}

// AddMember adds a raft member (a raft configuration change on the leader).
func (c *Client) AddMember(ctx context.Context, m wire.AddMemberRequest) error {
	return c.call(ctx, request{method: http.MethodPost, path: wire.PathMetaMembers, body: m}, nil)
}

// RemoveMember removes the raft member with the given id.
func (c *Client) RemoveMember(ctx context.Context, id uint64) error {
	q := url.Values{"id": {strconv.FormatUint(id, 10)}}
	return c.call(ctx, request{method: http.MethodDelete, path: wire.PathMetaMembers, query: q}, nil)
}

// Metadata reads the routing view of the image (wire.PathMetadata), as
// clients of the data plane use it.
func (c *Client) Metadata(ctx context.Context) (*wire.Metadata, error) {
	md := new(wire.Metadata)
	if err := c.call(ctx, request{method: http.MethodGet, path: wire.PathMetadata}, md); err != nil {
		return nil, err
	}
	return md, nil
}
