package harness

import (
	"strconv"
	"testing"
	"time"
)

// DataNode is a standalone strand-data process.
type DataNode struct {
	*Proc
	ID   int
	Addr string
	Dir  string
}

// StartStandalone starts a standalone data node on a free port with a fresh
// data directory and waits until it is healthy.
func StartStandalone(t testing.TB, bin string, id int, extra ...string) *DataNode {
	t.Helper()
	addr := FreeAddr(t)
	dir := t.TempDir()
	args := append([]string{"--node-id", strconv.Itoa(id), "--listen", addr, "--data-dir", dir, "--standalone", "--log-level", "warn"}, extra...)
	p := Start(t, "strand-data-"+strconv.Itoa(id), bin, args...)
	WaitHealthy(t, p, addr, 60*time.Second)
	return &DataNode{Proc: p, ID: id, Addr: addr, Dir: dir}
}

// RestartAndWait restarts the node on the same data and waits until it is
// healthy.
func (d *DataNode) RestartAndWait(t testing.TB) {
	t.Helper()
	if err := d.Restart(); err != nil {
		t.Fatal(err)
	}
	WaitHealthy(t, d.Proc, d.Addr, 60*time.Second)
}
