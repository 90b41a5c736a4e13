package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"strand.dev/client/wire"
)

func wireItoa(v int64) string { return strconv.FormatInt(v, 10) }

// checkFor polls fn every 10 ms until it returns nil or total passes.
func checkFor(t *testing.T, total time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", total, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("STRAND_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return nil
}

// testConfig is a controller config with short periods for tests.
func testConfig(t *testing.T, id string) Config {
	return Config{
		ID:                  id,
		ListenAddr:          "127.0.0.1:0",
		Lease:               time.Second,
		ReconcileInterval:   100 * time.Millisecond,
		RebalanceInterval:   200 * time.Millisecond,
		AutoLeaderRebalance: true,
		Logger:              testLogger(t),
	}
}

// startController runs a controller until the test ends; stop ends it
// earlier and waits for Run to return.
func startController(t *testing.T, cfg Config, deps Deps) (c *Controller, stop func()) {
	t.Helper()
	c, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return")
		}
	}
	t.Cleanup(stop)
	return c, stop
}

// call sends an HTTP request to a controller and decodes the answer into
// out, or returns the *wire.Error it answered.
func call(t *testing.T, addr, method, path string, in, out any) error {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+addr+path, body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return wire.UnmarshalError(resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return nil
}

func waitActive(t *testing.T, c *Controller) int64 {
	t.Helper()
	var epoch int64
	checkFor(t, 30*time.Second, func() error {
		var ok bool
		if ok, epoch = c.Active(); !ok {
			return fmt.Errorf("%s is not active", c.cfg.ID)
		}
		return nil
	})
	return epoch
}

func nodes(ids ...int32) []wire.NodeRecord {
	out := make([]wire.NodeRecord, len(ids))
	for i, id := range ids {
		out[i] = wire.NodeRecord{ID: id}
	}
	return out
}

// leadersOf returns the partitions' leaders of topic in img.
func leadersOf(img *wire.Image, topic string) []int32 {
	t := img.Topics[topic]
	if t == nil {
		return nil
	}
	out := make([]int32, len(t.Partitions))
	for i, p := range t.Partitions {
		out[i] = p.Leader
	}
	return out
}
