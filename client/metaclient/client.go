package metaclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
)

// Client talks to a strand-meta cluster over its HTTP API. It is safe for
// concurrent use; each call runs in the caller's goroutine (plus one helper
// goroutine per attempt when the context can be cancelled, so that an
// attempt stuck in the network never outlives the caller's context).
//
// A call tries the addresses in turn, starting with the last one that
// answered, and retries what Retriable allows with capped exponential
// backoff between rounds, until it succeeds, gets a final answer, runs out
// of attempts (WithMaxAttempts) or its context ends.
type Client struct {
	cfg    config
	addrs  []string
	hc     *fasthttp.Client
	log    *slog.Logger
	policy backoffPolicy
	// first is the index in addrs of the address tried first: the last one
	// that answered, moved on when it fails.
	first atomic.Uint32
}

// New returns a client of the strand-meta nodes at addrs (host:port, an
// optional "http://" prefix is dropped; empty entries are skipped). A client
// without any address fails every call with ErrNoAddresses.
func New(addrs []string, opts ...Option) *Client {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.dialTimeout > cfg.timeout {
		cfg.dialTimeout = cfg.timeout
	}
	log := cfg.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	name := cfg.userAgentName
	if name == "" {
		name = "strand-metaclient"
	}
	c := &Client{
		cfg:    cfg,
		log:    log.With("component", "metaclient"),
		policy: backoffPolicy{base: cfg.backoffBase, max: cfg.backoffMax},
	}
	for _, a := range addrs {
		a = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(a), "http://"), "/")
		if a != "" {
			c.addrs = append(c.addrs, a)
		}
	}
	dialTimeout := cfg.dialTimeout
	c.hc = &fasthttp.Client{
		Name:                name,
		MaxConnsPerHost:     cfg.maxConns,
		MaxConnWaitTimeout:  cfg.timeout,
		MaxIdleConnDuration: 60 * time.Second,
		MaxResponseBodySize: cfg.maxResponse,
		// Retries are this client's business, across nodes.
		MaxIdemponentCallAttempts: 1,
		DialTimeout: func(addr string, timeout time.Duration) (net.Conn, error) {
			if timeout <= 0 || timeout > dialTimeout {
				timeout = dialTimeout
			}
			return fasthttp.DialTimeout(addr, timeout)
		},
	}
	return c
}

// Addrs returns the strand-meta addresses the client uses.
func (c *Client) Addrs() []string { return append([]string(nil), c.addrs...) }

// Close closes idle connections. Calls in flight finish.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// request is one API call.
type request struct {
	method string
	path   string
	query  url.Values
	body   any // JSON-encoded when not nil
	// wait is added to the attempt timeout (a long-poll's server-side wait).
	wait time.Duration
}

// call runs req against the cluster with retries and decodes a 2xx answer
// into out (nil ignores it).
func (c *Client) call(ctx context.Context, req request, out any) error {
	if len(c.addrs) == 0 {
		return ErrNoAddresses
	}
	body, err := encodeBody(req.body)
	if err != nil {
		return err
	}
	n := len(c.addrs)
	start := int(c.first.Load()) % n
	var (
		lastErr error
		hint    string // leader address named by a NOT_LEADER answer
		next    int    // how many of addrs this call has tried (in order from start)
		inRound int    // attempts since the last backoff
		round   int
	)
	for attempt := 1; ; attempt++ {
		addr, idx := hint, -1
		if hint == "" {
			idx = (start + next) % n
			addr = c.addrs[idx]
			next++
		}
		hint = ""
		err := c.once(ctx, addr, req, body, out)
		if err == nil {
			if idx >= 0 {
				c.first.Store(uint32(idx))
			}
			return nil
		}
		if ctx.Err() != nil {
			return c.giveUp(req, ctx.Err(), err)
		}
		if !Retriable(err) {
			return err
		}
		lastErr = err
		if idx >= 0 {
			c.first.CompareAndSwap(uint32(idx), uint32((idx+1)%n))
		}
		c.log.Debug("retrying", "method", req.method, "path", req.path, "addr", addr, "attempt", attempt, "err", err)
		if c.cfg.maxAttempts > 0 && attempt >= c.cfg.maxAttempts {
			return fmt.Errorf("metaclient: %s %s: giving up after %d attempts: %w", req.method, req.path, attempt, lastErr)
		}
		var we *wire.Error
		if errors.As(err, &we) && we.Code == wire.CodeNotLeader && we.LeaderAddr != "" && we.LeaderAddr != addr && idx >= 0 {
			// Go straight to the leader it named, once per address tried.
			hint = we.LeaderAddr
			continue
		}
		inRound++
		if inRound >= n {
			inRound = 0
			round++
			if err := sleep(ctx, c.policy.delay(round)); err != nil {
				return c.giveUp(req, err, lastErr)
			}
		}
	}
}

