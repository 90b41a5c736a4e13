package replica

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strand.dev/dataplane/durablefile"
	"sync"

	"strand.dev/client/wire"
	"strand.dev/dataplane/partlog"
)

// CatalogFile is the name of the standalone topic catalog in the data
// directory.
const CatalogFile = "standalone-topics.json"

// MaxPartitionsPerRequest bounds the partitions one create (or one growth
// through an assignment) may add, so one request cannot open an unbounded
// number of files.
const MaxPartitionsPerRequest = 10000

// StandaloneOptions configure a Standalone.
type StandaloneOptions struct {
	// DataDir is where the catalog file lives (the node's data directory).
	DataDir string
	// NodeID and Addr describe this node in the metadata it answers.
	NodeID int32
	Addr   string
	// ClusterID names the cluster in the metadata it answers.
	ClusterID string
	// Defaults is the log configuration of a topic without overrides.
	Defaults partlog.Config
	// DefaultPartitions is the partition count of a create without one.
	DefaultPartitions int32
	// Logger receives the catalog's logs; nil discards them.
	Logger *slog.Logger
}

// Standalone is the metadata source of a node that runs without the control
// plane: it keeps a catalog of topics in a JSON file in the data directory,
// serves the admin operations (create, delete, alter configs) itself, and
// makes this node the leader (epoch 0) of every partition. It is what
// single-node development and tests run on; in a cluster the control plane's
// metadata image takes its place.
//
// All methods are safe for concurrent use. Lock order: Standalone.mu, then
// the Manager's locks.
type Standalone struct {
	rm   *Manager
	opts StandaloneOptions
	log  *slog.Logger
	path string

	mu     sync.Mutex // guards topics and the catalog file
	topics map[string]*catalogTopic
}

// catalogTopic is one topic of the catalog file.
type catalogTopic struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

// catalogFile is the catalog file's content.
type catalogFile struct {
	Version int            `json:"version"`
	Topics  []catalogTopic `json:"topics"`
}

