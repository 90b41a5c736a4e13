package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/metaclient"
	"strand.dev/client/wire"
)

// view is the cluster as this coordinator sees it: routing metadata, topic
// partition counts and, in cluster mode, the offsets partitions' owners.
// Run owns its refresh goroutine; the getters may be called from any
// goroutine.
type view interface {
	// Metadata and Refresh implement logclient.MetadataSource.
	Metadata() *wire.Metadata
	Refresh()
	// Owners returns the offsets partitions' owners (nil standalone).
	Owners() map[int32]*wire.OffsetsOwner
	// Counts returns every topic's partition count (shared; read only).
	Counts() map[string]int32
	// Run refreshes until ctx ends, calling onChange after each change.
	Run(ctx context.Context, onChange func())
}

// snapshot is one immutable view.
type snapshot struct {
	md     *wire.Metadata
	owners map[int32]*wire.OffsetsOwner
	counts map[string]int32
}

func newSnapshot(md *wire.Metadata, owners map[int32]*wire.OffsetsOwner) *snapshot {
	counts := make(map[string]int32, len(md.Topics))
	for _, t := range md.Topics {
		counts[t.Name] = int32(len(t.Partitions))
	}
	return &snapshot{md: md, owners: owners, counts: counts}
}

// holder keeps the current snapshot.
type holder struct {
	mu  sync.Mutex
	cur *snapshot
}

func (h *holder) get() *snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur
}

func (h *holder) set(s *snapshot) {
	h.mu.Lock()
	h.cur = s
	h.mu.Unlock()
}

func (h *holder) Metadata() *wire.Metadata {
	if s := h.get(); s != nil {
		return s.md
	}
	return nil
}

func (h *holder) Owners() map[int32]*wire.OffsetsOwner {
	if s := h.get(); s != nil {
		return s.owners
	}
	return nil
}

func (h *holder) Counts() map[string]int32 {
	if s := h.get(); s != nil {
		return s.counts
	}
	return map[string]int32{}
}

// metaView follows strand-meta's image with a watcher.
type metaView struct {
	holder
	c *metaclient.Client
}

func newMetaView(c *metaclient.Client) *metaView { return &metaView{c: c} }

// Refresh is a no-op: the watch delivers every new version.
func (v *metaView) Refresh() {}

func (v *metaView) Run(ctx context.Context, onChange func()) {
	w := metaclient.NewWatcher(v.c, func(img *wire.Image) {
		md := img.Metadata()
		md.MetaAddrs = v.c.Addrs()
		v.set(newSnapshot(&md, img.OffsetsOwners))
		onChange()
	})
	_ = w.Run(ctx)
}

// dataView polls a data node's metadata (standalone mode).
type dataView struct {
	holder
	addrs []string
	hc    *fasthttp.Client
	poke  chan struct{}
	log   *slog.Logger
	every time.Duration
}

func newDataView(addrs []string, log *slog.Logger) *dataView {
	return &dataView{
		addrs: addrs,
		hc:    &fasthttp.Client{Name: "strand-coordinator", MaxResponseBodySize: 64 << 20},
		poke:  make(chan struct{}, 1),
		log:   log,
		every: time.Second,
	}
}

func (v *dataView) Refresh() {
	select {
	case v.poke <- struct{}{}:
	default:
	}
}

func (v *dataView) Run(ctx context.Context, onChange func()) {
	var last []byte
	t := time.NewTicker(v.every)
	defer t.Stop()
	for i := 0; ; i++ {
		body, err := v.fetch(v.addrs[i%len(v.addrs)])
		if err != nil {
			v.log.Debug("metadata poll failed", "err", err)
		} else if !bytes.Equal(body, last) {
			var md wire.Metadata
			if err := json.Unmarshal(body, &md); err != nil {
				v.log.Warn("bad metadata answer", "err", err)
			} else {
				last = body
				v.set(newSnapshot(&md, nil))
				onChange()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-v.poke:
		}
	}
}

func (v *dataView) fetch(addr string) ([]byte, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + wire.PathMetadata)
	if err := v.hc.DoTimeout(req, resp, 5*time.Second); err != nil {
		return nil, err
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return nil, wire.UnmarshalError(resp.StatusCode(), resp.Body())
	}
	return append([]byte(nil), resp.Body()...), nil
}
