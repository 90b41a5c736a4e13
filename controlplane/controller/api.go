package controller

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"strand.dev/client/wire"
	"strand.dev/controlplane/membership"
)

// newServer builds the HTTP server. Handlers run on fasthttp's goroutines
// and touch controller state only through its locked accessors.
func (c *Controller) newServer() *fasthttp.Server {
	metricsHandler := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(c.registry, promhttp.HandlerOpts{}))
	return &fasthttp.Server{
		Name:               "strand-controller",
		MaxRequestBodySize: c.cfg.MaxRequestBytes,
		ReadTimeout:        30 * time.Second,
		WriteTimeout:       c.cfg.RequestTimeout + c.cfg.ShutdownWaitMax,
		IdleTimeout:        2 * time.Minute,
		Logger:             fasthttpLogger{c},
		Handler: func(ctx *fasthttp.RequestCtx) {
			switch string(ctx.Path()) {
			case wire.PathHealth:
				ctx.SetContentType("text/plain")
				ctx.SetBodyString("ok\n")
			case wire.PathMetrics:
				metricsHandler(ctx)
			case wire.PathControllerStatus:
				c.handleStatus(ctx)
			case wire.PathAdminTopics, wire.PathAdminConfigs, wire.PathControlledShutdown:
				c.handleAdmin(ctx)
			default:
				c.answerErr(ctx, wire.Errorf(wire.CodeInvalidRequest, "no such path %s", ctx.Path()))
			}
		},
	}
}

type fasthttpLogger struct{ c *Controller }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.c.logger.Debug("http server", "msg", format, "args", args)
}

// handleAdmin serves an admin request when active, else forwards it to the
// active controller.
func (c *Controller) handleAdmin(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	if active, _ := c.Active(); !active {
		c.forward(ctx)
		return
	}
	rctx, cancel := context.WithTimeout(context.Background(), c.cfg.RequestTimeout+c.cfg.ShutdownWaitMax)
	defer cancel()
	var out any
	var err error
	method := string(ctx.Method())
	switch {
	case path == wire.PathAdminTopics && method == http.MethodPost:
		var req wire.CreateTopicRequest
		if err = decode(ctx, &req); err == nil {
			out, err = c.createTopic(rctx, req)
		}
	case path == wire.PathAdminTopics && method == http.MethodDelete:
		name := string(ctx.QueryArgs().Peek(wire.ParamTopic))
		if name == "" {
			err = wire.Errorf(wire.CodeInvalidRequest, "DELETE %s needs ?%s=NAME", path, wire.ParamTopic)
		} else {
			out, err = c.deleteTopic(rctx, name)
		}
	case path == wire.PathAdminConfigs && method == http.MethodPost:
		var req wire.AlterConfigsRequest
		if err = decode(ctx, &req); err == nil {
			out, err = c.alterConfigs(rctx, req)
		}
	case path == wire.PathControlledShutdown && method == http.MethodPost:
		var req wire.ControlledShutdownRequest
		if err = decode(ctx, &req); err == nil {
			out, err = c.controlledShutdown(rctx, req)
		}
	default:
		err = wire.Errorf(wire.CodeInvalidRequest, "%s does not take %s", path, method)
	}
	if err != nil {
		c.metrics.adminRequests.WithLabelValues(path, string(codeOf(err))).Inc()
		c.answerErr(ctx, err)
		return
	}
	c.metrics.adminRequests.WithLabelValues(path, "ok").Inc()
	c.answerJSON(ctx, out)
}

// forward relays the request to the active controller named by the image.
func (c *Controller) forward(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	img := c.image()
	target := ""
	if img != nil {
		target = img.Controller.Addr
	}
	switch {
	case target == "" || img.Controller.Holder == "":
		c.answerErr(ctx, wire.Errorf(wire.CodeNotController, "no controller is active"))
		return
	case target == c.addr || len(ctx.Request.Header.Peek(wire.HeaderForwarded)) > 0:
		c.answerErr(ctx, wire.Errorf(wire.CodeNotController, "%s is not the active controller (the image names %s)", c.cfg.ID, img.Controller.Holder))
		return
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	ctx.Request.CopyTo(req)
	req.SetRequestURI("http://" + target + string(ctx.RequestURI()))
	req.SetHost(target)
	req.Header.Set(wire.HeaderForwarded, c.cfg.ID)
	if err := c.client.DoTimeout(req, resp, c.cfg.RequestTimeout+c.cfg.ShutdownWaitMax); err != nil {
		c.metrics.adminRequests.WithLabelValues(path, string(wire.CodeNotController)).Inc()
		c.answerErr(ctx, wire.Errorf(wire.CodeNotController, "forwarding to the active controller %s at %s: %v", img.Controller.Holder, target, err))
		return
	}
	c.metrics.forwarded.Inc()
	c.metrics.adminRequests.WithLabelValues(path, "forwarded").Inc()
	ctx.SetStatusCode(resp.StatusCode())
	ctx.SetContentTypeBytes(resp.Header.ContentType())
	ctx.SetBody(resp.Body())
}

// handleStatus answers this controller's view.
func (c *Controller) handleStatus(ctx *fasthttp.RequestCtx) {
	active, epoch := c.Active()
	st := wire.ControllerStatus{ID: c.cfg.ID, Addr: c.addr, Active: active, Epoch: epoch}
	if img := c.image(); img != nil {
		st.Lease, st.ImageVersion = img.Controller, img.Version
	}
	for _, m := range c.gossip.Members() {
		st.Members = append(st.Members, gossipMember(m))
	}
	if off := c.offline.Load(); off != nil && active {
		st.Offline = *off
	}
	c.answerJSON(ctx, st)
}

func gossipMember(m membership.Member) wire.GossipMember {
	return wire.GossipMember{Name: m.Name, Role: string(m.Role), ID: m.ID, APIAddr: m.APIAddr, Rack: m.Rack, Addr: m.Addr, Status: string(m.Status)}
}

func decode(ctx *fasthttp.RequestCtx, v any) error {
	if err := json.Unmarshal(ctx.PostBody(), v); err != nil {
		return wire.Errorf(wire.CodeInvalidRequest, "request body is not valid JSON: %v", err)
	}
	return nil
}

func (c *Controller) answerJSON(ctx *fasthttp.RequestCtx, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		c.answerErr(ctx, err)
		return
	}
	ctx.SetContentType(wire.ContentTypeJSON)
	ctx.SetBody(body)
}

func (c *Controller) answerErr(ctx *fasthttp.RequestCtx, err error) {
	body, status := wire.MarshalError(err)
	ctx.SetStatusCode(status)
	ctx.SetContentType(wire.ContentTypeJSON)
	ctx.SetBody(body)
}

func codeOf(err error) wire.Code {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return wire.CodeUnknown
}
