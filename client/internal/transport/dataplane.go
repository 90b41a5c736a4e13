package transport

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"strand.dev/client/wire"
)

// Metadata asks a node (data node or strand-meta) for its routing view.
func (c *Client) Metadata(ctx context.Context, addr string) (*wire.Metadata, error) {
	var md wire.Metadata
	if err := c.JSON(ctx, http.MethodGet, addr, wire.PathMetadata, nil, nil, &md); err != nil {
		return nil, err
	}
	return &md, nil
}

// ProduceRequest is one produce to a partition leader.
type ProduceRequest struct {
	Topic     string
	Partition int32
	// Acks is -1 (all), 0 or 1.
	Acks int
	// Timeout is how long the leader may wait for acks=all; 0 leaves the
	// server's default.
	Timeout time.Duration
	// Body is one or more RecordBatch v2 batches, back to back.
	Body []byte
}

// Produce sends a batch (or several) to the partition's leader.
func (c *Client) Produce(ctx context.Context, addr string, req ProduceRequest) (*wire.ProduceResponse, error) {
	q := url.Values{}
	q.Set(wire.ParamTopic, req.Topic)
	q.Set(wire.ParamPartition, strconv.Itoa(int(req.Partition)))
	q.Set(wire.ParamAcks, strconv.Itoa(req.Acks))
	if req.Timeout > 0 {
		q.Set(wire.ParamTimeoutMs, strconv.FormatInt(req.Timeout.Milliseconds(), 10))
	}
	resp, err := c.Do(ctx, Request{
		Method: http.MethodPost, Addr: addr, Path: wire.PathProduce, Query: q,
		ContentType: wire.ContentTypeBatch, Body: req.Body,
	})
	if err != nil {
		return nil, err
	}
	var pr wire.ProduceResponse
	if err := jsonDecode(resp.Body, &pr); err != nil {
		return nil, &NodeError{Addr: addr, Path: wire.PathProduce, Garbage: true, Err: err}
	}
	return &pr, nil
}

// FetchRequest is one fetch from a partition leader.
type FetchRequest struct {
	Topic     string
	Partition int32
	Offset    int64
	MaxBytes  int32
	MinBytes  int32
	MaxWait   time.Duration
}

// FetchResponse is a fetch's answer: raw batches (possibly empty, possibly
// starting before the offset asked for, possibly ending in a partial batch)
// and the partition's offsets.
type FetchResponse struct {
	Body           []byte
	HighWatermark  int64
	LogStartOffset int64
	LogEndOffset   int64
	LeaderEpoch    int32
}

// Fetch reads from a partition's leader, long-polling up to MaxWait for
// MinBytes.
func (c *Client) Fetch(ctx context.Context, addr string, req FetchRequest) (*FetchResponse, error) {
	q := url.Values{}
	q.Set(wire.ParamTopic, req.Topic)
	q.Set(wire.ParamPartition, strconv.Itoa(int(req.Partition)))
	q.Set(wire.ParamOffset, strconv.FormatInt(req.Offset, 10))
	if req.MaxBytes > 0 {
		q.Set(wire.ParamMaxBytes, strconv.Itoa(int(req.MaxBytes)))
	}
	if req.MinBytes > 0 {
		q.Set(wire.ParamMinBytes, strconv.Itoa(int(req.MinBytes)))
	}
	q.Set(wire.ParamMaxWaitMs, strconv.FormatInt(req.MaxWait.Milliseconds(), 10))
	maxBody := int64(req.MaxBytes)
	if maxBody <= 0 {
		maxBody = 1 << 20
	}
	// A server may return one batch larger than max_bytes (so a consumer is
	// never stuck behind it); allow that, bounded.
	maxBody = maxBody*2 + 64<<20
	resp, err := c.Do(ctx, Request{Method: http.MethodGet, Addr: addr, Path: wire.PathFetch, Query: q, MaxBody: maxBody})
	if err != nil {
		return nil, err
	}
	fr := &FetchResponse{Body: resp.Body, HighWatermark: -1, LogStartOffset: -1, LogEndOffset: -1, LeaderEpoch: -1}
	for _, h := range []struct {
		name string
		dst  *int64
	}{
		{wire.HeaderHighWatermark, &fr.HighWatermark},
		{wire.HeaderLogStartOffset, &fr.LogStartOffset},
		{wire.HeaderLogEndOffset, &fr.LogEndOffset},
	} {
		if v := resp.Header.Get(h.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, &NodeError{Addr: addr, Path: wire.PathFetch, Garbage: true, Err: fmt.Errorf("header %s: %w", h.name, err)}
			}
			*h.dst = n
		}
	}
	if v := resp.Header.Get(wire.HeaderLeaderEpoch); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return nil, &NodeError{Addr: addr, Path: wire.PathFetch, Garbage: true, Err: fmt.Errorf("header %s: %w", wire.HeaderLeaderEpoch, err)}
		}
		fr.LeaderEpoch = int32(n)
	}
	if fr.HighWatermark < 0 {
		return nil, &NodeError{Addr: addr, Path: wire.PathFetch, Garbage: true, Err: fmt.Errorf("no %s header", wire.HeaderHighWatermark)}
	}
	return fr, nil
}

// ListOffset asks a partition's leader for an offset: at is wire.AtEarliest,
// wire.AtLatest or a Unix-millisecond timestamp as a decimal string.
func (c *Client) ListOffset(ctx context.Context, addr, topic string, partition int32, at string) (*wire.OffsetsResponse, error) {
	q := url.Values{}
	q.Set(wire.ParamTopic, topic)
	q.Set(wire.ParamPartition, strconv.Itoa(int(partition)))
	q.Set(wire.ParamAt, at)
	var or wire.OffsetsResponse
	if err := c.JSON(ctx, http.MethodGet, addr, wire.PathOffsets, q, nil, &or); err != nil {
		return nil, err
	}
	return &or, nil
}

// Health asks a node's /healthz; nil means it answered 200.
func (c *Client) Health(ctx context.Context, addr string) error {
	_, err := c.Do(ctx, Request{Method: http.MethodGet, Addr: addr, Path: wire.PathHealth, MaxBody: 4096})
	return err
}
