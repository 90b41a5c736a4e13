package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// The fetching side can run in a child process (fetchbench --client), so
// that the parent's CPU time during a round is the serving side's alone:
// the figure zero-copy is about.

// clientSetup is what the parent sends the child first.
type clientSetup struct {
	Chunk   int32        `json:"chunk"`
	Regions []regionJSON `json:"regions"`
}

// regionJSON is a region on the wire to the child.
type regionJSON struct {
	N      int64 `json:"n"`
	Offset int64 `json:"offset"`
}

// clientCommand asks the child for one round.
type clientCommand struct {
	Mode  string `json:"mode"` // "http" or "bare"
	Addr  string `json:"addr"`
	Conns int    `json:"conns"` // concurrent connections, each fetching every region
}

// clientReply is a round's outcome.
type clientReply struct {
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
}

// clientMain is the child: it reads the setup, then answers rounds until
// stdin closes.
func clientMain() error {
	in := bufio.NewReader(os.Stdin)
	dec := json.NewDecoder(in)
	enc := json.NewEncoder(os.Stdout)
	var setup clientSetup
	if err := dec.Decode(&setup); err != nil {
		return fmt.Errorf("read setup: %w", err)
	}
	ds := &dataset{chunk: setup.Chunk}
	for _, r := range setup.Regions {
		ds.regions = append(ds.regions, region{n: r.N, offset: r.Offset})
		ds.total += r.N
	}
	for {
		var cmd clientCommand
		if err := dec.Decode(&cmd); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		var rep clientReply
		start := time.Now()
		var (
			mu  sync.Mutex
			wg  sync.WaitGroup
			err error
		)
		for range max(cmd.Conns, 1) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, cerr := oneConn(cmd, ds)
				mu.Lock()
				defer mu.Unlock()
				rep.Bytes += n
				if err == nil {
					err = cerr
				}
			}()
		}
		wg.Wait()
		rep.Seconds = time.Since(start).Seconds()
		if err != nil {
			rep.Error = err.Error()
		}
		if err := enc.Encode(rep); err != nil {
			return err
		}
	}
}

// oneConn fetches every region once over a new connection.
func oneConn(cmd clientCommand, ds *dataset) (int64, error) {
	switch cmd.Mode {
	case "http":
		c, err := dialHTTP(cmd.Addr)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return fetchRound(c, ds)
	case "bare":
		c, err := dialBare(cmd.Addr)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return bareRound(c, ds)
	}
	return 0, fmt.Errorf("unknown mode %q", cmd.Mode)
}

// childClient drives a fetchbench --client child.
type childClient struct {
	cmd *exec.Cmd
	enc *json.Encoder
	dec *json.Decoder
	in  io.WriteCloser
	// conns is how many connections fetch at once in each round.
	conns int
}

// startChild starts the child and sends it the dataset's regions.
func startChild(ds *dataset, conns int) (*childClient, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "--client")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	cc := &childClient{cmd: cmd, enc: json.NewEncoder(in), dec: json.NewDecoder(out), in: in, conns: conns}
	setup := clientSetup{Chunk: ds.chunk}
	for _, r := range ds.regions {
		setup.Regions = append(setup.Regions, regionJSON{N: r.n, Offset: r.offset})
	}
	if err := cc.enc.Encode(setup); err != nil {
		cc.Close()
		return nil, err
	}
	return cc, nil
}

// round has the child fetch every region once from addr; it returns the
// rate (bytes/s) and this process's CPU seconds per GiB during the round.
func (cc *childClient) round(mode, addr string) (rate, cpuPerGiB float64, err error) {
	before := cpuSeconds()
	if err := cc.enc.Encode(clientCommand{Mode: mode, Addr: addr, Conns: cc.conns}); err != nil {
		return 0, 0, err
	}
	var rep clientReply
	if err := cc.dec.Decode(&rep); err != nil {
		return 0, 0, err
	}
	cpu := cpuSeconds() - before
	if rep.Error != "" {
		return 0, 0, errors.New(rep.Error)
	}
	return float64(rep.Bytes) / rep.Seconds, cpu / (float64(rep.Bytes) / (1 << 30)), nil
}

// Close ends the child.
func (cc *childClient) Close() error {
	cc.in.Close()
	return cc.cmd.Wait()
}

// cpuSeconds is this process's user plus system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
