package partlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"strand.dev/client/wire"
)

// ManagerOptions configure a Manager. Zero values take the defaults named.
type ManagerOptions struct {
	// Logger (default slog.Default()), given a "component" attribute.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Defaults is the config of logs found on disk (until SetConfig) and
	// the base of created ones' (the zero Config means DefaultConfig()).
	Defaults Config
	// MaxOpenFiles bounds the segment descriptors kept open (default
	// DefaultMaxOpenFiles); IndexCacheBytes bounds loaded cold indexes
	// (default DefaultIndexCacheBytes).
	MaxOpenFiles    int
	IndexCacheBytes int
	// FlushCheckInterval: how often Run looks for logs due a flush by
	// flush.ms (default 1 s).
	FlushCheckInterval time.Duration
	// RetentionCheckInterval: how often Run applies retention (Kafka's
	// log.retention.check.interval.ms; default 5 minutes).
	RetentionCheckInterval time.Duration
	// CheckpointInterval: how often Run writes the recovery-point
	// checkpoint (Kafka's log.flush.offset.checkpoint.interval.ms;
	// default 60 s).
	CheckpointInterval time.Duration
	// OpenConcurrency: logs recovered in parallel by OpenManager (default 4).
	OpenConcurrency int
	// Cleaner configures the log cleaner Run starts for logs whose
	// cleanup.policy includes compact (Threads 0: none).
	Cleaner CleanerOptions
}

// PartitionLog is one log of a Manager.
type PartitionLog struct {
	Topic     string
	Partition int32
	Log       *Log
}

// Manager owns a data directory full of logs (<data-dir>/<topic>-<partition>/),
// the FilePool they share, the recovery-point checkpoint and the clean
// shutdown marker, and runs the periodic flush, retention and checkpoint
// work (Run).
//
// A Manager is safe for concurrent use. Its mutex guards the set of logs
// and is never held while a log flushes, appends or reads; lock order is
// Manager.mu, then a Log's locks (Create opens a log under it), then the
// FilePool's.
type Manager struct {
	dir   string
	lock  *os.File // holds the data directory's flock
	opts  ManagerOptions
	log   *slog.Logger
	files *FilePool

	ckMu sync.Mutex // serialises checkpoint writes

	mu      sync.RWMutex
	logs    map[topicPartition]*Log
	closed  bool
	stats   ManagerStats
	cleaner *cleaner // set by Run when the cleaner runs
}

// ManagerStats are a Manager's counters.
type ManagerStats struct {
	Logs                int
	Files               FilePoolStats
	Flushes             uint64 // flushes by flush.ms
	FlushErrors         uint64
	RetentionRuns       uint64
	RetentionDeleted    uint64 // segments deleted by retention
	RetentionErrors     uint64
	Checkpoints         uint64
	CheckpointErrors    uint64
	LastCheckpoint      time.Time
	OpenedClean         bool          // the last OpenManager found the clean-shutdown marker
	OpenTook            time.Duration // how long OpenManager took to recover the logs
	RecoveredPartitions int
}

