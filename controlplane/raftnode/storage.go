package raftnode

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"golang.org/x/sys/unix"

	"strand.dev/controlplane/wal"
)

// identityFile names the file in the data directory that says which cluster
// and member the directory belongs to.
const identityFile = "member.json"

// removedFile is written when this member applies its own removal.
const removedFile = "removed"

// lockFile is held (flock) by the process running the member.
const lockFile = "LOCK"

// lockDir takes the data directory's lock, so that two processes never run
// on one directory. The lock lasts until the returned file is closed (or
// the process dies).
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("raftnode: create data directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("raftnode: open lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s is in use by another strand-meta process (%v)", ErrDataDirLocked, dir, err)
	}
	return f, nil
}

// identity is the content of identityFile.
type identity struct {
	ClusterID string `json:"cluster_id"`
	MemberID  uint64 `json:"member_id"`
}

// checkIdentity makes sure dir belongs to (cluster, member), claiming it when
// it is new. It refuses a directory of another cluster or member, one whose
// member was removed, and one holding raft state but no identity.
func checkIdentity(dir, cluster string, member uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("raftnode: create data directory: %w", err)
	}
	path := filepath.Join(dir, identityFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		var id identity
		if err := json.Unmarshal(b, &id); err != nil {
			return fmt.Errorf("%w: %s is not valid: %w", ErrForeignData, path, err)
		}
		if id.ClusterID != cluster {
			return fmt.Errorf("%w: %s belongs to cluster %q, not %q; use another --data-dir or the right --cluster-id",
				ErrForeignData, dir, id.ClusterID, cluster)
		}
		if id.MemberID != member {
			return fmt.Errorf("%w: %s belongs to member %d, not %d; use another --data-dir or the right --id",
				ErrForeignData, dir, id.MemberID, member)
		}
		if _, err := os.Stat(filepath.Join(dir, removedFile)); err == nil {
			return fmt.Errorf("%w: member %d was removed from cluster %q; start it on an empty --data-dir after adding it again under a new id",
				ErrRemoved, member, cluster)
		}
		return nil
	case errors.Is(err, os.ErrNotExist):
		for _, sub := range []string{"wal", "snap"} {
			if des, err := os.ReadDir(filepath.Join(dir, sub)); err == nil && len(des) > 0 {
				return fmt.Errorf("%w: %s holds raft state but no %s", ErrForeignData, dir, identityFile)
			}
		}
		out, err := json.Marshal(identity{ClusterID: cluster, MemberID: member})
		if err != nil {
			return fmt.Errorf("raftnode: encode identity: %w", err)
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, out, 0o644); err != nil {
			return fmt.Errorf("raftnode: write identity: %w", err)
		}
		f, err := os.Open(tmp)
		if err == nil {
			err = f.Sync()
			f.Close()
		}
		if err != nil {
			return fmt.Errorf("raftnode: sync identity: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("raftnode: write identity: %w", err)
		}
		return syncDir(dir)
	default:
		return fmt.Errorf("raftnode: read identity: %w", err)
	}
}

// markRemoved records that this member was removed, so it refuses to start.
func markRemoved(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, removedFile), []byte("removed\n"), 0o644); err != nil {
		return fmt.Errorf("raftnode: mark removed: %w", err)
	}
	return syncDir(dir)
}

// restored is the durable state read back at start.
type restored struct {
	wal      *wal.WAL
	storage  *raft.MemoryStorage
	snapshot *raftpb.Snapshot // nil if none
	cluster  clusterState     // from the snapshot
	machine  []byte           // the state machine's part of the snapshot
	fresh    bool             // nothing was on disk
}

// restore opens the WAL and the newest snapshot it marks and loads them into
// a MemoryStorage.
func restore(cfg *Config, snaps *snapStore, metrics *Metrics) (*restored, error) {
	w, rec, err := wal.Open(filepath.Join(cfg.Dir, "wal"), wal.Options{
		MaxRecordBytes: uint32(max(cfg.MaxEntryBytes*2, 64<<20)),
		Logger:         cfg.Logger,
		ObserveSync:    metrics.observeWALSync,
	})
	if err != nil {
		return nil, err
	}
	out := &restored{wal: w, storage: raft.NewMemoryStorage()}
	fail := func(err error) (*restored, error) {
		w.Close()
		return nil, err
	}
	var snapIndex uint64
	if m, ok := rec.LastMarker(); ok {
		snap, err := snaps.load(m.Term, m.Index)
		if err != nil {
			return fail(fmt.Errorf("raftnode: the WAL marks snapshot %d/%d: %w", m.Term, m.Index, err))
		}
		cs, machine, err := decodeSnapData(snap.GetData())
		if err != nil {
			return fail(err)
		}
		if err := out.storage.ApplySnapshot(snap); err != nil {
			return fail(fmt.Errorf("raftnode: load snapshot: %w", err))
		}
		out.snapshot, out.cluster, out.machine = snap, cs, machine
		snapIndex = m.Index
	}
	var ents []*raftpb.Entry
	for _, e := range rec.Entries {
		if e.GetIndex() > snapIndex {
			ents = append(ents, e)
		}
	}
	if len(ents) > 0 && ents[0].GetIndex() != snapIndex+1 {
		return fail(fmt.Errorf("%w: log resumes at %d after snapshot %d", wal.ErrCorrupt, ents[0].GetIndex(), snapIndex))
	}
	if err := out.storage.Append(ents); err != nil {
		return fail(fmt.Errorf("raftnode: load entries: %w", err))
	}
	if hs := rec.HardState; hs != nil {
		if hs.GetCommit() < snapIndex {
			hs.Commit = new(snapIndex)
		}
		if last := snapIndex + uint64(len(ents)); hs.GetCommit() > last {
			return fail(fmt.Errorf("%w: commit index %d beyond the last entry %d", wal.ErrCorrupt, hs.GetCommit(), last))
		}
		if err := out.storage.SetHardState(hs); err != nil {
			return fail(err)
		}
	}
	out.fresh = rec.HardState == nil && len(rec.Entries) == 0 && out.snapshot == nil
	if rec.TornBytes > 0 {
		cfg.Logger.Warn("recovered the WAL after a torn write", "component", "raft", "bytes_cut", rec.TornBytes)
	}
	return out, nil
}
