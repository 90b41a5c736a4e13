package logclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
)

// MetadataSource gives the current routing view and refreshes it on demand.
type MetadataSource interface {
	// Metadata returns the latest view (nil before the first one). The
	// result is shared: do not modify it.
	Metadata() *wire.Metadata
	// Refresh asks for a newer view (it may return before one arrives).
	Refresh()
}

// Config configures a Client.
type Config struct {
	// Metadata routes requests. Required.
	Metadata MetadataSource
	// RequestTimeout bounds one HTTP request (a produce waiting for acks=all
	// gets this plus its timeout_ms). Default 10 s.
	RequestTimeout time.Duration
	// ProduceTimeout is the acks=all wait asked of the leader (timeout_ms).
	// Default 10 s.
	ProduceTimeout time.Duration
	// MaxResponseBytes bounds a fetch answer and a JSON answer. Default
	// 64 MiB.
	MaxResponseBytes int
	// BackoffBase and BackoffMax bound the delay between retries (defaults
	// 20 ms and 1 s).
	BackoffBase, BackoffMax time.Duration
	// Logger receives debug logs of retries; nil discards them.
	Logger *slog.Logger
}

// Client talks to data nodes.
type Client struct {
	cfg Config
	hc  *fasthttp.Client
	log *slog.Logger
}

// New returns a Client.
func New(cfg Config) *Client {
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.ProduceTimeout <= 0 {
		cfg.ProduceTimeout = 10 * time.Second
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 64 << 20
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 20 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{
		cfg: cfg,
		hc: &fasthttp.Client{
			Name:                          "strand-coordinator",
			MaxConnsPerHost:               256,
			MaxResponseBodySize:           cfg.MaxResponseBytes,
			ReadTimeout:                   cfg.RequestTimeout + cfg.ProduceTimeout,
			WriteTimeout:                  cfg.RequestTimeout,
			MaxIdleConnDuration:           30 * time.Second,
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: false,
			RetryIf:                       func(*fasthttp.Request) bool { return false },
		},
		log: log.With("component", "logclient"),
	}
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// ErrNoMetadata is returned while no metadata is known.
var ErrNoMetadata = errors.New("logclient: no cluster metadata yet")

// leader returns the API address of a partition's leader.
func (c *Client) leader(topic string, partition int32) (string, error) {
	md := c.cfg.Metadata.Metadata()
	if md == nil {
		return "", ErrNoMetadata
	}
	t, ok := md.Topic(topic)
	if !ok {
		return "", wire.Errorf(wire.CodeUnknownTopicOrPartition, "topic %q is not in the metadata (version %d)", topic, md.Version)
	}
	for _, p := range t.Partitions {
		if p.Partition != partition {
			continue
		}
		if p.Leader < 0 {
			return "", wire.Errorf(wire.CodeLeaderNotAvailable, "%s-%d has no leader", topic, partition)
		}
		n, ok := md.Node(p.Leader)
		if !ok || n.Addr == "" {
			return "", wire.Errorf(wire.CodeLeaderNotAvailable, "%s-%d: leader %d has no address", topic, partition, p.Leader)
		}
		return n.Addr, nil
	}
	return "", wire.Errorf(wire.CodeUnknownTopicOrPartition, "%s has no partition %d", topic, partition)
}

// retriable reports whether a failed attempt may be retried.
func retriable(err error) bool {
	if errors.Is(err, ErrNoMetadata) {
		return true
	}
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Retriable()
	}
	var te *TransportError
	return errors.As(err, &te)
}

// TransportError is a request that got no HTTP answer (connection refused,
// reset, timeout).
type TransportError struct {
	Addr string
	Err  error
}

func (e *TransportError) Error() string { return fmt.Sprintf("data node %s: %v", e.Addr, e.Err) }

// Unwrap returns the cause.
func (e *TransportError) Unwrap() error { return e.Err }

// retry runs attempt until it succeeds, fails for good, or ctx ends.
func (c *Client) retry(ctx context.Context, what string, attempt func() error) error {
	delay := c.cfg.BackoffBase
	for n := 0; ; n++ {
		err := attempt()
		if err == nil || !retriable(err) {
			return err
		}
		c.log.Debug("retrying", "op", what, "attempt", n, "err", err)
		c.cfg.Metadata.Refresh()
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (last error: %w)", what, ctx.Err(), err)
		case <-t.C:
		}
		delay = min(2*delay, c.cfg.BackoffMax)
	}
}