// OpenManager opens every log under dataDir, recovering each: after a
// clean shutdown nothing is rescanned; after a crash each log is scanned
// from its recovery point.
func OpenManager(dataDir string, opts ManagerOptions) (*Manager, error) {
	start := time.Now()
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Defaults == (Config{}) {
		opts.Defaults = DefaultConfig()
	}
	if opts.FlushCheckInterval <= 0 {
		opts.FlushCheckInterval = time.Second
	}
	if opts.RetentionCheckInterval <= 0 {
		opts.RetentionCheckInterval = 5 * time.Minute
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = time.Minute
	}
	if opts.OpenConcurrency <= 0 {
		opts.OpenConcurrency = 4
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, storageErr(err, "create data directory %s", dataDir)
	}
	lock, err := lockDir(dataDir)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		lock:  lock,
		dir:   dataDir,
		opts:  opts,
		log:   opts.Logger.With("component", "partlog"),
		files: NewFilePool(opts.MaxOpenFiles, opts.IndexCacheBytes),
		logs:  make(map[topicPartition]*Log),
	}
	fail := func(err error) (*Manager, error) {
		for _, l := range m.logs {
			l.Close()
		}
		m.lock.Close()
		return nil, err
	}
	rps, err := readOffsetCheckpoint(filepath.Join(dataDir, recoveryPointFile))
	if err != nil {
		m.log.Warn("recovery-point checkpoint unreadable; scanning every log", "err", err)
		rps = map[topicPartition]int64{}
	}
	_, statErr := os.Stat(filepath.Join(dataDir, cleanShutdownFile))
	clean := statErr == nil
	ents, err := os.ReadDir(dataDir)
	if err != nil {
		return fail(storageErr(err, "list data directory %s", dataDir))
	}
	var tps []topicPartition
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if strings.HasSuffix(e.Name(), deletedSuffix) {
			if err := os.RemoveAll(filepath.Join(dataDir, e.Name())); err != nil {
				m.log.Warn("could not finish deleting a log", "dir", e.Name(), "err", err)
			}
			continue
		}
		tp, ok := parseDirName(e.Name())
		if !ok || wire.ValidateTopicName(tp.topic) != nil {
			m.log.Warn("ignoring a directory that is not a partition log", "dir", e.Name())
			continue
		}
		tps = append(tps, tp)
	}

	var wg sync.WaitGroup
	var errMu sync.Mutex
	var firstErr error
	work := make(chan topicPartition)
	for i := 0; i < opts.OpenConcurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tp := range work {
				rp, known := rps[tp]
				l, err := Open(filepath.Join(dataDir, tp.dirName()), opts.Defaults, Options{
					Logger: opts.Logger, Now: opts.Now, Files: m.files,
					RecoveryPoint: rp, Clean: clean && known,
				})
				errMu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("open log %s: %w", tp.dirName(), err)
					}
				} else {
					m.logs[tp] = l
				}
				errMu.Unlock()
			}
		}()
	}
	for _, tp := range tps {
		work <- tp
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return fail(firstErr)
	}
	if clean {
		// From now on a crash must be recovered as one.
		if err := os.Remove(filepath.Join(dataDir, cleanShutdownFile)); err != nil {
			return fail(storageErr(err, "remove clean-shutdown marker"))
		}
		if err := syncDir(dataDir); err != nil {
			return fail(storageErr(err, "sync data directory"))
		}
	}
	m.stats.OpenedClean = clean
	m.stats.OpenTook = time.Since(start)
	m.stats.RecoveredPartitions = len(m.logs)
	m.log.Info("opened partition logs", "dir", dataDir, "logs", len(m.logs), "clean", clean, "took", time.Since(start))
	return m, nil
}

// deletedSuffix marks a log directory being deleted.
const deletedSuffix = "-delete"

// Dir is the data directory.
func (m *Manager) Dir() string { return m.dir }

// Files is the manager's FilePool.
func (m *Manager) Files() *FilePool { return m.files }

// Get returns the log of a partition.
func (m *Manager) Get(topic string, partition int32) (*Log, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	l, ok := m.logs[topicPartition{topic, partition}]
	return l, ok
}

// Create returns the partition's log, creating it with cfg when it does
// not exist (an existing log keeps its config: use SetConfig).
func (m *Manager) Create(topic string, partition int32, cfg Config) (*Log, error) {
	if err := wire.ValidateTopicName(topic); err != nil {
		return nil, err
	}
	if partition < 0 {
		return nil, wire.Errorf(wire.CodeInvalidPartitions, "partition %d is negative", partition)
	}
	tp := topicPartition{topic, partition}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, &codedError{code: wire.CodeKafkaStorageError, msg: "log manager", err: ErrClosed}
	}
	if l, ok := m.logs[tp]; ok {
		return l, nil
	}
	l, err := Open(filepath.Join(m.dir, tp.dirName()), cfg, Options{Logger: m.opts.Logger, Now: m.opts.Now, Files: m.files})
	if err != nil {
		return nil, err
	}
	if err := syncDir(m.dir); err != nil {
		l.Close()
		return nil, storageErr(err, "sync data directory")
	}
	m.logs[tp] = l
	return l, nil
}

