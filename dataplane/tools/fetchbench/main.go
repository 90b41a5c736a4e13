// Command fetchbench measures loopback fetch throughput of a cached
// partition four ways in one run: strand-data's fetch (sendfile), the same
// node sending the same bytes by read/write copying (Config.CopyFetchBody),
// a bare Go sendfile-to-socket loop as the ceiling, and a bare read/write
// loop (what the machine's loopback gives copying without a server). The
// fetches are made by a child process, so this process's CPU time per GiB
// is the serving side's cost of each path. It prints the median of the
// rounds and the ratios.
//
//	go run ./tools/fetchbench --bytes 1GiB --chunk 64MiB --rounds 7
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

func main() {
	var (
		size   = flag.String("bytes", "1GiB", "partition size to fill and fetch per round (KiB, MiB, GiB suffixes)")
		chunk  = flag.String("chunk", "64MiB", "max_bytes of each fetch")
		rounds = flag.Int("rounds", 7, "measured rounds per path (after one warm-up round)")
		dir    = flag.String("dir", "", "data directory (default: a temporary one, removed at exit)")
		conns  = flag.Int("conns", 1, "connections fetching at once (each fetches the whole partition per round)")
		client = flag.Bool("client", false, "internal: run as the fetching child process")
	)
	flag.Parse()
	if *client {
		if err := clientMain(); err != nil {
			fatal(err)
		}
		return
	}
	total, err := parseSize(*size)
	if err != nil {
		fatal(err)
	}
	ch, err := parseSize(*chunk)
	if err != nil || ch > 1<<31-1 {
		fatal(fmt.Errorf("--chunk %s: must be below 2 GiB", *chunk))
	}
	d := *dir
	if d == "" {
		if d, err = os.MkdirTemp("", "fetchbench-"); err != nil {
			fatal(err)
		}
		defer os.RemoveAll(d)
	}
	fmt.Printf("filling %s (%d bytes) through HTTP produce in %s ...\n", *size, total, d)
	ds, err := prepare(d, total, int32(ch))
	if err != nil {
		fatal(err)
	}
	fmt.Printf("partition: %d bytes in %d fetches of up to %s; %d rounds; %d connection(s); GOMAXPROCS=%d\n",
		ds.total, len(ds.regions), *chunk, *rounds, max(*conns, 1), runtime.GOMAXPROCS(0))
	res, err := measure(ds, *rounds, max(*conns, 1))
	if err != nil {
		fatal(err)
	}
	res.print(os.Stdout)
}

// fatal prints err and exits 1.
func fatal(err error) {
	fmt.Fprintln(os.Stderr, "fetchbench:", err)
	os.Exit(1)
}

// parseSize reads 123, 64KiB, 64MiB, 1GiB.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suf, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suf) {
			s, mult = strings.TrimSuffix(s, suf), m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// median of a slice of rates.
func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
