package metastate

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"strand.dev/client/topicconfig"
	"strand.dev/client/wire"
)

// propose does what strand-meta does with a command it is handed: Validate,
// and only a valid command reaches the log and Apply.
func (f *fixture) propose(cmd *wire.Command) (wire.ProposeResponse, error) {
	if err := f.m.Validate(cmd); err != nil {
		return wire.ProposeResponse{}, err
	}
	return f.apply(cmd)
}

// TestProposalRefusesConfigsTheDataNodesCannotApply: a create_topic or an
// alter_topic_configs that sets a config the data nodes do not apply, or a
// bad value, is INVALID_CONFIG naming the config, and the image is
// unchanged.
func TestProposalRefusesConfigsTheDataNodesCannotApply(t *testing.T) {
	cases := []struct {
		cfg  map[string]string
		name string // the config the message must name
	}{
		{map[string]string{"compression.type": "gzip", "retention.ms": "1000"}, "compression.type"},
		{map[string]string{"compression.type": "uncompressed"}, "compression.type"},
		{map[string]string{"segment.index.bytes": "10485760"}, "segment.index.bytes"},
		{map[string]string{"local.retention.ms": "1000"}, "local.retention.ms"},
		{map[string]string{"local.retention.bytes": "-2"}, "local.retention.bytes"},
		{map[string]string{"message.timestamp.after.max.ms": "3600000"}, "message.timestamp.after.max.ms"},
		{map[string]string{"message.timestamp.before.max.ms": "3600000"}, "message.timestamp.before.max.ms"},
		{map[string]string{"message.timestamp.difference.max.ms": "3600000"}, "message.timestamp.difference.max.ms"},
		{map[string]string{"leader.replication.throttled.replicas": "*"}, "leader.replication.throttled.replicas"},
		{map[string]string{"follower.replication.throttled.replicas": "*"}, "follower.replication.throttled.replicas"},
		{map[string]string{"segment.bytes": "0"}, "segment.bytes"},
		{map[string]string{"segment.bytes": "13"}, "segment.bytes"},
		{map[string]string{"max.message.bytes": "4294967296"}, "max.message.bytes"},
		{map[string]string{"cleanup.policy": "shred"}, "cleanup.policy"},
		{map[string]string{"message.timestamp.type": "Now"}, "message.timestamp.type"},
		{map[string]string{"min.insync.replicas": "65"}, "min.insync.replicas"},
		{map[string]string{"retention.weeks": "1"}, "retention.weeks"},
	}
	for _, c := range cases {
		for _, cmd := range []*wire.Command{
			withConfigs(createTopic(1, "u", []int32{1}), c.cfg),
			alterConfigs(1, "t", c.cfg),
		} {
			f := newFixture(t)
			before := f.m.Image()
			snap := encodeSnapshot(before, 0)
			_, err := f.propose(cmd)
			var we *wire.Error
			if !errors.As(err, &we) || we.Code != wire.CodeInvalidConfig || !strings.Contains(we.Message, c.name) {
				t.Errorf("%s %v: got %v, want INVALID_CONFIG naming %s", cmd.Type, c.cfg, err, c.name)
				continue
			}
			if err := ValidateTopicConfigs(c.cfg); codeOf(err) != wire.CodeInvalidConfig {
				t.Errorf("%v: ValidateTopicConfigs says %v", c.cfg, err)
			}
			after := f.m.Image()
			if after != before || !bytes.Equal(encodeSnapshot(after, 0), snap) || after.Topics["u"] != nil || len(after.Topics["t"].Configs) != 0 {
				t.Errorf("%s %v: the image changed (version %d -> %d)", cmd.Type, c.cfg, before.Version, after.Version)
			}
		}
	}
}

// TestProposalAcceptsWhatTheDataNodesApply: every supported config at its
// default, and a few values around the edges, are accepted and stored as
// given.
func TestProposalAcceptsWhatTheDataNodesApply(t *testing.T) {
	f := newFixture(t)
	all := topicconfig.Defaults()
	if len(all) > MaxConfigs {
		t.Fatalf("%d supported configs, more than a topic may carry (%d)", len(all), MaxConfigs)
	}
	if _, err := f.propose(withConfigs(createTopic(1, "all", []int32{1}), all)); err != nil {
		t.Fatal(err)
	}
	if got := f.m.Image().Topics["all"].Configs; len(got) != len(all) {
		t.Fatalf("stored %d configs, want %d", len(got), len(all))
	}
	edges := map[string]string{
		"cleanup.policy": "delete, compact", "unclean.leader.election.enable": "TRUE", "segment.bytes": "14",
		"min.insync.replicas": "64", "compression.type": "producer", "retention.ms": "-1",
	}
	if _, err := f.propose(alterConfigs(1, "t", edges)); err != nil {
		t.Fatal(err)
	}
	if got := f.m.Image().Topics["t"].Configs["cleanup.policy"]; got != "delete, compact" {
		t.Fatalf("cleanup.policy stored as %q", got)
	}
	if topicconfig.MaxMinInsyncReplicas != MaxReplicationFactor {
		t.Fatalf("min.insync.replicas bound %d, replication factor bound %d", topicconfig.MaxMinInsyncReplicas, MaxReplicationFactor)
	}
}

// TestApplyReplaysConfigsAnOlderVersionAccepted: a create_topic already in
// the raft log with configs strand-meta now refuses applies as it did (the
// topic exists with them), an unknown name is still refused, and an
// alteration may delete a config that is no longer supported.
func TestApplyReplaysConfigsAnOlderVersionAccepted(t *testing.T) {
	f := newFixture(t)
	old := map[string]string{"compression.type": "gzip", "segment.index.bytes": "4096", "retention.ms": "3600000"}
	f.mustApply(withConfigs(createTopic(1, "old", []int32{1}), old))
	if got := f.m.Image().Topics["old"].Configs; len(got) != 3 || got["compression.type"] != "gzip" {
		t.Fatalf("configs %v", got)
	}

	before := f.m.Image()
	if _, err := f.apply(withConfigs(createTopic(1, "u", []int32{1}), map[string]string{"retention.weeks": "1"})); codeOf(err) != wire.CodeInvalidConfig {
		t.Fatalf("unknown name applied: %v", err)
	}
	if f.m.Image() != before {
		t.Fatal("a refused command changed the image")
	}

	if _, err := f.propose(alterConfigs(1, "old", nil, "compression.type", "segment.index.bytes")); err != nil {
		t.Fatalf("deleting unsupported configs: %v", err)
	}
	if got := f.m.Image().Topics["old"].Configs; len(got) != 1 || got["retention.ms"] != "3600000" {
		t.Fatalf("configs after the deletion %v", got)
	}
	if _, err := f.propose(alterConfigs(1, "old", nil, "retention.weeks")); codeOf(err) != wire.CodeInvalidConfig {
		t.Fatalf("deleting an unknown name: %v", err)
	}
}
