// Package durablefile replaces small files (checkpoints, catalogs, node
// identity, producer snapshots) so that a crash leaves either the old or the
// new content, never a mix.
package durablefile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data: it writes a temporary file beside it,
// fsyncs it, renames it into place and fsyncs the directory. A crash at any
// point leaves path as it was or as data, plus at most a stray "<path>.tmp"
// that the next Write truncates.
func Write(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs a directory, making creations, renames and removals in it
// durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
