package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"strand.dev/client/wire"
)

// handler answers one API request with a value to encode as JSON.
type handler func(ctx *fasthttp.RequestCtx) (any, error)

// handle routes a request.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	var h handler
	method := fasthttp.MethodPost
	switch path {
	case wire.PathHealth:
		ctx.SetContentType("text/plain")
		ctx.SetBodyString("ok\n")
		return
	case wire.PathMetrics:
		s.metricsHandler()(ctx)
		return
	case wire.PathGroupCoordinator:
		h, method = s.findCoordinator, fasthttp.MethodGet
	case wire.PathGroupJoin:
		h = s.join
	case wire.PathGroupHeartbeat:
		h = s.heartbeat
	case wire.PathGroupLeave:
		h = s.leave
	case wire.PathGroupCommit:
		h = s.commit
	case wire.PathGroupOffsetsFetch:
		h = s.fetchOffsets
	case wire.PathGroupList:
		h, method = s.listGroups, fasthttp.MethodGet
	case wire.PathGroupDescribe:
		h, method = s.describe, fasthttp.MethodGet
	case wire.PathGroupDelete:
		h = s.deleteGroup
	case wire.PathGroupResetOffsets:
		h = s.resetOffsets
	default:
		s.answerError(ctx, path, wire.Errorf(wire.CodeInvalidRequest, "no such path %q", path))
		return
	}
	if string(ctx.Method()) != method {
		s.answerError(ctx, path, wire.Errorf(wire.CodeInvalidRequest, "%s needs %s, not %s", path, method, ctx.Method()))
		return
	}
	start := time.Now()
	out, err := h(ctx)
	s.met.requestSeconds.WithLabelValues(path).Observe(time.Since(start).Seconds())
	if err != nil {
		s.answerError(ctx, path, err)
		return
	}
	body, err := json.Marshal(out)
	if err != nil {
		s.answerError(ctx, path, err)
		return
	}
	s.met.requests.WithLabelValues(path, "ok").Inc()
	ctx.SetContentType(wire.ContentTypeJSON)
	ctx.SetBody(body)
}

func (s *Server) answerError(ctx *fasthttp.RequestCtx, path string, err error) {
	var we *wire.Error
	code := wire.CodeUnknown
	if errors.As(err, &we) {
		code = we.Code
	}
	if code == wire.CodeUnknown {
		s.log.Warn("request failed", "path", path, "err", err)
	}
	s.met.requests.WithLabelValues(path, string(code)).Inc()
	body, status := wire.MarshalError(err)
	ctx.SetStatusCode(status)
	ctx.SetContentType(wire.ContentTypeJSON)
	ctx.SetBody(body)
}

// metricsHandler serves the registry.
func (s *Server) metricsHandler() fasthttp.RequestHandler {
	return fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
}

// decode reads a JSON body into v. Unknown fields are ignored, so that
// newer clients may send fields this coordinator does not know yet; a body
// that is not one JSON object is INVALID_REQUEST.
func decode(ctx *fasthttp.RequestCtx, v any) error {
	dec := json.NewDecoder(bytes.NewReader(ctx.PostBody()))
	if err := dec.Decode(v); err != nil {
		return wire.Errorf(wire.CodeInvalidRequest, "bad JSON body: %v", err)
	}
	if dec.More() {
		return wire.Errorf(wire.CodeInvalidRequest, "bad JSON body: more than one value")
	}
	return nil
}

// query returns a query parameter.
func query(ctx *fasthttp.RequestCtx, name string) string {
	return string(ctx.QueryArgs().Peek(name))
}
