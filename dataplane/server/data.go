package server

import (
	"errors"
	"io"
	"os"
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
	"strand.dev/dataplane/replica"
)

// produce appends the body's record batches: POST PathProduce.
func (a *api) produce(ctx *fasthttp.RequestCtx) error {
	if err := method(ctx, fasthttp.MethodPost); err != nil {
		return err
	}
	req, err := parseProduce(ctx.QueryArgs(), a.lim)
	if err != nil {
		return err
	}
	req.Batches = ctx.PostBody()
	if len(req.Batches) == 0 {
		return wire.Errorf(wire.CodeCorruptMessage, "the request body is empty; it must hold record batches")
	}
	res, err := a.rm.Append(a.stopCtx, req)
	if err != nil {
		return err
	}
	a.m.bytesIn.Add(float64(res.Bytes))
	a.m.recordsIn.Add(float64(res.Records))
	out := wire.ProduceResponse{
		Topic:          req.Topic,
		Partition:      req.Partition,
		BaseOffset:     res.BaseOffset,
		LastOffset:     res.LastOffset,
		LogAppendTime:  res.LogAppendTime,
		LogStartOffset: res.LogStartOffset,
	}
	if req.Acks == replica.AcksNone {
		out.BaseOffset, out.LastOffset = -1, -1
	}
	return writeJSON(ctx, out)
}

// fetch answers raw batch bytes: GET PathFetch. The body is the segment
// file region itself: the descriptor is handed to fasthttp as the body
// stream, whose writer sends it to the connection with sendfile(2) and
// closes it once the response is written (or the connection fails).
func (a *api) fetch(ctx *fasthttp.RequestCtx) error {
	if err := method(ctx, fasthttp.MethodGet); err != nil {
		return err
	}
	req, err := parseFetch(ctx.QueryArgs(), a.lim)
	if err != nil {
		return err
	}
	res, err := a.rm.Fetch(a.stopCtx, req)
	if err != nil {
		_ = res.Close()
		return err
	}
	if res.Waited {
		a.m.fetchWaits.Inc()
	}
	h := &ctx.Response.Header
	h.Set(wire.HeaderHighWatermark, strconv.FormatInt(res.HighWatermark, 10))
	h.Set(wire.HeaderLogStartOffset, strconv.FormatInt(res.LogStartOffset, 10))
	h.Set(wire.HeaderLogEndOffset, strconv.FormatInt(res.LogEndOffset, 10))
	h.Set(wire.HeaderLeaderEpoch, strconv.FormatInt(int64(res.LeaderEpoch), 10))
	ctx.SetContentType(wire.ContentTypeBatch)
	ctx.SetStatusCode(fasthttp.StatusOK)
	f, n := res.Region.File, res.Region.Len
	if f == nil || n == 0 {
		_ = res.Close()
		return nil
	}
	a.m.bytesOut.Add(float64(n))
	if a.copyFetch {
		a.m.copyFetch.Inc()
		ctx.SetBodyStream(&copyingReader{f: f, n: n}, int(n))
		return nil
	}
	// A bare *os.File positioned at the region: fasthttp's fixed-size body
	// writer flushes the headers and calls the connection's ReadFrom with
	// an io.LimitedReader around the file, which is Go's sendfile path.
	ctx.SetBodyStream(f, int(n))
	return nil
}

// copyBufSize is the buffer of the copying fetch path.
const copyBufSize = 256 << 10

// copyBufs recycles the copying path's buffers.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// copyingReader sends a region by read(2) into a user-space buffer and
// write(2) out of it: the path the benchmark compares sendfile against. Its
// WriteTo keeps fasthttp from choosing a path, and its Close releases the
// file.
type copyingReader struct {
	f *os.File
	n int64
}

// Read implements io.Reader within the region.
func (c *copyingReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.f.Read(p)
	c.n -= int64(n)
	return n, err
}

// WriteTo copies the region through a pooled buffer.
func (c *copyingReader) WriteTo(w io.Writer) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	var total int64
	for c.n > 0 {
		n, err := c.Read(*bp)
		if n > 0 {
			wn, werr := w.Write((*bp)[:n])
			total += int64(wn)
			if werr != nil {
				return total, werr
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Close closes the file.
func (c *copyingReader) Close() error { return c.f.Close() }

// offsets answers a list-offsets lookup: GET PathOffsets.
func (a *api) offsets(ctx *fasthttp.RequestCtx) error {
	if err := method(ctx, fasthttp.MethodGet); err != nil {
		return err
	}
	q, err := parseOffsets(ctx.QueryArgs())
	if err != nil {
		return err
	}
	off, ts, epoch, err := a.rm.ListOffset(q)
	if err != nil {
		return err
	}
	return writeJSON(ctx, wire.OffsetsResponse{Topic: q.Topic, Partition: q.Partition, Offset: off, Timestamp: ts, LeaderEpoch: epoch})
}