// Remove closes a partition's log and deletes its data. The directory is
// renamed first, so a crash midway leaves nothing that looks like a log.
// Removing an unknown partition is not an error.
func (m *Manager) Remove(topic string, partition int32) error {
	tp := topicPartition{topic, partition}
	m.mu.Lock()
	l, ok := m.logs[tp]
	delete(m.logs, tp)
	m.mu.Unlock()
	if !ok {
		return nil
	}
	l.shutdown()
	// A cleaning of the log stops at its next segment; wait for it, so
	// that nothing writes in the directory while it goes.
	l.cleanMu.Lock()
	l.cleanMu.Unlock()
	gone := fmt.Sprintf("%s.%d%s", l.dir, time.Now().UnixNano(), deletedSuffix)
	if err := os.Rename(l.dir, gone); err != nil {
		return storageErr(err, "rename %s for deletion", l.dir)
	}
	if err := syncDir(m.dir); err != nil {
		return storageErr(err, "sync data directory")
	}
	if err := os.RemoveAll(gone); err != nil {
		return storageErr(err, "delete %s", gone)
	}
	return nil
}

// All lists the logs, by topic then partition.
func (m *Manager) All() []PartitionLog {
	m.mu.RLock()
	out := make([]PartitionLog, 0, len(m.logs))
	for tp, l := range m.logs {
		out = append(out, PartitionLog{Topic: tp.topic, Partition: tp.partition, Log: l})
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// Stats returns the manager's counters.
func (m *Manager) Stats() ManagerStats {
	m.mu.RLock()
	st := m.stats
	st.Logs = len(m.logs)
	m.mu.RUnlock()
	st.Files = m.files.Stats()
	return st
}

// Run does the periodic work until ctx is done: flushes by flush.ms,
// retention, and the recovery-point checkpoint, and runs the log cleaner's
// threads (ManagerOptions.Cleaner), which it stops and waits for before it
// returns (Close stops them too). It is meant to run on one goroutine owned
// by the caller.
func (m *Manager) Run(ctx context.Context) {
	defer m.runCleaner(ctx)()
	flushT := time.NewTicker(m.opts.FlushCheckInterval)
	defer flushT.Stop()
	retT := time.NewTicker(m.opts.RetentionCheckInterval)
	defer retT.Stop()
	ckT := time.NewTicker(m.opts.CheckpointInterval)
	defer ckT.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flushT.C:
			m.FlushDue()
		case <-retT.C:
			m.ApplyRetention()
		case <-ckT.C:
			if err := m.Checkpoint(); err != nil && !errors.Is(err, ErrClosed) {
				m.log.Error("recovery-point checkpoint failed", "err", err)
			}
		}
	}
}

// FlushDue flushes the logs whose unflushed data is older than their
// flush.ms.
func (m *Manager) FlushDue() {
	now := m.opts.Now()
	for _, pl := range m.All() {
		l := pl.Log
		l.mu.RLock()
		ms, due := l.cfg.FlushMs, l.recoveryPoint < l.end
		last := l.lastFlush
		l.mu.RUnlock()
		if !due || ms == math.MaxInt64 || now.Sub(last) < time.Duration(ms)*time.Millisecond {
			continue
		}
		err := l.Flush()
		m.mu.Lock()
		m.stats.Flushes++
		if err != nil {
			m.stats.FlushErrors++
		}
		m.mu.Unlock()
		if err != nil {
			m.log.Error("flush failed", "topic", pl.Topic, "partition", pl.Partition, "err", err)
		}
	}
}

