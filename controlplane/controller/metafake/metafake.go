// Package metafake is strand-meta in one process, for tests of the programs
// that talk to it (the controller, the data node's cluster agent, the
// coordinator): the real state machine (metastate), so every command has
// strand-meta's validation and compare-and-set rules; a watch; the raft
// leader's lease rule (a takeover is refused until no renewal was applied for
// the lease duration on this process's clock); an outage switch (SetDown);
// and, through Handler, the HTTP API of wire.PathMetaImage,
// wire.PathMetaWatch and wire.PathMetaPropose. It has no raft, no disk and
// no replication: it is a fake, not a substitute.
//
// A test builds the state it needs with the commands a real cluster would
// apply (register a node, acquire the controller lease, create a topic with
// the lease's epoch), through Propose or over HTTP.
//
//	m := metafake.New("cluster-1")
//	srv := httptest.NewServer(m.Handler())
//	client := metaclient.New([]string{strings.TrimPrefix(srv.URL, "http://")})
package metafake

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"strand.dev/client/wire"
	"strand.dev/controlplane/metastate"
)

// Meta is the fake. It is safe for concurrent use.
type Meta struct {
	mu          sync.Mutex
	m           *metastate.Machine
	index       uint64
	changed     chan struct{}
	lastRenewal time.Time
	applied     []Applied
	down        bool
}

// errDown is the error of every call while the fake is down.
var errDown = wire.Errorf(wire.CodeNoLeader, "fake strand-meta is down")

// SetDown makes every call (Image, Watch, Propose and the HTTP API) fail
// with NO_LEADER while down is true, as if strand-meta were unreachable or
// had lost its raft leader; SetDown(false) brings it back with its state.
func (f *Meta) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// Applied is one accepted controller command.
type Applied struct {
	Type    wire.CommandType
	Epoch   int64  // its controller epoch
	Version uint64 // the image version it produced
}

// New returns an empty fake.
func New(clusterID string) *Meta {
	return &Meta{m: metastate.New(clusterID), changed: make(chan struct{})}
}

// Image returns the current image (shared: do not modify it).
func (f *Meta) Image(ctx context.Context, stale bool) (*wire.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errDown
	}
	return f.m.Image(), nil
}

// Current returns the current image (shared: do not modify it), also while
// the fake is down.
func (f *Meta) Current() *wire.Image {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m.Image()
}

// Watch returns the image once its version is above after, or the current
// one after wait (500 ms when 0).
func (f *Meta) Watch(ctx context.Context, after uint64) (*wire.Image, error) {
	return f.watch(ctx, after, 500*time.Millisecond)
}

func (f *Meta) watch(ctx context.Context, after uint64, wait time.Duration) (*wire.Image, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		f.mu.Lock()
		img, ch, down := f.m.Image(), f.changed, f.down
		f.mu.Unlock()
		if down {
			return nil, errDown
		}
		if img.Version > after {
			return img, nil
		}
		select {
		case <-ch:
		case <-timer.C:
			return img, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Propose validates cmd as strand-meta does before proposing (topic config
// values included), then applies it, with the lease rule.
func (f *Meta) Propose(ctx context.Context, cmd *wire.Command) (*wire.ProposeResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, wire.Errorf(wire.CodeRequestTimedOut, "%v", err)
	}
	if err := f.m.Validate(cmd); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errDown
	}
	img := f.m.Image()
	if cmd.Type == wire.CmdAcquireLease && cmd.AcquireLease != nil && metastate.IsLeaseTakeover(img.Controller, cmd.AcquireLease) &&
		time.Since(f.lastRenewal) < time.Duration(img.Controller.LeaseMs)*time.Millisecond {
		return nil, wire.Errorf(wire.CodeInvalidUpdateVersion, "the lease of %s has not lapsed", img.Controller.Holder)
	}
	f.index++
	resp, err := f.m.ApplyCommand(f.index, cmd)
	if err != nil {
		return nil, err
	}
	if cmd.Type == wire.CmdAcquireLease {
		f.lastRenewal = time.Now()
	}
	if epoch := ControllerEpoch(cmd); epoch != 0 {
		f.applied = append(f.applied, Applied{Type: cmd.Type, Epoch: epoch, Version: resp.Version})
	}
	close(f.changed)
	f.changed = make(chan struct{})
	return &resp, nil
}

// Applied lists the accepted controller commands, oldest first.
func (f *Meta) Applied() []Applied {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Applied(nil), f.applied...)
}

// ControllerEpoch is the controller epoch a command carries (0 for commands
// that carry none).
func ControllerEpoch(cmd *wire.Command) int64 {
	switch {
	case cmd.SetNodeFenced != nil:
		return cmd.SetNodeFenced.ControllerEpoch
	case cmd.UpdatePartitions != nil:
		return cmd.UpdatePartitions.ControllerEpoch
	case cmd.CreateTopic != nil:
		return cmd.CreateTopic.ControllerEpoch
	case cmd.DeleteTopic != nil:
		return cmd.DeleteTopic.ControllerEpoch
	case cmd.AlterTopicConfigs != nil:
		return cmd.AlterTopicConfigs.ControllerEpoch
	case cmd.UnregisterNode != nil:
		return cmd.UnregisterNode.ControllerEpoch
	}
	return 0
}

// Handler serves the image, watch and propose paths of strand-meta's API.
func (f *Meta) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(wire.PathMetaImage, func(w http.ResponseWriter, r *http.Request) {
		img, err := f.Image(r.Context(), true)
		answer(w, img, err)
	})
	mux.HandleFunc(wire.PathMetaWatch, func(w http.ResponseWriter, r *http.Request) {
		after, _ := strconv.ParseUint(r.URL.Query().Get("version"), 10, 64)
		wait := 30 * time.Second
		if ms, err := strconv.ParseInt(r.URL.Query().Get("timeout_ms"), 10, 64); err == nil && ms > 0 {
			wait = min(time.Duration(ms)*time.Millisecond, 30*time.Second)
		}
		img, err := f.watch(r.Context(), after, wait)
		answer(w, img, err)
	})
	mux.HandleFunc(wire.PathMetaPropose, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		if err != nil {
			answer(w, nil, wire.Errorf(wire.CodeInvalidRequest, "read body: %v", err))
			return
		}
		var cmd wire.Command
		if err := json.Unmarshal(body, &cmd); err != nil {
			answer(w, nil, wire.Errorf(wire.CodeInvalidRequest, "body: %v", err))
			return
		}
		resp, err := f.Propose(r.Context(), &cmd)
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
	body, _ := json.Marshal(v)
	_, _ = w.Write(body)
}
