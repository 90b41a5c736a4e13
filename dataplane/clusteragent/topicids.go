package clusteragent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strand.dev/dataplane/durablefile"
)

// ClusterTopicsFile is where a data node keeps the ids of the topics whose
// replicas it holds, so that a topic deleted and created again under the
// same name (a new id) has its old data deleted rather than served.
const ClusterTopicsFile = "cluster-topics.json"

// topicIDs is the content of ClusterTopicsFile. Owned by the apply loop.
type topicIDs struct {
	path  string
	ids   map[string]string
	dirty bool
}

type topicIDsFile struct {
	Version int               `json:"version"`
	Topics  map[string]string `json:"topics"`
}

func loadTopicIDs(dataDir string) (*topicIDs, error) {
	t := &topicIDs{path: filepath.Join(dataDir, ClusterTopicsFile), ids: map[string]string{}}
	b, err := os.ReadFile(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("clusteragent: read %s: %w", t.path, err)
	}
	var f topicIDsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("clusteragent: parse %s: %w", t.path, err)
	}
	if f.Topics != nil {
		t.ids = f.Topics
	}
	return t, nil
}

func (t *topicIDs) get(topic string) (string, bool) {
	id, ok := t.ids[topic]
	return id, ok
}

func (t *topicIDs) set(topic, id string) {
	if t.ids[topic] != id {
		t.ids[topic] = id
		t.dirty = true
	}
}

func (t *topicIDs) drop(topic string) {
	if _, ok := t.ids[topic]; ok {
		delete(t.ids, topic)
		t.dirty = true
	}
}

// save writes the file when it changed (atomically, fsynced).
func (t *topicIDs) save() error {
	if !t.dirty {
		return nil
	}
	b, err := json.MarshalIndent(topicIDsFile{Version: 1, Topics: maps.Clone(t.ids)}, "", "  ")
	if err != nil {
		return err
	}
	if err := durablefile.Write(t.path, append(b, '\n')); err != nil {
		return fmt.Errorf("clusteragent: write %s: %w", t.path, err)
	}
	t.dirty = false
	return nil
}
