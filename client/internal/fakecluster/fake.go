// Package fakecluster is an in-memory Strand data plane for the client's
// tests: a few nodes on loopback (net/http test servers) that serve
// metadata, produce (idempotent producers included), fetch, offsets,
// producer ids and the admin paths from one shared state, with knobs to
// move leaders, stop nodes, lose answers and intercept requests.
//
// Replication is perfect and instant (every node sees every partition's
// log); only the leader answers produce and fetch, as on a real cluster.
package fakecluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

// Interceptor may answer a request instead of the fake: it returns true if
// it wrote an answer. node is the id of the node the request reached.
type Interceptor func(node int32, w http.ResponseWriter, r *http.Request) bool

// Cluster is the fake. Safe for concurrent use; mu guards every field below
// it, and changed is broadcast on every append.
type Cluster struct {
	servers []*httptest.Server // index = node id - 1

	mu          sync.Mutex
	changed     *sync.Cond
	topics      map[string]*topic
	stopped     map[int32]bool
	intercept   Interceptor
	version     uint64
	produceReqs int
	// nextProducerID and loseAnswers: see producers.go.
	nextProducerID int64
	loseAnswers    int
}

type topic struct {
	name    string
	configs map[string]string
	parts   []*partition
}

type partition struct {
	leader      int32
	leaderEpoch int32
	logStart    int64
	batches     []stored // in offset order
	next        int64    // log end offset = high watermark
	producers   map[int64]*producerState
}

type stored struct {
	base, last int64
	data       []byte
}

// New starts a fake of n nodes (ids 1..n). They stop at t's cleanup.
func New(n int, cleanup func(func())) *Cluster {
	c := &Cluster{topics: map[string]*topic{}, stopped: map[int32]bool{}, nextProducerID: firstProducerID}
	c.changed = sync.NewCond(&c.mu)
	for i := 0; i < n; i++ {
		id := int32(i + 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { c.serve(id, w, r) }))
		c.servers = append(c.servers, srv)
		cleanup(srv.Close)
	}
	return c
}

// Addr is node id's host:port.
func (c *Cluster) Addr(id int32) string {
	return strings.TrimPrefix(c.servers[id-1].URL, "http://")
}

// Bootstrap is every node's address, comma-separated.
func (c *Cluster) Bootstrap() string {
	var out []string
	for i := range c.servers {
		out = append(out, c.Addr(int32(i+1)))
	}
	return strings.Join(out, ",")
}

// Addrs is every node's address.
func (c *Cluster) Addrs() []string { return strings.Split(c.Bootstrap(), ",") }

// CreateTopic creates a topic with leaders spread over the nodes.
func (c *Cluster) CreateTopic(name string, partitions int, configs map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.createLocked(name, partitions, configs)
}

func (c *Cluster) createLocked(name string, partitions int, configs map[string]string) {
	t := &topic{name: name, configs: configs}
	for i := 0; i < partitions; i++ {
		t.parts = append(t.parts, &partition{leader: int32(i%len(c.servers) + 1)})
	}
	c.topics[name] = t
	c.version++
}

// SetLeader moves a partition's leadership to node, bumping the epoch.
func (c *Cluster) SetLeader(topic string, p int32, node int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	part := c.topics[topic].parts[p]
	part.leader = node
	part.leaderEpoch++
	c.version++
	c.changed.Broadcast()
}

// Leader returns a partition's leader.
func (c *Cluster) Leader(topic string, p int32) int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.topics[topic].parts[p].leader
}

// SetStopped makes a node answer every request with a closed connection
// (stopped) or serve again.
func (c *Cluster) SetStopped(node int32, stopped bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped[node] = stopped
	c.changed.Broadcast()
}

// Intercept installs (or, with nil, removes) an interceptor.
func (c *Cluster) Intercept(i Interceptor) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.intercept = i
}

// DeleteBefore drops whole batches below offset (retention) and moves the
// log start offset.
func (c *Cluster) DeleteBefore(topic string, p int32, offset int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	part := c.topics[topic].parts[p]
	for len(part.batches) > 0 && part.batches[0].last < offset {
		part.logStart = part.batches[0].last + 1
		part.batches = part.batches[1:]
	}
}