func (c *Client) giveUp(req request, ctxErr, last error) error {
	return fmt.Errorf("metaclient: %s %s: %w (last error: %w)", req.method, req.path, ctxErr, last)
}

func encodeBody(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("metaclient: encoding the request: %w", err)
	}
	return b, nil
}

// answer is what one attempt got from the network.
type answer struct {
	status int
	body   []byte
	err    error
}

// once makes one attempt against addr.
func (c *Client) once(ctx context.Context, addr string, req request, body []byte, out any) error {
	deadline := time.Now().Add(c.cfg.timeout + req.wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	uri := "http://" + addr + req.path
	if len(req.query) > 0 {
		uri += "?" + req.query.Encode()
	}
	var a answer
	if ctx.Done() == nil {
		a = c.roundTrip(req.method, uri, body, deadline)
	} else {
		ch := make(chan answer, 1)
		go func() { ch <- c.roundTrip(req.method, uri, body, deadline) }()
		select {
		case a = <-ch:
		case <-ctx.Done():
			// The attempt ends by its deadline at the latest; its goroutine
			// then exits, writing into the buffered channel.
			return ctx.Err()
		}
	}
	if a.err != nil {
		if errors.Is(a.err, fasthttp.ErrBodyTooLarge) {
			return &TransportError{Addr: addr, Path: req.path, Err: fmt.Errorf("%w of %d bytes: %w", ErrResponseTooLarge, c.cfg.maxResponse, a.err)}
		}
		return &TransportError{Addr: addr, Path: req.path, Err: a.err}
	}
	if a.status >= 200 && a.status < 300 {
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(a.body, out); err != nil {
			return &TransportError{Addr: addr, Path: req.path, Err: fmt.Errorf("decoding the answer (HTTP %d): %w", a.status, err)}
		}
		return nil
	}
	if isEnvelope(a.body) {
		return wire.UnmarshalError(a.status, a.body)
	}
	if a.status >= 500 || a.status == fasthttp.StatusTooManyRequests {
		return &TransportError{Addr: addr, Path: req.path, Err: wire.UnmarshalError(a.status, a.body)}
	}
	return wire.UnmarshalError(a.status, a.body)
}

// roundTrip performs one HTTP exchange and copies the answer out of
// fasthttp's pooled objects.
func (c *Client) roundTrip(method, uri string, body []byte, deadline time.Time) answer {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(uri)
	req.Header.SetMethod(method)
	if body != nil {
		req.Header.SetContentType(wire.ContentTypeJSON)
		req.SetBodyRaw(body)
	}
	if err := c.hc.DoDeadline(req, resp, deadline); err != nil {
		return answer{err: err}
	}
	return answer{status: resp.StatusCode(), body: append([]byte(nil), resp.Body()...)}
}

// isEnvelope reports whether body is strand's JSON error envelope.
func isEnvelope(body []byte) bool {
	var env struct {
		Error *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	return json.Unmarshal(body, &env) == nil && env.Error != nil && env.Error.Code != ""
}
