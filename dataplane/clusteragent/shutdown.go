package clusteragent

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
)

// ControlledShutdown asks the active controller to move this node's
// leaderships to in-sync replicas (wire.PathControlledShutdown) and
// repeats until the node leads nothing that another replica could take
// over, ShutdownTimeout passed, or ctx ended. The node keeps serving
// meanwhile: its followers catch up and clients move to the new leaders.
// It returns the partitions still led when it gave up (nil when done).
func (a *Agent) ControlledShutdown(ctx context.Context) []string {
	if !a.registered.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.ShutdownTimeout)
	defer cancel()
	start := time.Now()
	var remaining []string
	for attempt := 1; ; attempt++ {
		left, err := a.askShutdown(ctx)
		switch {
		case err != nil:
			a.log.Debug("controlled shutdown request failed", "attempt", attempt, "err", err)
		default:
			remaining = a.movable(left)
			if len(remaining) == 0 {
				// Wait until this node has applied an image without its
				// leaderships, so it refuses produce before it goes.
				if img := a.img.Load(); img != nil {
					_ = a.WaitApplied(ctx, img.Version)
				}
				a.log.Info("controlled shutdown done", "took", time.Since(start), "attempts", attempt,
					"unmovable", len(left))
				return nil
			}
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			a.log.Warn("controlled shutdown gave up; stopping with leaderships", "took", time.Since(start),
				"remaining", len(remaining), "err", err)
			return remaining
		}
	}
}

// movable keeps the partitions another replica could take over: those
// whose ISR (as the newest image says) has a member besides this node.
func (a *Agent) movable(led []string) []string {
	img := a.img.Load()
	if img == nil {
		return led
	}
	var out []string
	for _, name := range led {
		i := strings.LastIndexByte(name, '-')
		t := img.Topics[name[:max(i, 0)]]
		if i < 0 || t == nil {
			out = append(out, name)
			continue
		}
		var p *wire.PartitionRecord
		for _, q := range t.Partitions {
			if fmt.Sprint(q.Partition) == name[i+1:] {
				p = q
			}
		}
		if p == nil || slices.ContainsFunc(p.ISR, func(r int32) bool { return r != a.cfg.NodeID }) {
			out = append(out, name)
		}
	}
	return out
}

// askShutdown sends one controlled-shutdown request to the active
// controller (any controller forwards it) and returns what the node still
// leads.
func (a *Agent) askShutdown(ctx context.Context) ([]string, error) {
	img := a.img.Load()
	if img == nil || img.Controller.Addr == "" {
		return nil, fmt.Errorf("no active controller in the image")
	}
	wait := int64(5000)
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, max(time.Until(d).Milliseconds()-200, 100))
	}
	body, err := json.Marshal(wire.ControlledShutdownRequest{NodeID: a.cfg.NodeID, Incarnation: a.incarnation.Load(), WaitMs: wait})
	if err != nil {
		return nil, err
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + img.Controller.Addr + wire.PathControlledShutdown)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType(wire.ContentTypeJSON)
	req.SetBodyRaw(body)
	timeout := time.Duration(wait)*time.Millisecond + a.cfg.MetaTimeout
	if err := a.hc.DoTimeout(req, resp, timeout); err != nil {
		return nil, fmt.Errorf("controlled shutdown request to %s: %w", img.Controller.Addr, err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return nil, wire.UnmarshalError(resp.StatusCode(), resp.Body())
	}
	var out wire.ControlledShutdownResponse
	if err := json.Unmarshal(resp.Body(), &out); err != nil {
		return nil, fmt.Errorf("decode the controlled shutdown answer: %w", err)
	}
	return out.Remaining, nil
}
