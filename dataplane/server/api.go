package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"strand.dev/client/wire"
	"strand.dev/dataplane/replica"
	"strand.dev/dataplane/replstream"
)

// Admin serves the topic admin operations. A standalone node serves them
// itself (replica.Standalone); in a cluster the controller does, and the
// node answers NOT_CONTROLLER.
type Admin interface {
	CreateTopic(req wire.CreateTopicRequest) (wire.TopicMetadata, error)
	DeleteTopic(name string) (wire.TopicMetadata, error)
	AlterConfigs(req wire.AlterConfigsRequest) (wire.TopicMetadata, error)
}

// MetadataSource answers the metadata requests.
type MetadataSource interface {
	Metadata() wire.Metadata
}

// endpoint names a path for metrics.
type endpoint int

const (
	epProduce endpoint = iota
	epFetch
	epOffsets
	epMetadata
	epAdminPartitions
	epAdminTopics
	epAdminConfigs
	epHealth
	epMetrics
	epReplicaStream
	epReplicaEpochs
	epInitProducerID
	epUnknown
	numEndpoints
)

// endpointNames are the metric label values of the endpoints.
var endpointNames = [numEndpoints]string{
	"produce", "fetch", "offsets", "metadata", "admin_partitions", "admin_topics",
	"admin_configs", "health", "metrics", "replica_stream", "replica_epochs", "init_producer_id", "unknown",
}

// api is the HTTP front-end: it parses requests, calls the replica manager
// (and the admin and metadata sources) and writes answers. It holds no
// partition state of its own, so another protocol front-end can sit beside
// it over the same replica.Manager.
type api struct {
	rm        *replica.Manager
	repl      *replstream.Server // the replica stream's leader side; nil on a standalone node
	pids      *producerIDs       // producer ids for idempotent producers
	admin     Admin              // nil: admin requests are answered NOT_CONTROLLER
	meta      MetadataSource
	m         *metrics
	lim       paramLimits
	nodeID    int32
	copyFetch bool
	maxBody   int
	log       *slog.Logger
	promH     fasthttp.RequestHandler

	// stopCtx ends when the node starts stopping: long polls return what
	// they have, and /healthz answers 503.
	stopCtx  context.Context
	stopping atomic.Bool

	// Per-endpoint observers, resolved once.
	latency  [numEndpoints]prometheus.Observer
	inflight [numEndpoints]prometheus.Gauge
}

// newAPI builds the front-end.
func newAPI(rm *replica.Manager, admin Admin, meta MetadataSource, m *metrics, cfg *Config, stopCtx context.Context) *api {
	a := &api{
		rm: rm, admin: admin, meta: meta, m: m, lim: cfg.limits(), nodeID: cfg.NodeID,
		copyFetch: cfg.CopyFetchBody, maxBody: cfg.MaxRequestBytes, log: cfg.logger().With("component", "http"), stopCtx: stopCtx,
		promH: fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})),
	}
	for ep := range numEndpoints {
		a.latency[ep] = m.latency.WithLabelValues(endpointNames[ep])
		a.inflight[ep] = m.inflight.WithLabelValues(endpointNames[ep])
	}
	return a
}

// route maps a path to its endpoint and handler.
func (a *api) route(path []byte) (endpoint, func(*fasthttp.RequestCtx) error) {
	switch string(path) {
	case wire.PathProduce:
		return epProduce, a.produce
	case wire.PathFetch:
		return epFetch, a.fetch
	case wire.PathOffsets:
		return epOffsets, a.offsets
	case wire.PathMetadata:
		return epMetadata, a.metadata
	case wire.PathAdminPartitions:
		return epAdminPartitions, a.adminPartitions
	case wire.PathAdminTopics:
		return epAdminTopics, a.adminTopics
	case wire.PathAdminConfigs:
		return epAdminConfigs, a.adminConfigs
	case wire.PathHealth:
		return epHealth, a.health
	case wire.PathMetrics:
		return epMetrics, a.metrics
	case wire.PathReplicaStream:
		return epReplicaStream, a.replicaStream
	case wire.PathReplicaEpochs:
		return epReplicaEpochs, a.replicaEpochs
	case wire.PathInitProducerID:
		return epInitProducerID, a.initProducerID
	}
	return epUnknown, a.notFound
}