// AppendStored appends batches as a log stores them (with their own offsets,
// gaps allowed), for compaction scenarios. The batch must start at or after
// the log end offset.
func (c *Cluster) AppendStored(topic string, p int32, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	part := c.topics[topic].parts[p]
	hdrs, err := recordbatch.ValidateWith(data, recordbatch.ValidateOptions{Stored: true})
	if err != nil {
		return err
	}
	pos := 0
	for _, h := range hdrs {
		if h.BaseOffset < part.next {
			return fmt.Errorf("batch at %d below the log end %d", h.BaseOffset, part.next)
		}
		part.batches = append(part.batches, stored{base: h.BaseOffset, last: h.LastOffset(), data: data[pos : pos+h.Size()]})
		pos += h.Size()
		part.next = h.NextOffset()
	}
	c.changed.Broadcast()
	return nil
}

// Log returns a partition's stored bytes, batch after batch.
func (c *Cluster) Log(topic string, p int32) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []byte
	for _, b := range c.topics[topic].parts[p].batches {
		out = append(out, b.data...)
	}
	return out
}

// EndOffset returns a partition's log end offset.
func (c *Cluster) EndOffset(topic string, p int32) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.topics[topic].parts[p].next
}

// ProduceRequests counts the produce requests appended so far.
func (c *Cluster) ProduceRequests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.produceReqs
}

func writeErr(w http.ResponseWriter, err error) {
	body, status := wire.MarshalError(err)
	w.Header().Set("Content-Type", wire.ContentTypeJSON)
	w.WriteHeader(status)
	w.Write(body)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", wire.ContentTypeJSON)
	json.NewEncoder(w).Encode(v)
}

