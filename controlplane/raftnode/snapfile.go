package raftnode

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errSnapCorrupt reports a snapshot file that fails its checksum or decoding.
var errSnapCorrupt = errors.New("raftnode: corrupt snapshot file")

// snapStore keeps snapshot files: <dir>/<term>-<index>.snap, each a CRC-32C
// followed by the protobuf raftpb.Snapshot. Files are written to a temporary
// name, synced and renamed, so a file that exists is whole.
type snapStore struct {
	dir  string
	keep int
}

func snapName(term, index uint64) string { return fmt.Sprintf("%016x-%016x.snap", term, index) }

// save writes snap durably.
func (s *snapStore) save(snap *raftpb.Snapshot) error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("raftnode: snapshot dir: %w", err)
	}
	b, err := proto.Marshal(snap)
	if err != nil {
		return fmt.Errorf("raftnode: encode snapshot: %w", err)
	}
	md := snap.GetMetadata()
	final := filepath.Join(s.dir, snapName(md.GetTerm(), md.GetIndex()))
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("raftnode: create snapshot file: %w", err)
	}
	var crc [4]byte
	binary.LittleEndian.PutUint32(crc[:], crc32.Checksum(b, castagnoli))
	if _, err := f.Write(crc[:]); err == nil {
		_, err = f.Write(b)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("raftnode: write snapshot file: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("raftnode: rename snapshot file: %w", err)
	}
	return syncDir(s.dir)
}

// load reads the snapshot at (term, index).
func (s *snapStore) load(term, index uint64) (*raftpb.Snapshot, error) {
	path := filepath.Join(s.dir, snapName(term, index))
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("raftnode: read snapshot: %w", err)
	}
	if len(b) < 4 || binary.LittleEndian.Uint32(b[:4]) != crc32.Checksum(b[4:], castagnoli) {
		return nil, fmt.Errorf("%w: %s: checksum mismatch", errSnapCorrupt, path)
	}
	snap := &raftpb.Snapshot{}
	if err := proto.Unmarshal(b[4:], snap); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errSnapCorrupt, path, err)
	}
	if md := snap.GetMetadata(); md.GetIndex() != index || md.GetTerm() != term {
		return nil, fmt.Errorf("%w: %s holds %d/%d", errSnapCorrupt, path, md.GetTerm(), md.GetIndex())
	}
	return snap, nil
}

// purge deletes all but the newest keep snapshot files, and leftovers.
func (s *snapStore) purge() error {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("raftnode: read snapshot dir: %w", err)
	}
	type file struct {
		name        string
		term, index uint64
	}
	var files []file
	for _, de := range des {
		name := de.Name()
		if strings.HasSuffix(name, ".snap.tmp") {
			os.Remove(filepath.Join(s.dir, name))
			continue
		}
		var f file
		if _, err := fmt.Sscanf(name, "%016x-%016x.snap", &f.term, &f.index); err != nil {
			continue
		}
		f.name = name
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].index < files[j].index })
	for len(files) > s.keep {
		if err := os.Remove(filepath.Join(s.dir, files[0].name)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("raftnode: purge snapshot: %w", err)
		}
		files = files[1:]
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("raftnode: open dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("raftnode: sync dir: %w", err)
	}
	return nil
}

// freshSnapStorage is the raft Storage: the MemoryStorage, except that it
// never hands raft a snapshot older than the last applied configuration
// change. A member added after the newest snapshot is not in that
// snapshot's ConfState and would refuse it; raft is told the snapshot is
// temporarily unavailable instead, and the loop takes a fresh one. Raft
// calls it on the loop goroutine only.
type freshSnapStorage struct {
	*raft.MemoryStorage
	n *Node
}

// Snapshot implements raft.Storage.
func (s freshSnapStorage) Snapshot() (*raftpb.Snapshot, error) {
	snap, err := s.MemoryStorage.Snapshot()
	if err != nil {
		return nil, err
	}
	if snap.GetMetadata().GetIndex() < s.n.lastConfIndex {
		s.n.needSnapshot = true
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	return snap, nil
}

// snapMagic starts the node-level snapshot payload.
var snapMagic = [4]byte{'S', 'M', 'S', '1'}

// clusterState is the part of a snapshot the node itself keeps: the members
// with their addresses, and the ids removed (never to be reused).
type clusterState struct {
	Members []Member `json:"members"`
	Removed []uint64 `json:"removed,omitempty"`
}

// encodeSnapData builds a snapshot's Data: magic, the cluster state as JSON
// (length-prefixed), then the state machine's snapshot.
func encodeSnapData(cs clusterState, machine []byte) ([]byte, error) {
	js, err := json.Marshal(cs)
	if err != nil {
		return nil, fmt.Errorf("raftnode: encode cluster state: %w", err)
	}
	out := make([]byte, 0, 8+len(js)+len(machine))
	out = append(out, snapMagic[:]...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(js)))
	out = append(out, js...)
	return append(out, machine...), nil
}

// decodeSnapData splits a snapshot's Data.
func decodeSnapData(b []byte) (clusterState, []byte, error) {
	var cs clusterState
	if len(b) < 8 || [4]byte(b[:4]) != snapMagic {
		return cs, nil, fmt.Errorf("%w: bad snapshot payload header", errSnapCorrupt)
	}
	n := binary.BigEndian.Uint32(b[4:8])
	if uint64(n) > uint64(len(b)-8) {
		return cs, nil, fmt.Errorf("%w: cluster state of %d bytes in a %d-byte payload", errSnapCorrupt, n, len(b))
	}
	if err := json.Unmarshal(b[8:8+n], &cs); err != nil {
		return cs, nil, fmt.Errorf("%w: cluster state: %w", errSnapCorrupt, err)
	}
	return cs, b[8+n:], nil
}