// ApplyRetention applies retention to every log.
func (m *Manager) ApplyRetention() {
	now := m.opts.Now()
	var deleted, errs uint64
	for _, pl := range m.All() {
		n, err := pl.Log.ApplyRetention(now)
		deleted += uint64(n)
		if err != nil && !errors.Is(err, ErrClosed) {
			errs++
			m.log.Error("retention failed", "topic", pl.Topic, "partition", pl.Partition, "err", err)
		}
	}
	m.mu.Lock()
	m.stats.RetentionRuns++
	m.stats.RetentionDeleted += deleted
	m.stats.RetentionErrors += errs
	m.mu.Unlock()
}

// Checkpoint writes the active segments' indexes and then the
// recovery-point checkpoint of every log.
func (m *Manager) Checkpoint() error {
	m.ckMu.Lock()
	defer m.ckMu.Unlock()
	rps := make(map[topicPartition]int64)
	for _, pl := range m.All() {
		if err := pl.Log.CheckpointIndexes(); err != nil {
			m.log.Warn("could not write a log's indexes", "topic", pl.Topic, "partition", pl.Partition, "err", err)
		}
		rps[topicPartition{pl.Topic, pl.Partition}] = pl.Log.RecoveryPoint()
	}
	err := writeOffsetCheckpoint(filepath.Join(m.dir, recoveryPointFile), rps)
	m.mu.Lock()
	m.stats.Checkpoints++
	if err != nil {
		m.stats.CheckpointErrors++
	} else {
		m.stats.LastCheckpoint = m.opts.Now()
	}
	m.mu.Unlock()
	if err != nil {
		return storageErr(err, "write %s", recoveryPointFile)
	}
	return nil
}

// Close flushes and closes every log, writes the recovery-point checkpoint
// and marks the directory clean, so that the next OpenManager rescans
// nothing. Close again is a no-op.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	logs := make(map[topicPartition]*Log, len(m.logs))
	for tp, l := range m.logs {
		logs[tp] = l
	}
	m.mu.Unlock()
	m.stopCleaner()

	m.ckMu.Lock()
	defer m.ckMu.Unlock()
	var firstErr error
	rps := make(map[topicPartition]int64, len(logs))
	var wg sync.WaitGroup
	var mu sync.Mutex
	sem := make(chan struct{}, m.opts.OpenConcurrency)
	for tp, l := range logs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := l.Close()
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("close log %s: %w", tp.dirName(), err)
			}
			rps[tp] = l.RecoveryPoint()
		}()
	}
	wg.Wait()
	if err := writeOffsetCheckpoint(filepath.Join(m.dir, recoveryPointFile), rps); err != nil && firstErr == nil {
		firstErr = storageErr(err, "write %s", recoveryPointFile)
	}
	if firstErr == nil {
		if err := writeFileAtomic(filepath.Join(m.dir, cleanShutdownFile), nil); err != nil {
			firstErr = storageErr(err, "write clean-shutdown marker")
		}
	} else {
		m.log.Error("not marking the data directory clean", "err", firstErr)
	}
	m.files.Close()
	m.lock.Close()
	return firstErr
}

// abandon drops the manager as a crash would: nothing is flushed or
// written, descriptors and the directory lock are released (tests).
func (m *Manager) abandon() {
	m.mu.Lock()
	m.closed = true
	logs := m.logs
	m.mu.Unlock()
	for _, l := range logs {
		l.shutdown()
	}
	m.files.Close()
	m.lock.Close()
}

// lockFile guards a data directory against a second manager.
const lockFile = ".lock"

// lockDir takes an exclusive flock on the data directory's lock file.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, storageErr(err, "open %s", lockFile)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, storageErr(err, "data directory %s is in use by another process", dir)
	}
	return f, nil
}
