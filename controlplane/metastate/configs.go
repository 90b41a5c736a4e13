package metastate

import (
	"sort"

	"strand.dev/client/topicconfig"
	"strand.dev/client/wire"
)

// Topic configs are checked in two ways.
//
// Before a command is proposed (Validate, and the controller's
// ValidateTopicConfigs) every config it sets must be one the data nodes
// apply, with a valid value: the shared table, topicconfig, decides, the
// same table the data nodes parse configs with.
//
// When a command is applied, only the names (known to the table, supported
// or not) and the sizes are checked. Which values are valid has changed
// between versions (an older strand-meta accepted compression.type=gzip and
// segment.index.bytes, for instance), and an entry already in the raft log
// must apply the same way in every version, or two members replaying the
// same log would hold different images. The table never forgets a name, so
// this check only ever grows more permissive.

// KnownTopicConfig reports whether name is a topic config name strand-meta
// knows, supported or not: one that alter_topic_configs may delete.
func KnownTopicConfig(name string) bool { return topicconfig.Known(name) }

// ValidateTopicConfigs applies the checks a create_topic or an
// alter_topic_configs proposal applies to the configs it sets: bounded
// count and sizes, and every config one the data nodes apply, with a valid
// value. A controller calls it to refuse a bad request before proposing.
// The error is an INVALID_CONFIG *wire.Error naming the config.
func ValidateTopicConfigs(cfg map[string]string) error {
	if err := validateConfigs(cfg); err != nil {
		return err
	}
	return topicconfig.Validate(cfg)
}

// validateProposedConfigs is the part of Validate that Apply does not
// repeat: the values of the configs a command sets.
func validateProposedConfigs(cmd *wire.Command) error {
	switch {
	case cmd.CreateTopic != nil:
		return topicconfig.Validate(cmd.CreateTopic.Topic.Configs)
	case cmd.AlterTopicConfigs != nil:
		return topicconfig.Validate(cmd.AlterTopicConfigs.Set)
	}
	return nil
}

// validateConfigs is the check Apply makes of a set of topic configs:
// bounded count and sizes, and names the table knows. The error is
// INVALID_CONFIG.
func validateConfigs(cfg map[string]string) error {
	if len(cfg) > MaxConfigs {
		return wire.Errorf(wire.CodeInvalidConfig, "%d configs, the limit is %d", len(cfg), MaxConfigs)
	}
	// Sorted, so the same bad set always names the same config.
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := checkConfigName(k); err != nil {
			return err
		}
		if v := cfg[k]; len(v) > MaxConfigValueLen {
			return wire.Errorf(wire.CodeInvalidConfig, "config %s: value is %d bytes long, the limit is %d", k, len(v), MaxConfigValueLen)
		}
	}
	return nil
}

func checkConfigName(k string) error {
	if !topicconfig.Known(k) {
		return wire.Errorf(wire.CodeInvalidConfig, "unknown topic config %q", k)
	}
	return nil
}
