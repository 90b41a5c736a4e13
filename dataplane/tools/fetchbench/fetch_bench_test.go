package main

import (
	"os"
	"sync"
	"testing"
)

// benchData is the partition the benchmarks fetch, filled once per process.
var (
	benchOnce sync.Once
	benchDS   *dataset
	benchErr  error
	benchDir  string
)

// benchDataset fills a 256 MiB partition through HTTP produce, once.
func benchDataset(b *testing.B) *dataset {
	b.Helper()
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "fetchbench-")
		if benchErr != nil {
			return
		}
		benchDS, benchErr = prepare(benchDir, 256<<20, 32<<20)
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDS
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// BenchmarkFetch fetches a cached 256 MiB partition over loopback in 32 MiB
// fetches, four ways: the bare Go sendfile loop (the ceiling), a bare
// read/write loop, strand-data's sendfile fetch, and strand-data copying the
// same bytes by read/write.
// One op is one pass over the partition; the MB/s column compares them.
func BenchmarkFetch(b *testing.B) {
	for _, bare := range []struct {
		name    string
		copying bool
	}{{"bare-sendfile-loop", false}, {"bare-copy-loop", true}} {
		b.Run(bare.name, func(b *testing.B) {
			ds := benchDataset(b)
			c, done, err := bareClientFor(ds, bare.copying)
			if err != nil {
				b.Fatal(err)
			}
			defer done()
			b.SetBytes(ds.total)
			b.ResetTimer()
			for b.Loop() {
				if _, err := bareRound(c, ds); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, mode := range []struct {
		name string
		copy bool
	}{{"strand-sendfile", false}, {"strand-copy", true}} {
		b.Run(mode.name, func(b *testing.B) {
			ds := benchDataset(b)
			rn, err := startNode(nodeConfig(ds.dir, ds.chunk, mode.copy))
			if err != nil {
				b.Fatal(err)
			}
			defer rn.Close()
			c, err := dialHTTP(rn.node.Addr())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.SetBytes(ds.total)
			b.ResetTimer()
			for b.Loop() {
				if _, err := fetchRound(c, ds); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestFetchPathsAgree checks on a small partition that the three paths
// deliver the same byte counts, so the benchmark compares like with like.
func TestFetchPathsAgree(t *testing.T) {
	ds, err := prepare(t.TempDir(), 8<<20, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.regions) < 4 || ds.total < 8<<20 {
		t.Fatalf("dataset: %d regions, %d bytes", len(ds.regions), ds.total)
	}
	for _, copying := range []bool{false, true} {
		bc, done, err := bareClientFor(ds, copying)
		if err != nil {
			t.Fatal(err)
		}
		n, err := bareRound(bc, ds)
		done()
		if err != nil || n != ds.total {
			t.Fatalf("bare (copying %v): %d, %v", copying, n, err)
		}
	}
	for _, cp := range []bool{false, true} {
		rn, err := startNode(nodeConfig(ds.dir, ds.chunk, cp))
		if err != nil {
			t.Fatal(err)
		}
		c, err := dialHTTP(rn.node.Addr())
		if err != nil {
			t.Fatal(err)
		}
		n, err := fetchRound(c, ds)
		c.Close()
		if cerr := rn.Close(); cerr != nil {
			t.Fatal(cerr)
		}
		if err != nil || n != ds.total {
			t.Fatalf("copy=%v: %d, %v", cp, n, err)
		}
	}
}