// OpenStandalone loads the catalog (or, when there is none, adopts the
// partition logs already in the data directory as topics with default
// configs), leads every partition it lists, and deletes logs it does not
// list (left by a delete that was interrupted).
func OpenStandalone(rm *Manager, opts StandaloneOptions) (*Standalone, error) {
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	if opts.DefaultPartitions < 1 {
		opts.DefaultPartitions = 1
	}
	s := &Standalone{
		rm:     rm,
		opts:   opts,
		log:    lg.With("component", "standalone"),
		path:   filepath.Join(opts.DataDir, CatalogFile),
		topics: make(map[string]*catalogTopic),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	found, err := s.load()
	if err != nil {
		return nil, err
	}
	onDisk := rm.logs.All()
	if !found {
		s.adopt(onDisk)
		if err := s.save(); err != nil {
			return nil, err
		}
	}
	for _, pl := range onDisk {
		t, ok := s.topics[pl.Topic]
		if ok && pl.Partition < t.Partitions {
			continue
		}
		s.log.Warn("deleting a partition log the catalog does not list", "topic", pl.Topic, "partition", pl.Partition)
		if err := rm.logs.Remove(pl.Topic, pl.Partition); err != nil {
			return nil, fmt.Errorf("delete orphan log of partition %d of %q: %w", pl.Partition, pl.Topic, err)
		}
	}
	for _, t := range s.sortedTopics() {
		if err := s.lead(t, 0); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// load reads the catalog file; found is false when it does not exist.
func (s *Standalone) load() (found bool, err error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read topic catalog: %w", err)
	}
	var f catalogFile
	if err := json.Unmarshal(b, &f); err != nil {
		return false, fmt.Errorf("parse topic catalog %s: %w", s.path, err)
	}
	for i := range f.Topics {
		t := f.Topics[i]
		if err := wire.ValidateTopicName(t.Name); err != nil {
			return false, fmt.Errorf("topic catalog %s: %w", s.path, err)
		}
		if t.Partitions < 1 {
			return false, fmt.Errorf("topic catalog %s: topic %q has %d partitions", s.path, t.Name, t.Partitions)
		}
		if _, err := s.leaderState(t.Configs, 0); err != nil {
			return false, fmt.Errorf("topic catalog %s: topic %q: %w", s.path, t.Name, err)
		}
		s.topics[t.Name] = &t
	}
	return true, nil
}

// adopt makes topics of the logs found on disk, for a data directory
// without a catalog.
func (s *Standalone) adopt(logs []partlog.PartitionLog) {
	for _, pl := range logs {
		t, ok := s.topics[pl.Topic]
		if !ok {
			t = &catalogTopic{Name: pl.Topic, ID: newTopicID()}
			s.topics[pl.Topic] = t
		}
		t.Partitions = max(t.Partitions, pl.Partition+1)
		s.log.Info("adopting a partition log found on disk", "topic", pl.Topic, "partition", pl.Partition)
	}
}

// save writes the catalog file atomically (temporary file, fsync, rename,
// fsync of the directory).
func (s *Standalone) save() error {
	f := catalogFile{Version: 1}
	for _, t := range s.sortedTopics() {
		f.Topics = append(f.Topics, *t)
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode topic catalog: %w", err)
	}
	if err := durablefile.Write(s.path, b); err != nil {
		return wire.Errorf(wire.CodeKafkaStorageError, "write topic catalog: %v", err)
	}
	return nil
}

// sortedTopics lists the catalog by name.
func (s *Standalone) sortedTopics() []*catalogTopic {
	out := make([]*catalogTopic, 0, len(s.topics))
	for _, t := range s.topics {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// leaderState turns a topic's config overrides into the state its
// partitions are led with; bad configs are INVALID_CONFIG.
func (s *Standalone) leaderState(configs map[string]string, epoch int32) (LeaderState, error) {
	cfg, err := partlog.ParseConfig(s.opts.Defaults, configs)
	if err != nil {
		return LeaderState{}, asInvalidConfig(err)
	}
	if cfg.MinInsyncReplicas < 1 {
		return LeaderState{}, wire.Errorf(wire.CodeInvalidConfig, "min.insync.replicas=%d: must be >= 1", cfg.MinInsyncReplicas)
	}
	return LeaderState{LeaderEpoch: epoch, Config: cfg}, nil
}

// asInvalidConfig keeps a *wire.Error and makes anything else INVALID_CONFIG.
func asInvalidConfig(err error) error {
	var we *wire.Error
	if errors.As(err, &we) {
		return err
	}
	return wire.Errorf(wire.CodeInvalidConfig, "%v", err)
}

// lead makes this node lead every partition of t from partition from on.
func (s *Standalone) lead(t *catalogTopic, from int32) error {
	st, err := s.leaderState(t.Configs, 0)
	if err != nil {
		return err
	}
	for p := from; p < t.Partitions; p++ {
		if _, err := s.rm.BecomeLeader(t.Name, p, st); err != nil {
			return wire.Errorf(wire.CodeKafkaStorageError, "open partition %d of %q: %v", p, t.Name, err)
		}
	}
	return nil
}

// validateCreate checks a create request and fills in defaults.
func (s *Standalone) validateCreate(req *wire.CreateTopicRequest) error {
	if err := wire.ValidateTopicName(req.Topic); err != nil {
		return err
	}
	switch {
	case req.Partitions == 0 || req.Partitions == -1:
		req.Partitions = s.opts.DefaultPartitions
	case req.Partitions < 0 || req.Partitions > MaxPartitionsPerRequest:
		return wire.Errorf(wire.CodeInvalidPartitions, "partitions %d: must be in [1, %d]", req.Partitions, MaxPartitionsPerRequest)
	}
	if req.ReplicationFactor > 1 || req.ReplicationFactor < -1 {
		return wire.Errorf(wire.CodeInvalidReplicationFactor,
			"replication factor %d: a standalone node is a cluster of one, use 1", req.ReplicationFactor)
	}
	if _, err := s.leaderState(req.Configs, 0); err != nil {
		return err
	}
	return nil
}

// CreateTopic creates a topic and leads its partitions. The catalog is
// written before the logs are created, so a crash in between leaves a topic
// whose missing logs are created at the next start.
func (s *Standalone) CreateTopic(req wire.CreateTopicRequest) (wire.TopicMetadata, error) {
	if err := s.validateCreate(&req); err != nil {
		return wire.TopicMetadata{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.topics[req.Topic]; ok {
		return wire.TopicMetadata{}, wire.Errorf(wire.CodeTopicAlreadyExists, "topic %q already exists", req.Topic)
	}
	t := &catalogTopic{Name: req.Topic, ID: newTopicID(), Partitions: req.Partitions, Configs: maps.Clone(req.Configs)}
	s.topics[t.Name] = t
	if err := s.save(); err != nil {
		delete(s.topics, t.Name)
		return wire.TopicMetadata{}, err
	}
	if err := s.lead(t, 0); err != nil {
		s.log.Error("create topic failed; rolling back", "topic", t.Name, "err", err)
		s.dropLocked(t)
		return wire.TopicMetadata{}, err
	}
	s.log.Info("created topic", "topic", t.Name, "partitions", t.Partitions, "configs", t.Configs)
	return s.topicMetadata(t), nil
}

// DeleteTopic deletes a topic and its data; the answer describes the topic
// as it was.
func (s *Standalone) DeleteTopic(name string) (wire.TopicMetadata, error) {
	if err := wire.ValidateTopicName(name); err != nil {
		return wire.TopicMetadata{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.topics[name]
	if !ok {
		return wire.TopicMetadata{}, wire.Errorf(wire.CodeUnknownTopicOrPartition, "no topic %q", name)
	}
	md := s.topicMetadata(t)
	if err := s.dropLocked(t); err != nil {
		return wire.TopicMetadata{}, err
	}
	s.log.Info("deleted topic", "topic", name)
	return md, nil
}

// dropLocked removes a topic from the catalog, then its partitions. A crash
// between the two leaves logs the next start deletes.
func (s *Standalone) dropLocked(t *catalogTopic) error {
	delete(s.topics, t.Name)
	if err := s.save(); err != nil {
		s.topics[t.Name] = t
		return err
	}
	var errs []error
	for p := int32(0); p < t.Partitions; p++ {
		if err := s.rm.Remove(t.Name, p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return wire.Errorf(wire.CodeKafkaStorageError, "delete the data of topic %q: %v", t.Name, err)
	}
	return nil
}

// AlterConfigs sets and deletes topic config overrides and applies them to
// the partitions at once.
func (s *Standalone) AlterConfigs(req wire.AlterConfigsRequest) (wire.TopicMetadata, error) {
	if err := wire.ValidateTopicName(req.Topic); err != nil {
		return wire.TopicMetadata{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.topics[req.Topic]
	if !ok {
		return wire.TopicMetadata{}, wire.Errorf(wire.CodeUnknownTopicOrPartition, "no topic %q", req.Topic)
	}
	next := maps.Clone(t.Configs)
	if next == nil {
		next = make(map[string]string)
	}
	for _, k := range req.Delete {
		delete(next, k)
	}
	maps.Copy(next, req.Set)
	return s.setConfigsLocked(t, next)
}

// setConfigsLocked validates, saves and applies a topic's new overrides.
func (s *Standalone) setConfigsLocked(t *catalogTopic, next map[string]string) (wire.TopicMetadata, error) {
	if _, err := s.leaderState(next, 0); err != nil {
		return wire.TopicMetadata{}, err
	}
	if len(next) == 0 {
		next = nil
	}
	prev := t.Configs
	t.Configs = next
	if err := s.save(); err != nil {
		t.Configs = prev
		return wire.TopicMetadata{}, err
	}
	if err := s.lead(t, 0); err != nil {
		return wire.TopicMetadata{}, err
	}
	s.log.Info("altered topic configs", "topic", t.Name, "configs", t.Configs)
	return s.topicMetadata(t), nil
}

// ApplyAssignments brings the catalog to the given topics: missing topics
// are created, topics with fewer partitions grow, and topics whose request
// carries configs get exactly those. Applying the same list again changes
// nothing. It stops at the first error.
func (s *Standalone) ApplyAssignments(reqs []wire.CreateTopicRequest) error {
	for _, req := range reqs {
		if err := s.applyOne(req); err != nil {
			return fmt.Errorf("topic %q: %w", req.Topic, err)
		}
	}
	return nil
}

// applyOne applies one assignment.
func (s *Standalone) applyOne(req wire.CreateTopicRequest) error {
	if err := s.validateCreate(&req); err != nil {
		return err
	}
	s.mu.Lock()
	t, ok := s.topics[req.Topic]
	if !ok {
		s.mu.Unlock()
		_, err := s.CreateTopic(req)
		return err
	}
	defer s.mu.Unlock()
	if req.Partitions < t.Partitions {
		return wire.Errorf(wire.CodeInvalidPartitions, "has %d partitions; the assignment asks for %d and partitions cannot be removed", t.Partitions, req.Partitions)
	}
	if req.Configs != nil && !maps.Equal(req.Configs, t.Configs) {
		if _, err := s.setConfigsLocked(t, maps.Clone(req.Configs)); err != nil {
			return err
		}
	}
	if req.Partitions > t.Partitions {
		from := t.Partitions
		t.Partitions = req.Partitions
		if err := s.save(); err != nil {
			t.Partitions = from
			return err
		}
		if err := s.lead(t, from); err != nil {
			return err
		}
		s.log.Info("added partitions", "topic", t.Name, "from", from, "to", t.Partitions)
	}
	return nil
}

// Topic describes one topic.
func (s *Standalone) Topic(name string) (wire.TopicMetadata, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.topics[name]
	if !ok {
		return wire.TopicMetadata{}, false
	}
	return s.topicMetadata(t), true
}

// Metadata is the cluster as a standalone node sees it: itself, leading
// every partition of every topic, and being the controller.
func (s *Standalone) Metadata() wire.Metadata {
	s.mu.Lock()
	defer s.mu.Unlock()
	md := wire.Metadata{
		ClusterID:      s.opts.ClusterID,
		Nodes:          []wire.NodeInfo{{ID: s.opts.NodeID, Addr: s.opts.Addr}},
		Topics:         make([]wire.TopicMetadata, 0, len(s.topics)),
		ControllerAddr: s.opts.Addr,
	}
	for _, t := range s.sortedTopics() {
		md.Topics = append(md.Topics, s.topicMetadata(t))
	}
	return md
}

// topicMetadata describes t; the caller holds s.mu.
func (s *Standalone) topicMetadata(t *catalogTopic) wire.TopicMetadata {
	tm := wire.TopicMetadata{Name: t.Name, ID: t.ID, Configs: maps.Clone(t.Configs), Partitions: make([]wire.PartitionMetadata, t.Partitions)}
	for p := range t.Partitions {
		pm := wire.PartitionMetadata{Partition: p, Leader: -1, Replicas: []int32{s.opts.NodeID}, ISR: []int32{}}
		if part, err := s.rm.Partition(t.Name, p); err == nil {
			leader, epoch, isr := part.Role()
			if leader {
				pm.Leader = s.opts.NodeID
			}
			pm.LeaderEpoch = epoch
			pm.ISR = isr
		}
		tm.Partitions[p] = pm
	}
	return tm
}

// newTopicID returns a random topic id (128 bits of randomness).
func newTopicID() string { return rand.Text() }
