package fetcher

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
)

// epochClient asks leaders where their epochs end (wire.PathReplicaEpochs).
// Safe for concurrent use.
type epochClient struct {
	hc      *fasthttp.Client
	timeout time.Duration
}

func newEpochClient(timeout time.Duration) *epochClient {
	return &epochClient{
		hc: &fasthttp.Client{
			Name:                      "strand-data-fetcher",
			MaxConnsPerHost:           16,
			MaxIdleConnDuration:       30 * time.Second,
			MaxResponseBodySize:       64 << 20,
			MaxIdemponentCallAttempts: 1,
			ReadTimeout:               timeout,
			WriteTimeout:              timeout,
		},
		timeout: timeout,
	}
}

// ask sends one request; the answer has one entry per partition asked about,
// in order.
func (c *epochClient) ask(addr string, req *wire.EpochEndRequest) ([]wire.EpochEndPartition, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode epoch request: %w", err)
	}
	hreq := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(hreq)
	defer fasthttp.ReleaseResponse(resp)
	hreq.SetRequestURI("http://" + addr + wire.PathReplicaEpochs)
	hreq.Header.SetMethod(fasthttp.MethodPost)
	hreq.Header.SetContentType(wire.ContentTypeJSON)
	hreq.SetBodyRaw(body)
	if err := c.hc.DoTimeout(hreq, resp, c.timeout); err != nil {
		return nil, fmt.Errorf("epoch request to %s: %w", addr, err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return nil, wire.UnmarshalError(resp.StatusCode(), resp.Body())
	}
	var out wire.EpochEndResponse
	if err := json.Unmarshal(resp.Body(), &out); err != nil {
		return nil, fmt.Errorf("decode the epoch answer of %s: %w", addr, err)
	}
	if len(out.Partitions) != len(req.Partitions) {
		return nil, fmt.Errorf("epoch answer of %s has %d partitions for %d asked", addr, len(out.Partitions), len(req.Partitions))
	}
	return out.Partitions, nil
}

func (c *epochClient) close() { c.hc.CloseIdleConnections() }
