package main

import (
	"fmt"
	"io"
)

// results are the per-round rates of each path, bytes per second.
type results struct {
	bare, sendfile, copying []float64
}

// measure runs one warm-up and then rounds rounds of each path, interleaved
// so that drift of the shared machine hits all three alike.
func measure(ds *dataset, rounds int) (*results, error) {
	bs, err := startBare(ds.regions)
	if err != nil {
		return nil, err
	}
	defer bs.Close()
	bc, err := dialBare(bs.Addr())
	if err != nil {
		return nil, err
	}
	defer bc.Close()
	res := &results{}
	for i := 0; i <= rounds; i++ {
		bare, err := timed(func() (int64, error) { return bareRound(bc, ds) })
		if err != nil {
			return nil, fmt.Errorf("bare: %w", err)
		}
		sf, err := nodeRound(ds, false)
		if err != nil {
			return nil, fmt.Errorf("sendfile: %w", err)
		}
		cp, err := nodeRound(ds, true)
		if err != nil {
			return nil, fmt.Errorf("copy: %w", err)
		}
		if i == 0 {
			continue // warm-up
		}
		res.bare = append(res.bare, bare)
		res.sendfile = append(res.sendfile, sf)
		res.copying = append(res.copying, cp)
	}
	return res, nil
}

// nodeRound starts a node on the dataset (a clean restart, not timed),
// fetches every region once over one keep-alive connection (timed) and
// stops the node.
func nodeRound(ds *dataset, copyFetch bool) (float64, error) {
	rn, err := startNode(nodeConfig(ds.dir, ds.chunk, copyFetch))
	if err != nil {
		return 0, err
	}
	defer rn.Close()
	c, err := dialHTTP(rn.node.Addr())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return timed(func() (int64, error) { return fetchRound(c, ds) })
}

// print writes the table.
func (r *results) print(w io.Writer) {
	const gib = 1 << 30
	b, s, c := median(r.bare), median(r.sendfile), median(r.copying)
	fmt.Fprintf(w, "\n| path | median GiB/s | vs bare sendfile loop |\n|---|---|---|\n")
	fmt.Fprintf(w, "| bare Go sendfile loop (os.File -> TCPConn) | %.2f | 100%% |\n", b/gib)
	fmt.Fprintf(w, "| strand-data fetch, sendfile | %.2f | %.0f%% |\n", s/gib, 100*s/b)
	fmt.Fprintf(w, "| strand-data fetch, read/write copy | %.2f | %.0f%% |\n", c/gib, 100*c/b)
	fmt.Fprintf(w, "\nsendfile / copy = %.2fx\n", s/c)
	fmt.Fprintf(w, "rounds (GiB/s): bare %s; sendfile %s; copy %s\n", rates(r.bare), rates(r.sendfile), rates(r.copying))
}

// rates renders per-round rates.
func rates(xs []float64) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.2f", x/(1<<30))
	}
	return s
}
