package server

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strand.dev/dataplane/durablefile"
)

// identityFile is the node's identity in its data directory.
const identityFile = "meta.json"

// identity is what meta.json holds: the node that owns the directory and
// the cluster it belongs to.
type identity struct {
	NodeID    int32  `json:"node_id"`
	ClusterID string `json:"cluster_id"`
}

// ErrWrongNode is returned when the data directory belongs to another node.
var ErrWrongNode = errors.New("the data directory belongs to another node")

// loadIdentity reads meta.json, or writes it for a new directory (with a new
// cluster id, or none in a cluster: the node adopts strand-meta's when it
// registers). A directory of another node id is refused: serving it would
// hand one node's partitions to another.
func loadIdentity(dataDir string, nodeID int32, cluster bool) (identity, error) {
	path := filepath.Join(dataDir, identityFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		id := identity{NodeID: nodeID, ClusterID: rand.Text()}
		if cluster {
			id.ClusterID = ""
		}
		if err := writeIdentity(path, id); err != nil {
			return identity{}, err
		}
		return id, nil
	}
	if err != nil {
		return identity{}, fmt.Errorf("read %s: %w", path, err)
	}
	var id identity
	if err := json.Unmarshal(b, &id); err != nil {
		return identity{}, fmt.Errorf("parse %s: %w", path, err)
	}
	if id.NodeID != nodeID {
		return identity{}, fmt.Errorf("%w: %s says node %d, this is node %d (--node-id)", ErrWrongNode, path, id.NodeID, nodeID)
	}
	return id, nil
}

// writeIdentity writes meta.json.
func writeIdentity(path string, id identity) error {
	out, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := durablefile.Write(path, append(out, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ErrOtherCluster is returned when the data directory belongs to another
// cluster than the strand-meta nodes named.
var ErrOtherCluster = errors.New("the data directory belongs to another cluster")

// adoptClusterID checks a cluster's id against the directory's: a directory
// without one (new in a cluster) takes it, one of another cluster (or of a
// standalone node) is refused.
func adoptClusterID(dataDir string, id *identity, clusterID string) error {
	if id.ClusterID == clusterID {
		return nil
	}
	if id.ClusterID != "" {
		return fmt.Errorf("%w: %s says cluster %q, strand-meta (--meta) is cluster %q; use another --data-dir",
			ErrOtherCluster, filepath.Join(dataDir, identityFile), id.ClusterID, clusterID)
	}
	id.ClusterID = clusterID
	return writeIdentity(filepath.Join(dataDir, identityFile), *id)
}