// do sends one request and returns the 2xx body (copied) and headers.
func (c *Client) do(ctx context.Context, method, addr, path string, q url.Values, contentType string, body []byte, extraWait time.Duration) ([]byte, *fasthttp.ResponseHeader, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	uri := "http://" + addr + path
	if len(q) > 0 {
		uri += "?" + q.Encode()
	}
	req.SetRequestURI(uri)
	req.Header.SetMethod(method)
	if body != nil {
		req.Header.SetContentType(contentType)
		req.SetBodyRaw(body)
	}
	deadline := time.Now().Add(c.cfg.RequestTimeout + extraWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.hc.DoDeadline(req, resp, deadline); err != nil {
		return nil, nil, &TransportError{Addr: addr, Err: err}
	}
	status := resp.StatusCode()
	if status < 200 || status > 299 {
		return nil, nil, wire.UnmarshalError(status, resp.Body())
	}
	var hdr fasthttp.ResponseHeader
	resp.Header.CopyTo(&hdr)
	return append([]byte(nil), resp.Body()...), &hdr, nil
}

// Produce appends batch (RecordBatch bytes) to a partition with acks=all
// and answers once the leader acknowledged it.
func (c *Client) Produce(ctx context.Context, topic string, partition int32, batch []byte) (wire.ProduceResponse, error) {
	var out wire.ProduceResponse
	q := url.Values{
		wire.ParamTopic:     {topic},
		wire.ParamPartition: {strconv.Itoa(int(partition))},
		wire.ParamAcks:      {"all"},
		wire.ParamTimeoutMs: {strconv.FormatInt(c.cfg.ProduceTimeout.Milliseconds(), 10)},
	}
	err := c.retry(ctx, "produce", func() error {
		addr, err := c.leader(topic, partition)
		if err != nil {
			return err
		}
		body, _, err := c.do(ctx, fasthttp.MethodPost, addr, wire.PathProduce, q, wire.ContentTypeBatch, batch, c.cfg.ProduceTimeout)
		if err != nil {
			return err
		}
		return json.Unmarshal(body, &out)
	})
	return out, err
}

// FetchResult is a fetch's answer.
type FetchResult struct {
	// Batches are raw RecordBatch bytes (whole batches only; a trailing
	// partial batch is cut off).
	Batches        []byte
	HighWatermark  int64
	LogStartOffset int64
}

// Fetch reads batches of a partition from offset, up to maxBytes, waiting
// up to maxWait for data.
func (c *Client) Fetch(ctx context.Context, topic string, partition int32, offset int64, maxBytes int, maxWait time.Duration) (FetchResult, error) {
	var out FetchResult
	q := url.Values{
		wire.ParamTopic:     {topic},
		wire.ParamPartition: {strconv.Itoa(int(partition))},
		wire.ParamOffset:    {strconv.FormatInt(offset, 10)},
		wire.ParamMaxBytes:  {strconv.Itoa(maxBytes)},
		wire.ParamMaxWaitMs: {strconv.FormatInt(maxWait.Milliseconds(), 10)},
	}
	err := c.retry(ctx, "fetch", func() error {
		addr, err := c.leader(topic, partition)
		if err != nil {
			return err
		}
		body, hdr, err := c.do(ctx, fasthttp.MethodGet, addr, wire.PathFetch, q, "", nil, maxWait)
		if err != nil {
			return err
		}
		out.HighWatermark, _ = strconv.ParseInt(string(hdr.Peek(wire.HeaderHighWatermark)), 10, 64)
		out.LogStartOffset, _ = strconv.ParseInt(string(hdr.Peek(wire.HeaderLogStartOffset)), 10, 64)
		out.Batches = wholeBatches(body)
		return nil
	})
	return out, err
}

// ListOffset answers a partition's offset at "earliest", "latest" (the
// high watermark) or a timestamp.
func (c *Client) ListOffset(ctx context.Context, topic string, partition int32, at string) (int64, error) {
	var out wire.OffsetsResponse
	q := url.Values{
		wire.ParamTopic:     {topic},
		wire.ParamPartition: {strconv.Itoa(int(partition))},
		wire.ParamAt:        {at},
	}
	err := c.retry(ctx, "list offsets", func() error {
		addr, err := c.leader(topic, partition)
		if err != nil {
			return err
		}
		body, _, err := c.do(ctx, fasthttp.MethodGet, addr, wire.PathOffsets, q, "", nil, 0)
		if err != nil {
			return err
		}
		return json.Unmarshal(body, &out)
	})
	return out.Offset, err
}

// CreateTopic creates a topic through the admin API at the metadata's
// ControllerAddr. A topic that already exists is not an error.
func (c *Client) CreateTopic(ctx context.Context, req wire.CreateTopicRequest) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("logclient: encode create topic: %w", err)
	}
	return c.retry(ctx, "create topic", func() error {
		md := c.cfg.Metadata.Metadata()
		if md == nil {
			return ErrNoMetadata
		}
		if _, ok := md.Topic(req.Topic); ok {
			return nil
		}
		if md.ControllerAddr == "" {
			return wire.Errorf(wire.CodeNotController, "no active controller is known yet")
		}
		_, _, err := c.do(ctx, fasthttp.MethodPost, md.ControllerAddr, wire.PathAdminTopics, nil, wire.ContentTypeJSON, body, 0)
		if errors.Is(err, &wire.Error{Code: wire.CodeTopicAlreadyExists}) {
			return nil
		}
		return err
	})
}
