package partlog

import (
	"errors"
	"math"
	"strings"
	"testing"

	"strand.dev/client/topicconfig"
	"strand.dev/client/wire"
)

// TestConfigCoversTheTable: the log applies every config the shared table
// accepts, and Map renders exactly those.
func TestConfigCoversTheTable(t *testing.T) {
	m := DefaultConfig().Map()
	for _, s := range topicconfig.Specs() {
		_, inMap := m[s.Name]
		if inMap != s.Supported() {
			t.Errorf("%s: in Map %v, supported by the table %v", s.Name, inMap, s.Supported())
		}
		if s.Supported() && m[s.Name] != s.Default {
			t.Errorf("%s: default %q, the table says %q", s.Name, m[s.Name], s.Default)
		}
	}
	if len(m) != len(topicconfig.Defaults()) {
		t.Errorf("Map has %d keys, the table supports %d", len(m), len(topicconfig.Defaults()))
	}
}

func TestDefaultConfigIsKafkas(t *testing.T) {
	c := DefaultConfig()
	want := map[string]string{
		"segment.bytes": "1073741824", "segment.ms": "604800000", "index.interval.bytes": "4096",
		"retention.ms": "604800000", "retention.bytes": "-1", "max.message.bytes": "1048588",
		"message.timestamp.type": "CreateTime", "flush.messages": "9223372036854775807",
		"flush.ms": "9223372036854775807", "cleanup.policy": "delete", "min.insync.replicas": "1",
		"unclean.leader.election.enable": "false", "min.cleanable.dirty.ratio": "0.5",
		"min.compaction.lag.ms": "0", "max.compaction.lag.ms": "9223372036854775807",
		"delete.retention.ms": "86400000",
	}
	m := c.Map()
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
	back, err := ParseConfig(Config{}, m)
	if err != nil || back != c {
		t.Fatalf("Map does not round-trip: %v\n%+v\n%+v", err, back, c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestParseConfig(t *testing.T) {
	cases := []struct {
		kv    map[string]string
		check func(Config) bool
		bad   string // substring of the error, "" when valid
	}{
		{map[string]string{"segment.bytes": "1048576"}, func(c Config) bool { return c.SegmentBytes == 1<<20 }, ""},
		{map[string]string{"retention.ms": "-1", "retention.bytes": "1000"}, func(c Config) bool { return c.RetentionMs == -1 && c.RetentionBytes == 1000 }, ""},
		{map[string]string{"cleanup.policy": "delete,compact"}, func(c Config) bool { return c.CleanupPolicy == "compact,delete" && c.Compacted() && c.Deletes() }, ""},
		{map[string]string{"cleanup.policy": "compact"}, func(c Config) bool { return c.Compacted() && !c.Deletes() }, ""},
		{map[string]string{"message.timestamp.type": "LogAppendTime"}, func(c Config) bool { return c.LogAppendTime() }, ""},
		{map[string]string{"flush.messages": "1", "flush.ms": "1000"}, func(c Config) bool { return c.FlushMessages == 1 && c.FlushMs == 1000 }, ""},
		{map[string]string{"unclean.leader.election.enable": "TRUE"}, func(c Config) bool { return c.UncleanLeaderElection }, ""},
		{map[string]string{"min.cleanable.dirty.ratio": "0.1", "delete.retention.ms": "5"}, func(c Config) bool { return c.MinCleanableDirtyRatio == 0.1 && c.DeleteRetentionMs == 5 }, ""},
		{map[string]string{"compression.type": "producer"}, func(c Config) bool { return true }, ""},
		{map[string]string{"segment.bytes": "10"}, nil, "segment.bytes"},
		{map[string]string{"segment.bytes": "4294967296"}, nil, "segment.bytes"},
		{map[string]string{"retention.ms": "-2"}, nil, "retention.ms"},
		{map[string]string{"retention.ms": "soon"}, nil, "retention.ms"},
		{map[string]string{"message.timestamp.type": "Now"}, nil, "CreateTime or LogAppendTime"},
		{map[string]string{"cleanup.policy": "keep"}, nil, "cleanup.policy"},
		{map[string]string{"flush.messages": "0"}, nil, "flush.messages"},
		{map[string]string{"min.cleanable.dirty.ratio": "1.5"}, nil, "min.cleanable.dirty.ratio"},
		{map[string]string{"min.insync.replicas": "0"}, nil, "min.insync.replicas"},
		{map[string]string{"compression.type": "zstd"}, nil, "producer"},
		{map[string]string{"segmnet.bytes": "1"}, nil, "unknown topic config"},
	}
	for _, c := range cases {
		got, err := ParseConfig(DefaultConfig(), c.kv)
		if c.bad != "" {
			var we *wire.Error
			if !errors.As(err, &we) || we.Code != wire.CodeInvalidConfig || !strings.Contains(we.Message, c.bad) {
				t.Errorf("%v: got %v, want INVALID_CONFIG about %q", c.kv, err, c.bad)
			}
			if got != DefaultConfig() {
				t.Errorf("%v: base changed on error", c.kv)
			}
			continue
		}
		if err != nil || !c.check(got) {
			t.Errorf("%v: %v %+v", c.kv, err, got)
		}
	}
	if DefaultConfig().FlushMessages != math.MaxInt64 {
		t.Fatal("flush.messages default")
	}
}