func (c *Cluster) serve(id int32, w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	stopped, icpt := c.stopped[id], c.intercept
	c.mu.Unlock()
	if stopped {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if icpt != nil && icpt(id, w, r) {
		return
	}
	switch r.URL.Path {
	case wire.PathMetadata:
		writeJSON(w, c.metadata())
	case wire.PathProduce:
		c.produce(id, w, r)
	case wire.PathFetch:
		c.fetch(id, w, r)
	case wire.PathOffsets:
		c.offsets(id, w, r)
	case wire.PathAdminTopics:
		c.adminTopics(w, r)
	case wire.PathAdminConfigs:
		c.adminConfigs(w, r)
	case wire.PathAdminPartitions:
		c.adminPartitions(id, w)
	case wire.PathInitProducerID:
		c.initProducerID(w, r)
	case wire.PathHealth:
		w.Write([]byte("ok"))
	default:
		writeErr(w, wire.Errorf(wire.CodeInvalidRequest, "no path %s", r.URL.Path))
	}
}

func (c *Cluster) metadata() wire.Metadata {
	c.mu.Lock()
	defer c.mu.Unlock()
	md := wire.Metadata{ClusterID: "fake", Version: c.version, ControllerAddr: c.Addr(1)}
	for i := range c.servers {
		md.Nodes = append(md.Nodes, wire.NodeInfo{ID: int32(i + 1), Addr: c.Addr(int32(i + 1))})
	}
	for name, t := range c.topics {
		tm := wire.TopicMetadata{Name: name, ID: "id-" + name, Configs: t.configs}
		for i, p := range t.parts {
			tm.Partitions = append(tm.Partitions, wire.PartitionMetadata{
				Partition: int32(i), Leader: p.leader, LeaderEpoch: p.leaderEpoch,
				Replicas: []int32{p.leader}, ISR: []int32{p.leader},
			})
		}
		md.Topics = append(md.Topics, tm)
	}
	return md
}

// partitionFor finds a partition led by node id. c.mu must be held.
func (c *Cluster) partitionFor(id int32, r *http.Request) (*topic, *partition, error) {
	q := r.URL.Query()
	t, ok := c.topics[q.Get(wire.ParamTopic)]
	if !ok {
		return nil, nil, wire.Errorf(wire.CodeUnknownTopicOrPartition, "no topic %q", q.Get(wire.ParamTopic))
	}
	p, err := strconv.Atoi(q.Get(wire.ParamPartition))
	if err != nil || p < 0 || p >= len(t.parts) {
		return nil, nil, wire.Errorf(wire.CodeUnknownTopicOrPartition, "no partition %q", q.Get(wire.ParamPartition))
	}
	part := t.parts[p]
	if part.leader != id {
		l := part.leader
		return nil, nil, &wire.Error{Code: wire.CodeNotLeaderOrFollower, Message: fmt.Sprintf("node %d does not lead it", id), Leader: &l}
	}
	return t, part, nil
}

func (c *Cluster) produce(id int32, w http.ResponseWriter, r *http.Request) {
	body := make([]byte, 0, r.ContentLength)
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Body.Read(buf)
		body = append(body, buf[:n]...)
		if err != nil {
			break
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, part, err := c.partitionFor(id, r)
	if err != nil {
		writeErr(w, err)
		return
	}
	max := 1 << 20
	if v, ok := t.configs["max.message.bytes"]; ok {
		max, _ = strconv.Atoi(v)
	}
	q := r.URL.Query()
	if a := q.Get(wire.ParamAcks); a != "0" && a != "1" && a != "-1" && a != "all" {
		writeErr(w, wire.Errorf(wire.CodeInvalidRequiredAcks, "acks %q", a))
		return
	}
	hdrs, err := recordbatch.Validate(body, max)
	if err != nil {
		writeErr(w, err)
		return
	}
	dup, err := checkIdempotent(part, hdrs)
	if err != nil {
		writeErr(w, err)
		return
	}
	base, lastOff := part.next, int64(0)
	if dup != nil {
		base, lastOff = dup.base, dup.last
	} else {
		pos := 0
		for _, h := range hdrs {
			data := append([]byte(nil), body[pos:pos+h.Size()]...)
			pos += h.Size()
			recordbatch.SetBaseOffset(data, part.next)
			recordbatch.SetPartitionLeaderEpoch(data, part.leaderEpoch)
			last := part.next + int64(h.LastOffsetDelta)
			part.batches = append(part.batches, stored{base: part.next, last: last, data: data})
			recordIdempotent(part, h, part.next, last)
			part.next = last + 1
		}
		lastOff = part.next - 1
		c.produceReqs++
		c.changed.Broadcast()
		if c.loseAnswers > 0 {
			c.loseAnswers--
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
		}
	}
	pn, _ := strconv.Atoi(q.Get(wire.ParamPartition))
	resp := wire.ProduceResponse{Topic: t.name, Partition: int32(pn), BaseOffset: base, LastOffset: lastOff, LogAppendTime: -1, LogStartOffset: part.logStart}
	if q.Get(wire.ParamAcks) == "0" {
		resp.BaseOffset, resp.LastOffset = -1, -1
	}
	writeJSON(w, resp)
}

func (c *Cluster) fetch(id int32, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, _ := strconv.ParseInt(q.Get(wire.ParamOffset), 10, 64)
	maxBytes, _ := strconv.Atoi(q.Get(wire.ParamMaxBytes))
	if maxBytes <= 0 {
		maxBytes = 1 << 20
	}
	waitMs, _ := strconv.Atoi(q.Get(wire.ParamMaxWaitMs))
	deadline := time.Now().Add(time.Duration(waitMs) * time.Millisecond)
	// Wake the waiting loop at the deadline.
	timer := time.AfterFunc(time.Duration(waitMs)*time.Millisecond, func() {
		c.mu.Lock()
		c.changed.Broadcast()
		c.mu.Unlock()
	})
	defer timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		_, part, err := c.partitionFor(id, r)
		if err != nil {
			writeErr(w, err)
			return
		}
		if c.stopped[id] {
			writeErr(w, wire.Errorf(wire.CodeShuttingDown, "stopping"))
			return
		}
		if offset < part.logStart || offset > part.next {
			writeErr(w, wire.Errorf(wire.CodeOffsetOutOfRange, "offset %d outside %d..%d", offset, part.logStart, part.next))
			return
		}
		var out []byte
		for _, b := range part.batches {
			if b.last < offset {
				continue
			}
			if len(out) > 0 && len(out)+len(b.data) > maxBytes {
				break
			}
			out = append(out, b.data...)
		}
		if len(out) > 0 || !time.Now().Before(deadline) {
			w.Header().Set(wire.HeaderHighWatermark, strconv.FormatInt(part.next, 10))
			w.Header().Set(wire.HeaderLogStartOffset, strconv.FormatInt(part.logStart, 10))
			w.Header().Set(wire.HeaderLogEndOffset, strconv.FormatInt(part.next, 10))
			w.Header().Set(wire.HeaderLeaderEpoch, strconv.Itoa(int(part.leaderEpoch)))
			w.Header().Set("Content-Type", wire.ContentTypeBatch)
			w.Write(out)
			return
		}
		c.changed.Wait()
	}
}

func (c *Cluster) offsets(id int32, w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, part, err := c.partitionFor(id, r)
	if err != nil {
		writeErr(w, err)
		return
	}
	q := r.URL.Query()
	resp := wire.OffsetsResponse{Topic: t.name, LeaderEpoch: part.leaderEpoch, Timestamp: -1}
	switch q.Get(wire.ParamAt) {
	case wire.AtEarliest:
		resp.Offset = part.logStart
	case wire.AtLatest:
		resp.Offset = part.next
	default:
		writeErr(w, wire.Errorf(wire.CodeInvalidRequest, "the fake knows only earliest and latest"))
		return
	}
	writeJSON(w, resp)
}

func (c *Cluster) adminTopics(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch r.Method {
	case http.MethodPost:
		var req wire.CreateTopicRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeErr(w, wire.Errorf(wire.CodeInvalidRequest, "%v", err))
			return
		}
		if _, ok := c.topics[req.Topic]; ok {
			writeErr(w, wire.Errorf(wire.CodeTopicAlreadyExists, "topic %q exists", req.Topic))
			return
		}
		if int(req.ReplicationFactor) > len(c.servers) {
			writeErr(w, wire.Errorf(wire.CodeInvalidReplicationFactor, "%d replicas but %d nodes", req.ReplicationFactor, len(c.servers)))
			return
		}
		c.createLocked(req.Topic, int(req.Partitions), req.Configs)
		writeJSON(w, wire.TopicMetadata{Name: req.Topic, ID: "id-" + req.Topic, Configs: req.Configs})
	case http.MethodDelete:
		name := r.URL.Query().Get(wire.ParamTopic)
		if _, ok := c.topics[name]; !ok {
			writeErr(w, wire.Errorf(wire.CodeUnknownTopicOrPartition, "no topic %q", name))
			return
		}
		delete(c.topics, name)
		c.version++
		w.WriteHeader(http.StatusOK)
	default:
		writeErr(w, wire.Errorf(wire.CodeInvalidRequest, "method %s", r.Method))
	}
}

