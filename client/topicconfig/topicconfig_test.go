package topicconfig

import (
	"errors"
	"math"
	"strings"
	"testing"

	"strand.dev/client/wire"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name, value string
		want        Value
		bad         string // substring of the error, "" when valid
	}{
		{"retention.ms", "3600000", Value{Int: 3600000}, ""},
		{"retention.ms", "-1", Value{Int: -1}, ""},
		{"retention.ms", " 5 ", Value{Int: 5}, ""},
		{"retention.ms", "-2", Value{}, "retention.ms=\"-2\": must be an integer from -1"},
		{"retention.ms", "soon", Value{}, "retention.ms"},
		{"retention.bytes", "-1", Value{Int: -1}, ""},
		{"segment.bytes", "14", Value{Int: 14}, ""},
		{"segment.bytes", "13", Value{}, "segment.bytes"},
		{"segment.bytes", "2147483647", Value{Int: math.MaxInt32}, ""},
		{"segment.bytes", "2147483648", Value{}, "segment.bytes"},
		{"segment.ms", "0", Value{}, "segment.ms"},
		{"index.interval.bytes", "0", Value{Int: 0}, ""},
		{"max.message.bytes", "4294967296", Value{}, "max.message.bytes"},
		{"flush.messages", "0", Value{}, "flush.messages"},
		{"flush.ms", "0", Value{Int: 0}, ""},
		{"min.insync.replicas", "0", Value{}, "min.insync.replicas"},
		{"min.insync.replicas", "64", Value{Int: 64}, ""},
		{"min.insync.replicas", "65", Value{}, "min.insync.replicas"},
		{"max.compaction.lag.ms", "0", Value{}, "max.compaction.lag.ms"},
		{"min.compaction.lag.ms", "0", Value{Int: 0}, ""},
		{"delete.retention.ms", "-1", Value{}, "delete.retention.ms"},
		{"unclean.leader.election.enable", "TRUE", Value{Bool: true}, ""},
		{"unclean.leader.election.enable", "false", Value{Bool: false}, ""},
		{"preallocate", "yes", Value{}, "preallocate=\"yes\": must be true or false"},
		{"min.cleanable.dirty.ratio", "0.1", Value{Float: 0.1}, ""},
		{"min.cleanable.dirty.ratio", "1", Value{Float: 1}, ""},
		{"min.cleanable.dirty.ratio", "1.5", Value{}, "min.cleanable.dirty.ratio"},
		{"min.cleanable.dirty.ratio", "NaN", Value{}, "min.cleanable.dirty.ratio"},
		{"min.cleanable.dirty.ratio", "-0.1", Value{}, "min.cleanable.dirty.ratio"},
		{"message.timestamp.type", "LogAppendTime", Value{Str: LogAppendTime}, ""},
		{"message.timestamp.type", "logappendtime", Value{}, "must be CreateTime or LogAppendTime"},
		{"cleanup.policy", "delete", Value{Str: PolicyDelete}, ""},
		{"cleanup.policy", "compact", Value{Str: PolicyCompact}, ""},
		{"cleanup.policy", "delete, compact", Value{Str: PolicyCompactDelete}, ""},
		{"cleanup.policy", "compact,delete", Value{Str: PolicyCompactDelete}, ""},
		{"cleanup.policy", "compact,compact", Value{}, "cleanup.policy"},
		{"cleanup.policy", "", Value{}, "cleanup.policy"},
		{"cleanup.policy", "shred", Value{}, "must be delete, compact or compact,delete"},
		{"compression.type", "producer", Value{Str: CompressionProducer}, ""},
		{"compression.type", "gzip", Value{}, "compression.type=\"gzip\": must be producer: batches keep the producer's compression"},
		{"compression.type", "uncompressed", Value{}, "compression.type"},
		{"segment.index.bytes", "10485760", Value{}, "topic config segment.index.bytes is not supported"},
		{"local.retention.ms", "-2", Value{}, "topic config local.retention.ms is not supported: there is no tiered storage"},
		{"local.retention.bytes", "-2", Value{}, "local.retention.bytes is not supported"},
		{"message.timestamp.after.max.ms", "3600000", Value{}, "message.timestamp.after.max.ms is not supported"},
		{"message.timestamp.before.max.ms", "3600000", Value{}, "message.timestamp.before.max.ms is not supported"},
		{"message.timestamp.difference.max.ms", "3600000", Value{}, "message.timestamp.difference.max.ms is not supported"},
		{"leader.replication.throttled.replicas", "*", Value{}, "leader.replication.throttled.replicas is not supported"},
		{"follower.replication.throttled.replicas", "0:1", Value{}, "follower.replication.throttled.replicas is not supported"},
		{"retention.weeks", "1", Value{}, "unknown topic config \"retention.weeks\""},
	}
	for _, c := range cases {
		got, err := Parse(c.name, c.value)
		if c.bad != "" {
			var we *wire.Error
			if !errors.As(err, &we) || we.Code != wire.CodeInvalidConfig || !strings.Contains(we.Message, c.bad) {
				t.Errorf("%s=%q: got %v, want INVALID_CONFIG containing %q", c.name, c.value, err, c.bad)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s=%q: got %+v, %v; want %+v", c.name, c.value, got, err, c.want)
		}
	}
}