// handle is the fasthttp handler: route, run, answer errors as the JSON
// envelope, record metrics.
func (a *api) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	ep, h := a.route(ctx.Path())
	a.inflight[ep].Inc()
	err := h(ctx)
	code := "ok"
	if err != nil {
		c := writeError(ctx, err)
		code = string(c)
		var pe *pathError
		if errors.As(err, &pe) {
			ctx.SetStatusCode(pe.status)
		}
		if c == wire.CodeUnknown || c == wire.CodeKafkaStorageError {
			a.log.Error("request failed", "endpoint", endpointNames[ep], "err", err)
		}
	}
	a.inflight[ep].Dec()
	a.latency[ep].Observe(time.Since(start).Seconds())
	a.m.requests.WithLabelValues(endpointNames[ep], code).Inc()
}

// pathError is a routing error (unknown path, wrong method), answered with
// the INVALID_REQUEST envelope but the HTTP status that says what is wrong.
type pathError struct {
	status int
	err    *wire.Error
}

func (e *pathError) Error() string { return e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

// notFound answers a path that does not exist.
func (a *api) notFound(ctx *fasthttp.RequestCtx) error {
	return &pathError{status: fasthttp.StatusNotFound, err: wire.Errorf(wire.CodeInvalidRequest, "no such path %.100q", ctx.Path())}
}

// method fails unless the request uses one of the methods.
func method(ctx *fasthttp.RequestCtx, allowed ...string) error {
	m := string(ctx.Method())
	for _, ok := range allowed {
		if m == ok {
			return nil
		}
	}
	ctx.Response.Header.Set("Allow", joinMethods(allowed))
	return &pathError{status: fasthttp.StatusMethodNotAllowed,
		err: wire.Errorf(wire.CodeInvalidRequest, "method %.16s is not allowed on %s; use %s", m, ctx.Path(), joinMethods(allowed))}
}

// joinMethods renders an Allow header value.
func joinMethods(ms []string) string {
	s := ""
	for i, m := range ms {
		if i > 0 {
			s += ", "
		}
		s += m
	}
	return s
}

// health answers 200 while serving and 503 once stopping.
func (a *api) health(ctx *fasthttp.RequestCtx) error {
	if err := method(ctx, fasthttp.MethodGet, fasthttp.MethodHead); err != nil {
		return err
	}
	ctx.SetContentType("text/plain; charset=utf-8")
	if a.stopping.Load() {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBodyString("stopping\n")
		return nil
	}
	ctx.SetBodyString("ok\n")
	return nil
}

// metrics serves the Prometheus exposition.
func (a *api) metrics(ctx *fasthttp.RequestCtx) error {
	if err := method(ctx, fasthttp.MethodGet); err != nil {
		return err
	}
	a.promH(ctx)
	return nil
}

// errorHandler answers what fasthttp rejects before a handler runs: bodies
// over the limit, requests that did not arrive within the read timeout,
// unparsable requests. The connection is closed after the answer.
func (a *api) errorHandler(ctx *fasthttp.RequestCtx, err error) {
	var we *wire.Error
	var netErr net.Error
	var small *fasthttp.ErrSmallBuffer
	status := 0 // the code's status unless set
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		we = wire.Errorf(wire.CodeRecordListTooLarge, "the request body is larger than the server's limit of %d bytes (--max-request-bytes)", a.maxBody)
	case errors.As(err, &small):
		we = wire.Errorf(wire.CodeInvalidRequest, "the request headers are too large")
	case errors.As(err, &netErr) && netErr.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
		// 408 rather than 400: fasthttp also lands here when a connection
		// opened and sent nothing at all within the read timeout, and an
		// HTTP client takes an unsolicited 408 on an idle connection for
		// the server closing it (RFC 9110, 15.5.9), not for the answer to
		// a request it sends next.
		we = wire.Errorf(wire.CodeInvalidRequest, "the request did not arrive within the read timeout")
		status = fasthttp.StatusRequestTimeout
	default:
		we = wire.Errorf(wire.CodeInvalidRequest, "malformed HTTP request: %v", err)
	}
	a.m.connErrors.WithLabelValues(string(we.Code)).Inc()
	writeError(ctx, we)
	if status != 0 {
		ctx.SetStatusCode(status)
	}
}
