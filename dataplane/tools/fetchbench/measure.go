package main

import (
	"fmt"
	"io"
)

// path is one way of serving the fetches.
type path struct {
	name  string
	rates []float64 // bytes per second, per round
	cpu   []float64 // serving process CPU seconds per GiB, per round
}

// results are the measured paths, in table order.
type results struct {
	bare, bareCopy, sendfile, copying path
}

// measure runs one warm-up and then rounds rounds of each path, interleaved
// so that drift of the shared machine hits all four alike. The fetching
// side runs in a child process with conns connections at once; this process
// serves.
func measure(ds *dataset, rounds, conns int) (*results, error) {
	bare, err := startBare(ds.regions, false)
	if err != nil {
		return nil, err
	}
	defer bare.Close()
	bareCopy, err := startBare(ds.regions, true)
	if err != nil {
		return nil, err
	}
	defer bareCopy.Close()
	child, err := startChild(ds, conns)
	if err != nil {
		return nil, err
	}
	defer child.Close()
	res := &results{
		bare:     path{name: "bare Go sendfile loop (os.File -> TCPConn)"},
		bareCopy: path{name: "bare Go read/write loop (256 KiB buffer)"},
		sendfile: path{name: "strand-data fetch, sendfile"},
		copying:  path{name: "strand-data fetch, read/write copy"},
	}
	for i := 0; i <= rounds; i++ {
		warm := i == 0
		if err := res.bare.add(warm, func() (float64, float64, error) { return child.round("bare", bare.Addr()) }); err != nil {
			return nil, fmt.Errorf("bare sendfile: %w", err)
		}
		if err := res.bareCopy.add(warm, func() (float64, float64, error) { return child.round("bare", bareCopy.Addr()) }); err != nil {
			return nil, fmt.Errorf("bare copy: %w", err)
		}
		if err := res.sendfile.add(warm, func() (float64, float64, error) { return nodeRound(ds, child, false) }); err != nil {
			return nil, fmt.Errorf("sendfile: %w", err)
		}
		if err := res.copying.add(warm, func() (float64, float64, error) { return nodeRound(ds, child, true) }); err != nil {
			return nil, fmt.Errorf("copy: %w", err)
		}
	}
	return res, nil
}

// add runs one round and records it unless it is the warm-up.
func (p *path) add(warm bool, round func() (float64, float64, error)) error {
	rate, cpu, err := round()
	if err != nil {
		return err
	}
	if !warm {
		p.rates = append(p.rates, rate)
		p.cpu = append(p.cpu, cpu)
	}
	return nil
}

// nodeRound starts a node on the dataset (a clean restart, not measured),
// has the child fetch every region once over one keep-alive connection,
// and stops the node.
func nodeRound(ds *dataset, child *childClient, copyFetch bool) (float64, float64, error) {
	rn, err := startNode(nodeConfig(ds.dir, ds.chunk, copyFetch))
	if err != nil {
		return 0, 0, err
	}
	defer rn.Close()
	return child.round("http", rn.node.Addr())
}

// print writes the table.
func (r *results) print(w io.Writer) {
	const gib = 1 << 30
	base := median(r.bare.rates)
	fmt.Fprintf(w, "\n| path | median GiB/s | vs bare sendfile loop | serving CPU s/GiB (median) |\n|---|---|---|---|\n")
	for _, p := range []path{r.bare, r.bareCopy, r.sendfile, r.copying} {
		m := median(p.rates)
		fmt.Fprintf(w, "| %s | %.2f | %.0f%% | %.3f |\n", p.name, m/gib, 100*m/base, median(p.cpu))
	}
	fmt.Fprintf(w, "\nstrand sendfile / strand copy: %.2fx throughput, %.2fx CPU per GiB\n",
		median(r.sendfile.rates)/median(r.copying.rates), median(r.sendfile.cpu)/median(r.copying.cpu))
	for _, p := range []path{r.bare, r.bareCopy, r.sendfile, r.copying} {
		fmt.Fprintf(w, "rounds, %s: GiB/s %s\n", p.name, rates(p.rates))
	}
}

// rates renders per-round rates in GiB/s.
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
