package metastate

import (
	"sort"
	"strconv"
	"strings"

	"strand.dev/client/wire"
)

// configKind says how a topic config's value is checked.
type configKind int

const (
	cfgAny        configKind = iota // any bounded string
	cfgNonNegInt                    // integer >= 0
	cfgPosInt                       // integer >= 1
	cfgLongOrNone                   // integer >= -1 (-1: unlimited)
	cfgBool                         // true | false
	cfgRatio                        // 0 <= float <= 1
	cfgCleanupPolicy
	cfgTimestampType
	cfgCompressionType
)

// topicConfigs are the topic config names the image accepts (Kafka's names)
// and how their values are checked. Values are kept as given.
var topicConfigs = map[string]configKind{
	"cleanup.policy":                          cfgCleanupPolicy,
	"compression.type":                        cfgCompressionType,
	"delete.retention.ms":                     cfgNonNegInt,
	"file.delete.delay.ms":                    cfgNonNegInt,
	"flush.messages":                          cfgPosInt,
	"flush.ms":                                cfgNonNegInt,
	"follower.replication.throttled.replicas": cfgAny,
	"index.interval.bytes":                    cfgNonNegInt,
	"leader.replication.throttled.replicas":   cfgAny,
	"local.retention.bytes":                   cfgLongOrNone,
	"local.retention.ms":                      cfgLongOrNone,
	"max.compaction.lag.ms":                   cfgPosInt,
	"max.message.bytes":                       cfgNonNegInt,
	"message.timestamp.after.max.ms":          cfgNonNegInt,
	"message.timestamp.before.max.ms":         cfgNonNegInt,
	"message.timestamp.difference.max.ms":     cfgNonNegInt,
	"message.timestamp.type":                  cfgTimestampType,
	"min.cleanable.dirty.ratio":               cfgRatio,
	"min.compaction.lag.ms":                   cfgNonNegInt,
	"min.insync.replicas":                     cfgPosInt,
	"preallocate":                             cfgBool,
	"retention.bytes":                         cfgLongOrNone,
	"retention.ms":                            cfgLongOrNone,
	"segment.bytes":                           cfgPosInt,
	"segment.index.bytes":                     cfgPosInt,
	"segment.jitter.ms":                       cfgNonNegInt,
	"segment.ms":                              cfgPosInt,
	"unclean.leader.election.enable":          cfgBool,
}

// KnownTopicConfig reports whether name is a topic config the image accepts
// (one of Kafka's topic config names).
func KnownTopicConfig(name string) bool { _, ok := topicConfigs[name]; return ok }

// ValidateTopicConfigs applies the checks create_topic and
// alter_topic_configs apply to configs, so a controller can refuse a bad
// request before proposing it. The error is an INVALID_CONFIG *wire.Error.
func ValidateTopicConfigs(cfg map[string]string) error { return validateConfigs(cfg) }

// validateConfigs checks a set of topic configs: known names, bounded count
// and sizes, and values of the right shape. The error is INVALID_CONFIG.
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
		if err := checkConfigValue(k, cfg[k]); err != nil {
			return err
		}
	}
	return nil
}

func checkConfigName(k string) error {
	if _, ok := topicConfigs[k]; !ok {
		return wire.Errorf(wire.CodeInvalidConfig, "unknown topic config %q", k)
	}
	return nil
}

func checkConfigValue(k, v string) error {
	if len(v) > MaxConfigValueLen {
		return wire.Errorf(wire.CodeInvalidConfig, "config %s: value is %d bytes long, the limit is %d", k, len(v), MaxConfigValueLen)
	}
	bad := func(want string) error {
		return wire.Errorf(wire.CodeInvalidConfig, "config %s=%q: the value must be %s", k, v, want)
	}
	switch topicConfigs[k] {
	case cfgNonNegInt, cfgPosInt, cfgLongOrNone:
		n, err := strconv.ParseInt(v, 10, 64)
		min := map[configKind]int64{cfgNonNegInt: 0, cfgPosInt: 1, cfgLongOrNone: -1}[topicConfigs[k]]
		if err != nil || n < min {
			return bad("an integer of at least " + strconv.FormatInt(min, 10))
		}
		if k == "min.insync.replicas" && n > MaxReplicationFactor {
			return bad("at most " + strconv.Itoa(MaxReplicationFactor))
		}
	case cfgBool:
		if v != "true" && v != "false" {
			return bad("true or false")
		}
	case cfgRatio:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= 0 && f <= 1) {
			return bad("a number from 0 to 1")
		}
	case cfgCleanupPolicy:
		switch strings.ReplaceAll(v, " ", "") {
		case "delete", "compact", "compact,delete", "delete,compact":
		default:
			return bad("delete, compact or compact,delete")
		}
	case cfgTimestampType:
		if v != "CreateTime" && v != "LogAppendTime" {
			return bad("CreateTime or LogAppendTime")
		}
	case cfgCompressionType:
		switch v {
		case "uncompressed", "gzip", "snappy", "lz4", "zstd", "producer":
		default:
			return bad("uncompressed, gzip, snappy, lz4, zstd or producer")
		}
	}
	return nil
}
