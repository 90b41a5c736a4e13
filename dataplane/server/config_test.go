package server

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		c := DefaultConfig()
		c.Standalone = true
		return c
	}
	if c := valid(); c.Validate() != nil {
		t.Fatalf("defaults do not validate: %v", c.Validate())
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"neither standalone nor cluster", func(c *Config) { c.Standalone = false }, "--standalone"},
		{"standalone and cluster", func(c *Config) { c.MetaAddrs = []string{"127.0.0.1:7001"} }, "--meta"},
		{"cluster without gossip", func(c *Config) { c.Standalone, c.MetaAddrs = false, []string{"127.0.0.1:7001"} }, "--gossip-bind"},
		{"cluster with an assignment file", func(c *Config) {
			c.Standalone, c.MetaAddrs, c.Gossip.BindAddr, c.AssignmentFile = false, []string{"127.0.0.1:7001"}, "127.0.0.1:7401", "a.json"
		}, "--assignment-file"},
		{"cluster with no lag limit", func(c *Config) {
			c.Standalone, c.MetaAddrs, c.Gossip.BindAddr, c.ReplicaLagMax = false, []string{"127.0.0.1:7001"}, "127.0.0.1:7401", 0
		}, "--replica-lag-time-max"},
		{"negative node id", func(c *Config) { c.NodeID = -1 }, "--node-id"},
		{"bad listen", func(c *Config) { c.Listen = "localhost" }, "--listen"},
		{"bad listen port", func(c *Config) { c.Listen = "127.0.0.1:99999" }, "--listen"},
		{"wildcard advertise", func(c *Config) { c.AdvertiseAddr = "0.0.0.0:9092" }, "--advertise-addr"},
		{"advertise without port", func(c *Config) { c.AdvertiseAddr = "host" }, "--advertise-addr"},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "--data-dir"},
		{"zero partitions", func(c *Config) { c.DefaultPartitions = 0 }, "--default-partitions"},
		{"bad log default", func(c *Config) { c.LogDefaults = map[string]string{"segment.bytes": "x"} }, "segment.bytes"},
		{"unknown log default", func(c *Config) { c.LogDefaults = map[string]string{"nope": "1"} }, "nope"},
		{"tiny request limit", func(c *Config) { c.MaxRequestBytes = 10 }, "--max-request-bytes"},
		{"zero read timeout", func(c *Config) { c.ReadTimeout = 0 }, "--read-timeout"},
		{"negative fetch wait", func(c *Config) { c.MaxFetchWait = -time.Second }, "--max-fetch-wait"},
		{"tiny fetch bytes", func(c *Config) { c.MaxFetchBytes = 10 }, "--max-fetch-bytes"},
		{"no conns", func(c *Config) { c.MaxConns = 0 }, "--max-conns"},
		{"few files", func(c *Config) { c.MaxOpenFiles = 1 }, "--max-open-files"},
	}
	for _, tc := range tests {
		c := valid()
		tc.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", tc.name, err, tc.want)
		}
	}
	// Every problem is reported at once.
	c := valid()
	c.NodeID, c.DataDir = -1, ""
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--node-id") || !strings.Contains(err.Error(), "--data-dir") {
		t.Errorf("two problems: %v", err)
	}
}
