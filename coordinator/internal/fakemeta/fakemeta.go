// Package fakemeta is a stand-in for strand-meta in the coordinator's tests:
// a versioned image the test edits directly, the ownership commands
// (claim_offsets_owner, release_offsets_owner) with strand-meta's
// compare-and-set rules, and the HTTP paths a metaclient uses (image, watch,
// propose). It has no raft and no other commands.
package fakemeta

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"strand.dev/client/wire"
)

// Meta is the fake. It is safe for concurrent use.
type Meta struct {
	mu      sync.Mutex
	img     *wire.Image
	changed chan struct{}
	down    bool
}

// New returns an empty image at version 1.
func New(clusterID string) *Meta {
	return &Meta{
		img: &wire.Image{Version: 1, ClusterID: clusterID, Nodes: map[int32]*wire.NodeRecord{},
			Topics: map[string]*wire.TopicRecord{}, OffsetsOwners: map[int32]*wire.OffsetsOwner{}},
		changed: make(chan struct{}),
	}
}

// clone deep-copies an image.
func clone(img *wire.Image) *wire.Image {
	b, err := json.Marshal(img)
	if err != nil {
		panic(err)
	}
	out := new(wire.Image)
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	return out
}

// Update edits a copy of the image and publishes it one version later.
func (m *Meta) Update(edit func(img *wire.Image)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	img := clone(m.img)
	edit(img)
	m.publish(img)
}

func (m *Meta) publish(img *wire.Image) {
	img.Version = m.img.Version + 1
	m.img = img
	close(m.changed)
	m.changed = make(chan struct{})
}

// SetDown makes every call fail, as if strand-meta were unreachable.
func (m *Meta) SetDown(down bool) {
	m.mu.Lock()
	m.down = down
	m.mu.Unlock()
}

// errDown is the error of calls while down.
var errDown = wire.Errorf(wire.CodeNoLeader, "fake strand-meta is down")

// Current returns the image (shared: do not modify).
func (m *Meta) Current() *wire.Image {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.img
}

// Image implements ownership.Meta.
func (m *Meta) Image(context.Context, bool) (*wire.Image, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, errDown
	}
	return m.img, nil
}

// Propose implements ownership.Meta for the ownership commands.
func (m *Meta) Propose(_ context.Context, cmd *wire.Command) (*wire.ProposeResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, errDown
	}
	var epoch int64
	switch {
	case cmd.Type == wire.CmdClaimOffsetsOwner && cmd.ClaimOffsetsOwner != nil:
		c := cmd.ClaimOffsetsOwner
		var cur int64
		if o := m.img.OffsetsOwners[c.Partition]; o != nil {
			cur = o.Epoch
		}
		if c.ExpectedEpoch != cur {
			return nil, wire.Errorf(wire.CodeInvalidUpdateVersion, "offsets partition %d is at ownership epoch %d, not %d", c.Partition, cur, c.ExpectedEpoch)
		}
		img := clone(m.img)
		epoch = cur + 1
		img.OffsetsOwners[c.Partition] = &wire.OffsetsOwner{Coordinator: c.Coordinator, Addr: c.Addr, Epoch: epoch}
		m.publish(img)
	case cmd.Type == wire.CmdReleaseOffsetsOwner && cmd.ReleaseOffsetsOwner != nil:
		c := cmd.ReleaseOffsetsOwner
		o := m.img.OffsetsOwners[c.Partition]
		if o == nil || o.Coordinator != c.Coordinator || o.Epoch != c.Epoch {
			return nil, wire.Errorf(wire.CodeInvalidUpdateVersion, "release of offsets partition %d by %q at epoch %d refused", c.Partition, c.Coordinator, c.Epoch)
		}
		img := clone(m.img)
		img.OffsetsOwners[c.Partition] = &wire.OffsetsOwner{Epoch: o.Epoch + 1}
		m.publish(img)
	default:
		return nil, wire.Errorf(wire.CodeUnknownCommand, "the fake knows only the ownership commands, not %q", cmd.Type)
	}
	return &wire.ProposeResponse{Version: m.img.Version, Epoch: epoch}, nil
}

// watch returns the image once its version is above after, or after wait.
func (m *Meta) watch(ctx context.Context, after uint64, wait time.Duration) (*wire.Image, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		m.mu.Lock()
		img, ch, down := m.img, m.changed, m.down
		m.mu.Unlock()
		if down {
			return nil, errDown
		}
		if img.Version > after {
			return img, nil
		}
		select {
		case <-ch:
		case <-t.C:
			return img, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Handler serves wire.PathMetaImage, wire.PathMetaWatch and
// wire.PathMetaPropose.
func (m *Meta) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(wire.PathMetaImage, func(w http.ResponseWriter, r *http.Request) {
		img, err := m.Image(r.Context(), true)
		answer(w, img, err)
	})
	mux.HandleFunc(wire.PathMetaWatch, func(w http.ResponseWriter, r *http.Request) {
		after, _ := strconv.ParseUint(r.URL.Query().Get("version"), 10, 64)
		wait := 30 * time.Second
		if ms, err := strconv.ParseInt(r.URL.Query().Get("timeout_ms"), 10, 64); err == nil && ms > 0 {
			wait = min(time.Duration(ms)*time.Millisecond, wait)
		}
		img, err := m.watch(r.Context(), after, wait)
		answer(w, img, err)
	})
	mux.HandleFunc(wire.PathMetaPropose, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			answer(w, nil, wire.Errorf(wire.CodeInvalidRequest, "read body: %v", err))
			return
		}
		var cmd wire.Command
		if err := json.Unmarshal(body, &cmd); err != nil {
			answer(w, nil, wire.Errorf(wire.CodeInvalidRequest, "body: %v", err))
			return
		}
		resp, err := m.Propose(r.Context(), &cmd)
		answer(w, resp, err)
	})
	return mux
}

func answer(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", wire.ContentTypeJSON)
	if err != nil {
		body, status := wire.MarshalError(err)
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}
