package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"strand.dev/client/wire"
	"strand.dev/dataplane/partlog"
	"strand.dev/dataplane/server"
)

// topic is the benchmark's topic; it has one partition.
const topic = "fetchbench"

// region is one fetch of the benchmark: a segment file range and the
// offset a fetch asks for to get exactly it.
type region struct {
	path   string
	pos, n int64
	offset int64
}

// dataset is a partition filled with total bytes of batches, cut into the
// regions that fetches of chunk bytes return.
type dataset struct {
	dir     string
	chunk   int32
	total   int64
	regions []region
}

// nodeConfig is the node the benchmark fetches from.
func nodeConfig(dir string, chunk int32, copyFetch bool) server.Config {
	cfg := server.DefaultConfig()
	cfg.Standalone = true
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.MaxFetchBytes = max(chunk, 1<<20)
	cfg.MaxRequestBytes = 8 << 20
	cfg.CopyFetchBody = copyFetch
	return cfg
}

// runningNode is a node serving in the background.
type runningNode struct {
	node *server.Node
	stop context.CancelFunc
	done chan error
}

// startNode opens and serves a node.
func startNode(cfg server.Config) (*runningNode, error) {
	n, err := server.New(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	rn := &runningNode{node: n, stop: cancel, done: make(chan error, 1)}
	go func() { rn.done <- n.Run(ctx) }()
	return rn, nil
}

// Close stops the node and waits for it.
func (r *runningNode) Close() error {
	r.stop()
	return <-r.done
}

// prepare fills a new partition in dir with total bytes of 1 KiB records in
// 1 MiB batches, through the HTTP produce path, then computes the fetch
// regions.
func prepare(dir string, total int64, chunk int32) (*dataset, error) {
	rn, err := startNode(nodeConfig(dir, chunk, false))
	if err != nil {
		return nil, err
	}
	segBytes := min(total+(64<<20), 1<<31-1)
	if err := createTopic(rn.node.Addr(), segBytes); err != nil {
		rn.Close()
		return nil, err
	}
	batch, err := makeBatch(1024, 1000)
	if err != nil {
		rn.Close()
		return nil, err
	}
	url := "http://" + rn.node.Addr() + wire.PathProduce + "?topic=" + topic + "&partition=0&acks=1"
	for written := int64(0); written < total; written += int64(len(batch)) {
		if err := post(url, wire.ContentTypeBatch, batch); err != nil {
			rn.Close()
			return nil, fmt.Errorf("produce: %w", err)
		}
	}
	if err := rn.Close(); err != nil {
		return nil, err
	}
	ds := &dataset{dir: dir, chunk: chunk}
	if err := ds.cut(); err != nil {
		return nil, err
	}
	return ds, nil
}

// cut opens the partition log and records the region every fetch of
// ds.chunk bytes from offset 0 on returns.
func (ds *dataset) cut() error {
	m, err := partlog.OpenManager(ds.dir, partlog.ManagerOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer m.Close()
	l, ok := m.Get(topic, 0)
	if !ok {
		return errors.New("the benchmark partition is missing")
	}
	end := l.EndOffset()
	for off := int64(0); off < end; {
		r, err := l.Read(off, ds.chunk, end)
		if err != nil {
			return err
		}
		if r.File == nil || r.Len == 0 {
			return fmt.Errorf("empty read at offset %d of %d", off, end)
		}
		ds.regions = append(ds.regions, region{path: r.File.Name(), pos: r.Pos, n: r.Len, offset: off})
		ds.total += r.Len
		r.File.Close()
		off = r.NextOffset
	}
	return nil
}

// createTopic creates the benchmark topic with one big segment.
func createTopic(addr string, segmentBytes int64) error {
	body, _ := json.Marshal(wire.CreateTopicRequest{Topic: topic, Partitions: 1, Configs: map[string]string{
		"segment.bytes": strconv.FormatInt(segmentBytes, 10),
	}})
	return post("http://"+addr+wire.PathAdminTopics, wire.ContentTypeJSON, body)
}

// post sends a request and fails on a non-200 answer.
func post(url, contentType string, body []byte) error {
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %s", url, resp.StatusCode, b)
	}
	return nil
}

// fetchRound fetches every region once over one connection to a node and
// returns the bytes received.
func fetchRound(c *httpClient, ds *dataset) (int64, error) {
	var total int64
	for _, r := range ds.regions {
		path := wire.PathFetch + "?topic=" + topic + "&partition=0&offset=" + strconv.FormatInt(r.offset, 10) +
			"&max_bytes=" + strconv.Itoa(int(ds.chunk)) + "&min_bytes=0&max_wait_ms=0"
		n, err := c.get(path)
		if err != nil {
			return total, err
		}
		if n != r.n {
			return total, fmt.Errorf("fetch at %d: %d bytes, want %d", r.offset, n, r.n)
		}
		total += n
	}
	return total, nil
}

// bareRound fetches every region once from the bare sendfile loop.
func bareRound(c *bareClient, ds *dataset) (int64, error) {
	var total int64
	for i, r := range ds.regions {
		if err := c.get(i, r.n); err != nil {
			return total, err
		}
		total += r.n
	}
	return total, nil
}

// timed runs f and returns bytes per second.
func timed(f func() (int64, error)) (float64, error) {
	start := time.Now()
	n, err := f()
	if err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
