package server

import (
	"encoding/json"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

// fakeData is an in-memory standalone data node: produce (offsets assigned,
// acks ignored), fetch (whole batches from the one holding the offset),
// list offsets, metadata and topic creation. It can be told to fail writes.
type fakeData struct {
	t    *testing.T
	addr string
	srv  *fasthttp.Server

	mu         sync.Mutex
	topics     map[string]*fakeTopic
	failWrites bool
	produces   int
	// moreNodes are listed in the metadata after node 1 (itself); once
	// metadataCalls reaches unfenceAfter (> 0) they are unfenced.
	moreNodes     []wire.NodeInfo
	metadataCalls int
	unfenceAfter  int
	createRF      map[string]int16 // replication factor asked per topic
}

type fakeTopic struct {
	configs map[string]string
	parts   []*fakeLog
}

type fakeLog struct {
	batches [][]byte
	bases   []int64
	next    int64
}

func newFakeData(t *testing.T) *fakeData {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeData{t: t, addr: ln.Addr().String(), topics: map[string]*fakeTopic{}}
	f.srv = &fasthttp.Server{Handler: f.handle, MaxRequestBodySize: 64 << 20}
	go f.srv.Serve(ln)
	t.Cleanup(func() { f.srv.Shutdown() })
	return f
}

func (f *fakeData) createTopic(name string, n int32, configs map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tp := &fakeTopic{configs: configs}
	for range n {
		tp.parts = append(tp.parts, &fakeLog{})
	}
	f.topics[name] = tp
}

func (f *fakeData) setFailWrites(v bool) {
	f.mu.Lock()
	f.failWrites = v
	f.mu.Unlock()
}

func (f *fakeData) fail(ctx *fasthttp.RequestCtx, err *wire.Error) {
	body, status := wire.MarshalError(err)
	ctx.SetStatusCode(status)
	ctx.SetBody(body)
}

func (f *fakeData) json(ctx *fasthttp.RequestCtx, v any) {
	b, _ := json.Marshal(v)
	ctx.SetContentType(wire.ContentTypeJSON)
	ctx.SetBody(b)
}

func (f *fakeData) log(ctx *fasthttp.RequestCtx) (*fakeLog, *wire.Error) {
	q := ctx.QueryArgs()
	t := f.topics[string(q.Peek(wire.ParamTopic))]
	p, err := strconv.Atoi(string(q.Peek(wire.ParamPartition)))
	if t == nil || err != nil || p < 0 || p >= len(t.parts) {
		return nil, wire.Errorf(wire.CodeUnknownTopicOrPartition, "no such partition")
	}
	return t.parts[p], nil
}

func (f *fakeData) handle(ctx *fasthttp.RequestCtx) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch string(ctx.Path()) {
	case wire.PathMetadata:
		f.metadataCalls++
		if f.unfenceAfter > 0 && f.metadataCalls >= f.unfenceAfter {
			for i := range f.moreNodes {
				f.moreNodes[i].Fenced = false
			}
		}
		md := wire.Metadata{Nodes: append([]wire.NodeInfo{{ID: 1, Addr: f.addr}}, f.moreNodes...), ControllerAddr: f.addr}
		for name, t := range f.topics {
			tm := wire.TopicMetadata{Name: name, Configs: t.configs}
			for i := range t.parts {
				tm.Partitions = append(tm.Partitions, wire.PartitionMetadata{Partition: int32(i), Leader: 1, Replicas: []int32{1}, ISR: []int32{1}})
			}
			md.Topics = append(md.Topics, tm)
		}
		f.json(ctx, md)
	case wire.PathAdminTopics:
		var req wire.CreateTopicRequest
		if err := json.Unmarshal(ctx.PostBody(), &req); err != nil {
			f.fail(ctx, wire.Errorf(wire.CodeInvalidRequest, "%v", err))
			return
		}
		if _, ok := f.topics[req.Topic]; ok {
			f.fail(ctx, wire.Errorf(wire.CodeTopicAlreadyExists, "exists"))
			return
		}
		if f.createRF == nil {
			f.createRF = map[string]int16{}
		}
		f.createRF[req.Topic] = req.ReplicationFactor
		f.mu.Unlock()
		f.createTopic(req.Topic, req.Partitions, req.Configs)
		f.mu.Lock()
		f.json(ctx, wire.TopicMetadata{Name: req.Topic})
	case wire.PathProduce:
		l, werr := f.log(ctx)
		if werr != nil {
			f.fail(ctx, werr)
			return
		}
		if f.failWrites {
			f.fail(ctx, wire.Errorf(wire.CodeNotEnoughReplicas, "told to fail"))
			return
		}
		hdrs, err := recordbatch.Validate(ctx.PostBody(), 64<<20)
		if err != nil {
			f.fail(ctx, wire.Errorf(wire.CodeCorruptMessage, "%v", err))
			return
		}
		body := append([]byte(nil), ctx.PostBody()...)
		base := l.next
		pos := 0
		for _, h := range hdrs {
			b := body[pos : pos+h.Size()]
			recordbatch.SetBaseOffset(b, l.next)
			l.batches = append(l.batches, b)
			l.bases = append(l.bases, l.next)
			l.next += int64(h.LastOffsetDelta) + 1
			pos += h.Size()
		}
		f.produces++
		f.json(ctx, wire.ProduceResponse{BaseOffset: base, LastOffset: l.next - 1})
	case wire.PathFetch:
		l, werr := f.log(ctx)
		if werr != nil {
			f.fail(ctx, werr)
			return
		}
		q := ctx.QueryArgs()
		off, _ := strconv.ParseInt(string(q.Peek(wire.ParamOffset)), 10, 64)
		maxBytes, _ := strconv.Atoi(string(q.Peek(wire.ParamMaxBytes)))
		if off > l.next {
			f.fail(ctx, wire.Errorf(wire.CodeOffsetOutOfRange, "offset %d above %d", off, l.next))
			return
		}
		ctx.Response.Header.Set(wire.HeaderHighWatermark, strconv.FormatInt(l.next, 10))
		ctx.Response.Header.Set(wire.HeaderLogStartOffset, "0")
		var out []byte
		for i, b := range l.batches {
			last := l.next - 1
			if i+1 < len(l.bases) {
				last = l.bases[i+1] - 1
			}
			if last < off {
				continue
			}
			if len(out) > 0 && len(out)+len(b) > maxBytes {
				break
			}
			out = append(out, b...)
		}
		ctx.SetBody(out)
	case wire.PathOffsets:
		l, werr := f.log(ctx)
		if werr != nil {
			f.fail(ctx, werr)
			return
		}
		off := l.next
		switch at := string(ctx.QueryArgs().Peek(wire.ParamAt)); at {
		case wire.AtEarliest:
			off = 0
		case wire.AtLatest:
		default:
			ts, err := strconv.ParseInt(at, 10, 64)
			if err != nil {
				f.fail(ctx, wire.Errorf(wire.CodeInvalidRequest, "at %q", at))
				return
			}
			off = l.offsetForTime(ts)
		}
		f.json(ctx, wire.OffsetsResponse{Offset: off})
	default:
		f.fail(ctx, wire.Errorf(wire.CodeInvalidRequest, "no path %s", ctx.Path()))
	}
}

// offsetForTime is the base offset of the first batch whose largest
// timestamp is at or after ts, -1 if none (the fake's granularity is a
// batch; the data node's is a record).
func (l *fakeLog) offsetForTime(ts int64) int64 {
	for i, b := range l.batches {
		h, err := recordbatch.ParseHeader(b)
		if err == nil && h.MaxTimestamp >= ts {
			return l.bases[i]
		}
	}
	return -1
}

// appendRecords appends one batch of n records, all with timestamp ts, to
// a partition, as a producer would.
func (f *fakeData) appendRecords(topic string, p int32, n int, ts int64) {
	f.t.Helper()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{Value: []byte("v"), Timestamp: ts}
	}
	b, err := recordbatch.Encode(recs, recordbatch.EncodeOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.topics[topic].parts[p]
	recordbatch.SetBaseOffset(b, l.next)
	l.batches = append(l.batches, b)
	l.bases = append(l.bases, l.next)
	l.next += int64(n)
}
