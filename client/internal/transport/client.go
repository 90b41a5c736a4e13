package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"strand.dev/client/wire"
)

// Config configures a Client.
type Config struct {
	// DialTimeout bounds connecting to a node. Default 5 s.
	DialTimeout time.Duration
	// MaxIdleConnsPerNode is how many idle keep-alive connections are kept
	// per node. Default 64.
	MaxIdleConnsPerNode int
	// MaxJSONBytes bounds a JSON answer. Default 64 MiB.
	MaxJSONBytes int64
	// Logger receives debug logs; nil logs nothing.
	Logger *slog.Logger
}

// Client makes requests to Strand nodes. It is safe for concurrent use.
type Client struct {
	hc      *http.Client
	tr      *http.Transport
	maxJSON int64
	log     *slog.Logger
}

// New returns a Client.
func New(cfg Config) *Client {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.MaxIdleConnsPerNode <= 0 {
		cfg.MaxIdleConnsPerNode = 64
	}
	if cfg.MaxJSONBytes <= 0 {
		cfg.MaxJSONBytes = 64 << 20
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext:         dialer.DialContext,
		MaxIdleConns:        cfg.MaxIdleConnsPerNode * 16,
		MaxIdleConnsPerHost: cfg.MaxIdleConnsPerNode,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      64 << 10,
	}
	return &Client{
		hc:      &http.Client{Transport: tr},
		tr:      tr,
		maxJSON: cfg.MaxJSONBytes,
		log:     log.With("component", "transport"),
	}
}

// Close closes idle connections. Requests still running finish.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// Response is a successful (2xx) answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Request is one HTTP request to a node.
type Request struct {
	Method      string
	Addr        string // host:port
	Path        string
	Query       url.Values
	ContentType string
	Body        []byte
	// MaxBody bounds the answer's body; 0 means the client's MaxJSONBytes.
	MaxBody int64
}

func nodeURL(addr, path string, q url.Values) string {
	var b strings.Builder
	if !strings.Contains(addr, "://") {
		b.WriteString("http://")
	}
	b.WriteString(addr)
	b.WriteString(path)
	if len(q) > 0 {
		b.WriteByte('?')
		b.WriteString(q.Encode())
	}
	return b.String()
}

// Do sends req and returns the answer. A 2xx answer is returned as is; an
// error answer is decoded into a *wire.Error (or a *NodeError when it is not
// Strand's envelope); a failure to reach the node, or a context that ends,
// is a *NodeError wrapping the cause (errors.Is finds context.Canceled and
// context.DeadlineExceeded through it).
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.Method, nodeURL(req.Addr, req.Path, req.Query), body)
	if err != nil {
		return nil, &NodeError{Addr: req.Addr, Path: req.Path, Err: err}
	}
	if req.ContentType != "" {
		hreq.Header.Set("Content-Type", req.ContentType)
	}
	resp, err := c.hc.Do(hreq)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the NodeError already
		}
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w: %w", ctxErr, err)
		}
		c.log.Debug("request failed", "addr", req.Addr, "path", req.Path, "err", err)
		return nil, &NodeError{Addr: req.Addr, Path: req.Path, Err: err}
	}
	defer resp.Body.Close()
	limit := req.MaxBody
	if limit <= 0 {
		limit = c.maxJSON
	}
	data, err := readBody(resp, limit)
	if err != nil {
		return nil, &NodeError{Addr: req.Addr, Path: req.Path, Err: fmt.Errorf("reading the answer: %w", err)}
	}
	if int64(len(data)) > limit {
		return nil, &NodeError{Addr: req.Addr, Path: req.Path, Garbage: true,
			Err: fmt.Errorf("answer longer than the %d bytes allowed", limit)}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
	}
	we := wire.UnmarshalError(resp.StatusCode, data)
	if we.Code == wire.CodeUnknown && !isEnvelope(data) {
		c.log.Debug("error answer without envelope", "addr", req.Addr, "path", req.Path, "status", resp.StatusCode)
		return nil, &NodeError{Addr: req.Addr, Path: req.Path, Garbage: true, Err: errors.New(we.Message)}
	}
	return nil, we
}

// readBody reads an answer's body, at most limit+1 bytes (more is the
// caller's error). A body of announced length (fetches: megabytes of
// record batches) is read into one buffer of that size; growing a buffer
// as io.ReadAll does would allocate, clear and copy it several times over.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= limit {
		data := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, data); err != nil {
			return nil, err
		}
		return data, nil
	}
	return io.ReadAll(io.LimitReader(resp.Body, limit+1))
}

// isEnvelope reports whether body is a JSON object with an "error" member.
func isEnvelope(body []byte) bool {
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	return json.Unmarshal(body, &env) == nil && len(env.Error) > 0
}

// JSON sends in (nil for no body) as JSON and decodes a 2xx answer into out
// (nil to ignore it). An answer that does not decode is a garbage NodeError.
func (c *Client) JSON(ctx context.Context, method, addr, path string, q url.Values, in, out any) error {
	req := Request{Method: method, Addr: addr, Path: path, Query: q}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding the request to %s: %w", path, err)
		}
		req.Body = b
		req.ContentType = wire.ContentTypeJSON
	}
	resp, err := c.Do(ctx, req)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return &NodeError{Addr: addr, Path: path, Garbage: true, Err: fmt.Errorf("decoding JSON: %w", err)}
	}
	return nil
}
