package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
	"strand.dev/dataplane/partlog"
	"strand.dev/dataplane/replica"
)

// Node is a running strand-data node: its partition logs, its replicas, its
// metadata source (the standalone catalog or, in a cluster, the
// control-plane agent with the fetcher and the replica streams) and the
// HTTP listener.
//
// New opens everything and binds the listener; Run serves (and, in a
// cluster, joins it) until its context ends and then stops in order: in a
// cluster, controlled shutdown, leave gossip and close the replica streams;
// then stop accepting, let in-flight requests finish (long polls return
// early) within Config.ShutdownTimeout, stop the replicas, flush the logs
// and write their checkpoints.
type Node struct {
	cfg  Config
	log  *slog.Logger
	addr string
	id   identity

	logs *partlog.Manager
	rm   *replica.Manager
	sa   *replica.Standalone // standalone mode
	cl   *clusterParts       // cluster mode
	m    *metrics
	api  *api
	srv  *fasthttp.Server
	ln   net.Listener

	stop     context.CancelFunc // ends api.stopCtx
	runOnce  sync.Once
	closeErr error
}

// New validates cfg, opens the data directory and binds the listener.
func New(cfg Config) (n *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lg := cfg.logger().With("component", "node")
	defaults, err := parseLogDefaults(cfg.LogDefaults)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	id, err := loadIdentity(cfg.DataDir, cfg.NodeID, !cfg.Standalone)
	if err != nil {
		return nil, err
	}
	n = &Node{cfg: cfg, log: lg, id: id, m: newMetrics()}
	defer func() {
		if err != nil {
			n.closeAll()
		}
	}()
	n.logs, err = partlog.OpenManager(cfg.DataDir, partlog.ManagerOptions{
		Logger: cfg.logger(), Defaults: defaults, MaxOpenFiles: cfg.MaxOpenFiles,
		RetentionCheckInterval: cfg.RetentionCheckInterval, CheckpointInterval: cfg.CheckpointInterval,
		Cleaner: cfg.Cleaner,
	})
	if err != nil {
		return nil, fmt.Errorf("open partition logs: %w", err)
	}
	n.rm = replica.NewManager(n.logs, replica.Options{NodeID: cfg.NodeID, Logger: cfg.logger(), Registerer: n.m.reg,
		Defaults: defaults, LagMax: cfg.ReplicaLagMax})

	n.ln, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	n.addr = cfg.AdvertiseAddr
	if n.addr == "" {
		n.addr = n.ln.Addr().String()
		if host, _, _ := net.SplitHostPort(n.addr); net.ParseIP(host).IsUnspecified() {
			return nil, fmt.Errorf("--listen %s binds every address: set --advertise-addr to the address clients use", cfg.Listen)
		}
	}

	var (
		admin Admin
		meta  MetadataSource
	)
	if cfg.Standalone {
		n.sa, err = replica.OpenStandalone(n.rm, replica.StandaloneOptions{
			DataDir: cfg.DataDir, NodeID: cfg.NodeID, Addr: n.addr, ClusterID: id.ClusterID,
			Defaults: defaults, DefaultPartitions: cfg.DefaultPartitions, Logger: cfg.logger(),
		})
		if err != nil {
			return nil, fmt.Errorf("open the standalone topic catalog: %w", err)
		}
		if cfg.AssignmentFile != "" {
			reqs, err := readAssignments(cfg.AssignmentFile)
			if err != nil {
				return nil, err
			}
			if err := n.sa.ApplyAssignments(reqs); err != nil {
				return nil, fmt.Errorf("apply --assignment-file %s: %w", cfg.AssignmentFile, err)
			}
			lg.Info("applied assignment file", "file", cfg.AssignmentFile, "topics", len(reqs))
		}
		admin, meta = n.sa, n.sa
	} else {
		if err := n.newCluster(); err != nil {
			return nil, err
		}
		meta = n.cl.agent
	}

	n.m.reg.MustRegister(newPartitionCollector(n.rm), newLogManagerCollector(n.logs), newCleanerCollector(n.logs))
	stopCtx, stop := context.WithCancel(context.Background())
	n.stop = stop
	n.api = newAPI(n.rm, admin, meta, n.m, &n.cfg, stopCtx)
	if n.cl != nil {
		n.api.repl = n.cl.repl
		agent := n.cl.agent
		n.api.pids = &producerIDs{take: func(ctx context.Context) (int64, error) {
			return agent.AllocateProducerIDs(ctx, producerIDBlock)
		}}
	} else {
		n.api.pids = &producerIDs{take: localProducerIDs(cfg.DataDir)}
	}
	n.srv = &fasthttp.Server{
		Handler:              n.api.handle,
		ErrorHandler:         n.api.errorHandler,
		Name:                 "strand-data",
		ReadTimeout:          cfg.ReadTimeout,
		WriteTimeout:         cfg.WriteTimeout,
		IdleTimeout:          cfg.IdleTimeout,
		MaxRequestBodySize:   cfg.MaxRequestBytes,
		Concurrency:          cfg.MaxConns,
		NoDefaultContentType: true,
		CloseOnShutdown:      true,
		Logger:               fasthttpLogger{cfg.logger().With("component", "fasthttp")},
	}
	lg.Info("node ready", "node_id", cfg.NodeID, "cluster_id", id.ClusterID, "listen", n.ln.Addr().String(),
		"advertise", n.addr, "standalone", cfg.Standalone)
	return n, nil
}