func TestValidateNamesTheFirstBadConfig(t *testing.T) {
	cases := []struct {
		cfg  map[string]string
		name string // the config the error names; "" when valid
	}{
		{nil, ""},
		{map[string]string{"retention.ms": "1000", "cleanup.policy": "compact", "compression.type": "producer"}, ""},
		{map[string]string{"retention.ms": "1000", "compression.type": "zstd"}, "compression.type"},
		{map[string]string{"segment.index.bytes": "1", "segment.bytes": "1"}, "segment.bytes"},
		{map[string]string{"retention.ms": "x", "segment.index.bytes": "1"}, "retention.ms"},
		{map[string]string{"zzz": "1", "retention.ms": "1"}, "zzz"},
		// Configs that constrain each other.
		{map[string]string{"min.compaction.lag.ms": "5000", "max.compaction.lag.ms": "1000"}, "min.compaction.lag.ms"},
		{map[string]string{"min.compaction.lag.ms": "1000", "max.compaction.lag.ms": "1000"}, ""},
		{map[string]string{"min.compaction.lag.ms": "5000"}, ""},
	}
	for _, c := range cases {
		err := Validate(c.cfg)
		if c.name == "" {
			if err != nil {
				t.Errorf("%v: %v", c.cfg, err)
			}
			continue
		}
		var we *wire.Error
		if !errors.As(err, &we) || we.Code != wire.CodeInvalidConfig || !strings.Contains(we.Message, c.name) {
			t.Errorf("%v: got %v, want INVALID_CONFIG naming %s", c.cfg, err, c.name)
		}
	}
}

func TestSplitKeepsWhatParses(t *testing.T) {
	good, bad := Split(map[string]string{
		"retention.ms": "3600000", "compression.type": "gzip", "segment.index.bytes": "1024", "cleanup.policy": "compact",
	})
	if len(good) != 2 || good["retention.ms"] != "3600000" || good["cleanup.policy"] != "compact" {
		t.Fatalf("good %v", good)
	}
	if len(bad) != 2 || bad["compression.type"] == nil || bad["segment.index.bytes"] == nil {
		t.Fatalf("bad %v", bad)
	}
	if _, bad := Split(map[string]string{"retention.ms": "1"}); bad != nil {
		t.Fatalf("bad %v for a good set", bad)
	}
}

func TestTableIsConsistent(t *testing.T) {
	specs := Specs()
	for i, s := range specs {
		if i > 0 && specs[i-1].Name >= s.Name {
			t.Fatalf("Specs not sorted at %s", s.Name)
		}
		if !Known(s.Name) {
			t.Errorf("%s: not Known", s.Name)
		}
		if !s.Supported() {
			if s.Default != "" || Check(s.Name, "") == nil {
				t.Errorf("%s: unsupported, yet has a default or a valid value", s.Name)
			}
			if _, ok := Defaults()[s.Name]; ok {
				t.Errorf("%s: unsupported, yet in Defaults", s.Name)
			}
			continue
		}
		if err := Check(s.Name, s.Default); err != nil {
			t.Errorf("%s: the default does not parse: %v", s.Name, err)
		}
		if s.Kind == Int && s.Min > s.Max {
			t.Errorf("%s: range %d..%d", s.Name, s.Min, s.Max)
		}
	}
	if err := Validate(Defaults()); err != nil {
		t.Fatal(err)
	}
}
