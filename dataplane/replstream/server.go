package replstream

import (
	"bytes"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
)

// ServerConfig configures the leader side. Zero values take the defaults
// named.
type ServerConfig struct {
	// MaxPartitionBytes bounds the records of one Data frame (but a frame
	// always carries a whole first batch). Default 1 MiB.
	MaxPartitionBytes int32
	// SendfileMinBytes: regions at least this long go to the socket with
	// sendfile(2); shorter ones are copied into the write buffer, so that
	// the frames of many small partitions leave in one write. Negative: never
	// sendfile. Default 16 KiB.
	SendfileMinBytes int64
	// WriteBufferBytes is the size of a stream's write buffer. Default 256 KiB.
	WriteBufferBytes int
	// PingInterval: an idle stream gets a Ping frame this often, so that a
	// follower notices a stopped leader. Default 2 s.
	PingInterval time.Duration
	// HighWatermarkInterval: a follower hears of high watermark moves with
	// the next records, or within this long when no records flow. (A
	// follower needs the high watermark only when it becomes leader, and a
	// stale one is safe there, so it is not pushed on every move.) Default
	// 200 ms.
	HighWatermarkInterval time.Duration
	// WriteTimeout bounds one write to a follower; a follower that does not
	// read for this long (stopped, partitioned) loses its stream. Default 10 s.
	WriteTimeout time.Duration
	// MaxPartitions bounds the partitions of one stream. Default 100,000.
	MaxPartitions int
	// MaxFrameBytes bounds a frame from a follower. Default 4 MiB.
	MaxFrameBytes int
	// CloseGrace is how long Close lets streams send their Close frame
	// before it closes their connections. Default 1 s.
	CloseGrace time.Duration
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Registerer registers the server's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
}

func (c *ServerConfig) defaults() {
	if c.MaxPartitionBytes <= 0 {
		c.MaxPartitionBytes = 1 << 20
	}
	if c.SendfileMinBytes == 0 {
		c.SendfileMinBytes = 16 << 10
	}
	if c.WriteBufferBytes <= 0 {
		c.WriteBufferBytes = 256 << 10
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 2 * time.Second
	}
	if c.HighWatermarkInterval <= 0 {
		c.HighWatermarkInterval = 200 * time.Millisecond
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxPartitions <= 0 {
		c.MaxPartitions = 100_000
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 4 << 20
	}
	if c.CloseGrace <= 0 {
		c.CloseGrace = time.Second
	}
}

// Server is the leader side of replica streams: Handle upgrades a
// follower's request to a stream and serves it until the follower goes away
// or Close.
//
// Goroutines: each stream runs on the goroutine fasthttp gives the hijacked
// connection (the sender, which alone writes to the connection) plus one
// reader goroutine it starts. mu guards the set of streams and closed; it is
// never held while a stream does I/O.
type Server struct {
	cfg ServerConfig
	src Source
	log *slog.Logger
	m   *serverMetrics

	mu       sync.Mutex
	sessions map[*session]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// NewServer returns the leader side over src.
func NewServer(src Source, cfg ServerConfig) *Server {
	cfg.defaults()
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Server{
		cfg:      cfg,
		src:      src,
		log:      lg.With("component", "replstream"),
		m:        newServerMetrics(cfg.Registerer),
		sessions: make(map[*session]struct{}),
	}
}

// Handle serves wire.PathReplicaStream: it checks the request and hijacks
// the connection for the stream. An error it returns is to be answered as
// the JSON error envelope.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) error {
	if !ctx.IsGet() {
		return wire.Errorf(wire.CodeInvalidRequest, "the replica stream is opened with GET, not %.16s", ctx.Method())
	}
	if !bytes.EqualFold(ctx.Request.Header.Peek("Upgrade"), []byte(wire.ReplicaStreamProtocol)) {
		return wire.Errorf(wire.CodeInvalidRequest, "the replica stream needs \"Upgrade: %s\"", wire.ReplicaStreamProtocol)
	}
	raw := ctx.QueryArgs().Peek(wire.ParamReplicaID)
	id, err := strconv.ParseInt(string(raw), 10, 32)
	if err != nil || id < 0 {
		return wire.Errorf(wire.CodeInvalidRequest, "replica_id %.32q is not a node id", raw)
	}
	replica := int32(id)
	if !s.src.KnownReplica(replica) {
		return wire.Errorf(wire.CodeInvalidRequest, "replica %d is not a data node of this cluster", replica)
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if closed {
		return wire.Errorf(wire.CodeShuttingDown, "the node is shutting down")
	}
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		defer s.wg.Done()
		s.serve(c, replica)
	})
	return nil
}

// switching is the 101 answer that starts the stream.
var switching = []byte("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " +
	wire.ReplicaStreamProtocol + "\r\n\r\n")

// serve runs one stream on a hijacked connection until it ends.
func (s *Server) serve(c net.Conn, replica int32) {
	ss := newSession(s, c, replica)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.sessions[ss] = struct{}{}
	s.mu.Unlock()
	s.m.sessions.Inc()
	s.log.Info("replica stream opened", "replica", replica, "remote", c.RemoteAddr().String())
	err := ss.run()
	s.mu.Lock()
	delete(s.sessions, ss)
	s.mu.Unlock()
	s.m.sessions.Dec()
	s.log.Info("replica stream closed", "replica", replica, "reason", err)
}

// Close ends every stream (each gets a Close frame saying SHUTTING_DOWN and
// CloseGrace to send it) and refuses new ones. It returns once the streams'
// goroutines are done.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	all := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.shutdown(wire.Errorf(wire.CodeShuttingDown, "the leader is shutting down"), s.cfg.CloseGrace)
	}
	s.wg.Wait()
}

// Streams is the number of open streams.
func (s *Server) Streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// serverMetrics are the leader side's series.
type serverMetrics struct {
	sessions prometheus.Gauge
	bytes    *prometheus.CounterVec // path: sendfile, copy
	frames   *prometheus.CounterVec // type
	sendfile prometheus.Counter
	copied   prometheus.Counter
	dataF    prometheus.Counter
	hwF      prometheus.Counter
	errF     prometheus.Counter
	pingF    prometheus.Counter
}

func newServerMetrics(reg prometheus.Registerer) *serverMetrics {
	m := &serverMetrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "strand_data", Subsystem: "replica_stream", Name: "leader_streams",
			Help: "Replica streams this node serves as a leader.",
		}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "strand_data", Subsystem: "replica_stream", Name: "sent_bytes_total",
			Help: "Record bytes sent to followers, by path (sendfile or copy).",
		}, []string{"path"}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "strand_data", Subsystem: "replica_stream", Name: "sent_frames_total",
			Help: "Frames sent to followers, by kind (data, hw, error, ping).",
		}, []string{"kind"}),
	}
	m.sendfile = m.bytes.WithLabelValues("sendfile")
	m.copied = m.bytes.WithLabelValues("copy")
	m.dataF = m.frames.WithLabelValues("data")
	m.hwF = m.frames.WithLabelValues("hw")
	m.errF = m.frames.WithLabelValues("error")
	m.pingF = m.frames.WithLabelValues("ping")
	if reg != nil {
		reg.MustRegister(m.sessions, m.bytes, m.frames)
	}
	return m
}