// maxAssignmentFileBytes bounds the assignment file.
const maxAssignmentFileBytes = 16 << 20

// readAssignments reads a JSON list of wire.CreateTopicRequest.
func readAssignments(path string) ([]wire.CreateTopicRequest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--assignment-file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAssignmentFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("--assignment-file: %w", err)
	}
	if len(b) > maxAssignmentFileBytes {
		return nil, fmt.Errorf("--assignment-file %s: larger than %d bytes", path, maxAssignmentFileBytes)
	}
	var reqs []wire.CreateTopicRequest
	if err := decodeJSON(b, &reqs); err != nil {
		return nil, fmt.Errorf("--assignment-file %s: %w", path, err)
	}
	return reqs, nil
}

// parseLogDefaults applies the node's topic config defaults to the log's.
func parseLogDefaults(kv map[string]string) (partlog.Config, error) {
	cfg, err := partlog.ParseConfig(partlog.DefaultConfig(), kv)
	if err != nil {
		return partlog.Config{}, err
	}
	return cfg, nil
}

// Addr is the address clients are told to use (the bound address when no
// --advertise-addr is set).
func (n *Node) Addr() string { return n.addr }

// ListenAddr is the bound listen address.
func (n *Node) ListenAddr() net.Addr { return n.ln.Addr() }

// Standalone is the node's topic catalog (for tests and tools).
func (n *Node) Standalone() *replica.Standalone { return n.sa }

// Run serves until ctx ends, then stops the node (see Node). It returns nil
// after a clean stop. Run may be called once.
func (n *Node) Run(ctx context.Context) error {
	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		n.logs.Run(runCtx)
	}()
	rmDone := make(chan struct{})
	go func() {
		defer close(rmDone)
		if n.cl == nil {
			// A standalone node's replica work (producer snapshots); a
			// cluster node's starts once it joined the cluster.
			n.rm.Run(runCtx)
		}
	}()
	serveErr := make(chan error, 1)
	go func() { serveErr <- n.srv.Serve(n.ln) }()

	var err error
	if n.cl != nil {
		if err = n.startCluster(ctx); err != nil && ctx.Err() != nil {
			err = nil // stopped while joining
		}
	}
	if err == nil {
		select {
		case <-ctx.Done():
			n.log.Info("stopping", "reason", context.Cause(ctx))
		case err = <-serveErr:
			n.log.Error("the HTTP server stopped", "err", err)
			err = fmt.Errorf("serve: %w", err)
		}
	}
	if n.cl != nil {
		n.cl.stop(n)
	}
	stopErr := n.shutdown()
	cancelRun()
	<-logsDone
	<-rmDone
	return errors.Join(err, stopErr, n.closeAll())
}

// shutdown stops the HTTP server: no new connections, long polls end, and
// in-flight requests get Config.ShutdownTimeout to finish.
func (n *Node) shutdown() error {
	start := time.Now()
	n.api.stopping.Store(true)
	n.stop()
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
	defer cancel()
	if err := n.srv.ShutdownWithContext(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			n.log.Warn("in-flight requests did not finish within the shutdown timeout; closing", "timeout", n.cfg.ShutdownTimeout)
			return nil
		}
		return fmt.Errorf("stop the HTTP server: %w", err)
	}
	n.log.Info("HTTP server stopped", "took", time.Since(start))
	return nil
}

// closeAll stops the replicas, flushes and closes the logs (writing their
// checkpoints) and closes the listener. It is idempotent.
func (n *Node) closeAll() error {
	n.runOnce.Do(func() {
		var errs []error
		if n.cl != nil {
			n.cl.stop(n)
		}
		if n.rm != nil {
			errs = append(errs, n.rm.Close())
		}
		if n.logs != nil {
			start := time.Now()
			if err := n.logs.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close partition logs: %w", err))
			} else {
				n.log.Info("partition logs flushed and closed", "took", time.Since(start))
			}
		}
		if n.ln != nil {
			_ = n.ln.Close() // already closed by the server's shutdown, or never served
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// fasthttpLogger sends fasthttp's own messages to slog.
type fasthttpLogger struct{ l *slog.Logger }

// Printf implements fasthttp.Logger.
func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Warn(fmt.Sprintf(format, args...))
}
