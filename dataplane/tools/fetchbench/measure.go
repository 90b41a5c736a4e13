package main

import (
	"fmt"
	"io"
)

// results are the per-round rates of each path, bytes per second.
type results struct {
	bare, bareCopy, sendfile, copying []float64
}

// measure runs one warm-up and then rounds rounds of each path, interleaved
// so that drift of the shared machine hits all three alike.
func measure(ds *dataset, rounds int) (*results, error) {
	bc, closeBare, err := bareClientFor(ds, false)
	if err != nil {
		return nil, err
	}
	defer closeBare()
	cc, closeCopy, err := bareClientFor(ds, true)
	if err != nil {
		return nil, err
	}
	defer closeCopy()
	res := &results{}
	for i := 0; i <= rounds; i++ {
		bare, err := timed(func() (int64, error) { return bareRound(bc, ds) })
		if err != nil {
			return nil, fmt.Errorf("bare: %w", err)
		}
		bareCopy, err := timed(func() (int64, error) { return bareRound(cc, ds) })
		if err != nil {
			return nil, fmt.Errorf("bare copy: %w", err)
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
		res.bareCopy = append(res.bareCopy, bareCopy)
		res.sendfile = append(res.sendfile, sf)
		res.copying = append(res.copying, cp)
	}
	return res, nil
}

// bareClientFor starts a bare loop over the dataset and connects to it.
func bareClientFor(ds *dataset, copying bool) (*bareClient, func(), error) {
	bs, err := startBare(ds.regions, copying)
	if err != nil {
		return nil, nil, err
	}
	bc, err := dialBare(bs.Addr())
	if err != nil {
		bs.Close()
		return nil, nil, err
	}
	return bc, func() { bc.Close(); bs.Close() }, nil
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
	b, bc, s, c := median(r.bare), median(r.bareCopy), median(r.sendfile), median(r.copying)
	fmt.Fprintf(w, "\n| path | median GiB/s | vs bare sendfile loop |\n|---|---|---|\n")
	fmt.Fprintf(w, "| bare Go sendfile loop (os.File -> TCPConn) | %.2f | 100%% |\n", b/gib)
	fmt.Fprintf(w, "| bare Go read/write loop (256 KiB buffer) | %.2f | %.0f%% |\n", bc/gib, 100*bc/b)
	fmt.Fprintf(w, "| strand-data fetch, sendfile | %.2f | %.0f%% |\n", s/gib, 100*s/b)
	fmt.Fprintf(w, "| strand-data fetch, read/write copy | %.2f | %.0f%% |\n", c/gib, 100*c/b)
	fmt.Fprintf(w, "\nsendfile / copy = %.2fx\n", s/c)
	fmt.Fprintf(w, "rounds (GiB/s): bare %s; bare copy %s; sendfile %s; copy %s\n", rates(r.bare), rates(r.bareCopy), rates(r.sendfile), rates(r.copying))
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