func (c *Cluster) adminConfigs(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var req wire.AlterConfigsRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, wire.Errorf(wire.CodeInvalidRequest, "%v", err))
		return
	}
	t, ok := c.topics[req.Topic]
	if !ok {
		writeErr(w, wire.Errorf(wire.CodeUnknownTopicOrPartition, "no topic %q", req.Topic))
		return
	}
	if t.configs == nil {
		t.configs = map[string]string{}
	}
	for k, v := range req.Set {
		t.configs[k] = v
	}
	for _, k := range req.Delete {
		delete(t.configs, k)
	}
	c.version++
	writeJSON(w, wire.TopicMetadata{Name: t.name, ID: "id-" + t.name, Configs: t.configs})
}

func (c *Cluster) adminPartitions(id int32, w http.ResponseWriter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	resp := wire.LocalPartitionsResponse{NodeID: id}
	for name, t := range c.topics {
		for i, p := range t.parts {
			var size int64
			for _, b := range p.batches {
				size += int64(len(b.data))
			}
			resp.Partitions = append(resp.Partitions, wire.LocalPartition{
				Topic: name, Partition: int32(i), LogStartOffset: p.logStart, LogEndOffset: p.next,
				HighWatermark: p.next, Segments: 1, SizeBytes: size, Leader: p.leader == id, LeaderEpoch: p.leaderEpoch,
			})
		}
	}
	writeJSON(w, resp)
}
