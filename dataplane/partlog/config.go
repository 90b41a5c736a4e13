package partlog

import (
	"sort"
	"strconv"
	"strings"
	"sync"

	"strand.dev/client/topicconfig"
	"strand.dev/client/wire"
)

// Config is a partition log's configuration: the topic configs that concern
// the log, under Kafka's names (see Map for the name of each field).
type Config struct {
	SegmentBytes       int64  // segment.bytes: roll the active segment at this size
	SegmentMs          int64  // segment.ms: roll the active segment when its first record is this old
	IndexIntervalBytes int32  // index.interval.bytes: bytes between sparse index entries
	RetentionMs        int64  // retention.ms: delete segments whose newest record is older; -1 unlimited
	RetentionBytes     int64  // retention.bytes: delete the oldest segments beyond this size; -1 unlimited
	MaxMessageBytes    int32  // max.message.bytes: the largest batch a producer may append
	TimestampType      string // message.timestamp.type: "CreateTime" or "LogAppendTime"
	FlushMessages      int64  // flush.messages: fsync after this many records (MaxInt64: leave it to the OS)
	FlushMs            int64  // flush.ms: fsync when unflushed data is this old (MaxInt64: never)
	CleanupPolicy      string // cleanup.policy: "delete", "compact" or "compact,delete"
	MinInsyncReplicas  int    // min.insync.replicas (kept for the replica layer)
	// UncleanLeaderElection is unclean.leader.election.enable (kept for the
	// controller).
	UncleanLeaderElection bool

	// Compaction knobs, parsed and kept for the log cleaner.
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio
	MinCompactionLagMs     int64   // min.compaction.lag.ms
	MaxCompactionLagMs     int64   // max.compaction.lag.ms
	DeleteRetentionMs      int64   // delete.retention.ms

	// Kept for compatibility with Kafka tooling; see Map.
	SegmentJitterMs   int64 // segment.jitter.ms (accepted, not applied: rolls are not jittered)
	FileDeleteDelayMs int64 // file.delete.delay.ms (accepted; readers hold their own descriptors, so deletion is immediate)
	Preallocate       bool  // preallocate (accepted; segments are not preallocated)
}

// Kafka's names for the configs.
const (
	KeySegmentBytes           = "segment.bytes"
	KeySegmentMs              = "segment.ms"
	KeyIndexIntervalBytes     = "index.interval.bytes"
	KeyRetentionMs            = "retention.ms"
	KeyRetentionBytes         = "retention.bytes"
	KeyMaxMessageBytes        = "max.message.bytes"
	KeyTimestampType          = "message.timestamp.type"
	KeyFlushMessages          = "flush.messages"
	KeyFlushMs                = "flush.ms"
	KeyCleanupPolicy          = "cleanup.policy"
	KeyMinInsyncReplicas      = "min.insync.replicas"
	KeyUncleanLeaderElection  = "unclean.leader.election.enable"
	KeyMinCleanableDirtyRatio = "min.cleanable.dirty.ratio"
	KeyMinCompactionLagMs     = "min.compaction.lag.ms"
	KeyMaxCompactionLagMs     = "max.compaction.lag.ms"
	KeyDeleteRetentionMs      = "delete.retention.ms"
	KeySegmentJitterMs        = "segment.jitter.ms"
	KeyFileDeleteDelayMs      = "file.delete.delay.ms"
	KeyPreallocate            = "preallocate"
	KeyCompressionType        = "compression.type"
)

// Values of message.timestamp.type and cleanup.policy.
const (
	CreateTime    = topicconfig.CreateTime
	LogAppendTime = topicconfig.LogAppendTime
	PolicyDelete  = topicconfig.PolicyDelete
	PolicyCompact = topicconfig.PolicyCompact
	// PolicyCompactDelete is the normalised form of "compact,delete".
	PolicyCompactDelete = topicconfig.PolicyCompactDelete
)

// MaxSegmentBytes is the largest segment.bytes: positions in the offset
// index are 32-bit, and Kafka's limit is the same.
const MaxSegmentBytes = topicconfig.MaxSegmentBytes

// defaultConfig is the table's defaults, parsed once.
var defaultConfig = sync.OnceValue(func() Config {
	c, err := ParseConfig(Config{}, topicconfig.Defaults())
	if err != nil {
		panic("partlog: the topic config table's defaults do not parse: " + err.Error())
	}
	return c
})

// DefaultConfig returns Kafka's defaults, as the topic config table
// (topicconfig) has them: 1 GiB segments rolled after 7 days, an index
// entry every 4 KiB, 7 days of retention without a size bound, 1 MiB + 12
// byte batches, CreateTime, no forced flush, delete.
func DefaultConfig() Config { return defaultConfig() }

// Compacted reports whether cleanup.policy includes compact.
func (c Config) Compacted() bool { return strings.Contains(c.CleanupPolicy, PolicyCompact) }

// Deletes reports whether cleanup.policy includes delete (retention applies).
func (c Config) Deletes() bool { return strings.Contains(c.CleanupPolicy, PolicyDelete) }

// LogAppendTime reports whether the log stamps batches with its own time.
func (c Config) LogAppendTime() bool { return c.TimestampType == LogAppendTime }

// ParseConfig returns base with the settings of kv applied. Keys are
// Kafka's names, checked by the topic config table (topicconfig), the one
// strand-meta checks them with: an unknown or unsupported key or a bad value
// is a *wire.Error INVALID_CONFIG naming the key, and base is returned.
// compression.type is accepted only as "producer": the log keeps batches as
// the producer compressed them.
func ParseConfig(base Config, kv map[string]string) (Config, error) {
	c := base
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic error for several bad keys
	for _, k := range keys {
		v, err := topicconfig.Parse(k, kv[k])
		if err != nil {
			return base, err
		}
		if err := c.set(k, v); err != nil {
			return base, err
		}
	}
	return c, nil
}

// set applies one parsed key.
func (c *Config) set(k string, v topicconfig.Value) error {
	switch k {
	case KeySegmentBytes:
		c.SegmentBytes = v.Int
	case KeySegmentMs:
		c.SegmentMs = v.Int
	case KeyIndexIntervalBytes:
		c.IndexIntervalBytes = int32(v.Int)
	case KeyRetentionMs:
		c.RetentionMs = v.Int
	case KeyRetentionBytes:
		c.RetentionBytes = v.Int
	case KeyMaxMessageBytes:
		c.MaxMessageBytes = int32(v.Int)
	case KeyTimestampType:
		c.TimestampType = v.Str
	case KeyFlushMessages:
		c.FlushMessages = v.Int
	case KeyFlushMs:
		c.FlushMs = v.Int
	case KeyCleanupPolicy:
		c.CleanupPolicy = v.Str
	case KeyMinInsyncReplicas:
		c.MinInsyncReplicas = int(v.Int)
	case KeyUncleanLeaderElection:
		c.UncleanLeaderElection = v.Bool
	case KeyMinCleanableDirtyRatio:
		c.MinCleanableDirtyRatio = v.Float
	case KeyMinCompactionLagMs:
		c.MinCompactionLagMs = v.Int
	case KeyMaxCompactionLagMs:
		c.MaxCompactionLagMs = v.Int
	case KeyDeleteRetentionMs:
		c.DeleteRetentionMs = v.Int
	case KeySegmentJitterMs:
		c.SegmentJitterMs = v.Int
	case KeyFileDeleteDelayMs:
		c.FileDeleteDelayMs = v.Int
	case KeyPreallocate:
		c.Preallocate = v.Bool
	case KeyCompressionType:
		// "producer", the only value the table accepts: nothing to keep.
	default:
		// The table accepts a key the log does not know: the two disagree.
		return wire.Errorf(wire.CodeInvalidConfig, "topic config %q is not applied by the partition log", k)
	}
	return nil
}

// Map renders the config under Kafka's names, every key set; ParseConfig of
// the result gives the config back.
func (c Config) Map() map[string]string {
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	return map[string]string{
		KeySegmentBytes:           i(c.SegmentBytes),
		KeySegmentMs:              i(c.SegmentMs),
		KeyIndexIntervalBytes:     i(int64(c.IndexIntervalBytes)),
		KeyRetentionMs:            i(c.RetentionMs),
		KeyRetentionBytes:         i(c.RetentionBytes),
		KeyMaxMessageBytes:        i(int64(c.MaxMessageBytes)),
		KeyTimestampType:          c.TimestampType,
		KeyFlushMessages:          i(c.FlushMessages),
		KeyFlushMs:                i(c.FlushMs),
		KeyCleanupPolicy:          c.CleanupPolicy,
		KeyMinInsyncReplicas:      i(int64(c.MinInsyncReplicas)),
		KeyUncleanLeaderElection:  strconv.FormatBool(c.UncleanLeaderElection),
		KeyMinCleanableDirtyRatio: strconv.FormatFloat(c.MinCleanableDirtyRatio, 'g', -1, 64),
		KeyMinCompactionLagMs:     i(c.MinCompactionLagMs),
		KeyMaxCompactionLagMs:     i(c.MaxCompactionLagMs),
		KeyDeleteRetentionMs:      i(c.DeleteRetentionMs),
		KeySegmentJitterMs:        i(c.SegmentJitterMs),
		KeyFileDeleteDelayMs:      i(c.FileDeleteDelayMs),
		KeyPreallocate:            strconv.FormatBool(c.Preallocate),
		KeyCompressionType:        "producer",
	}
}

// Validate checks a config built by hand (ParseConfig's results are valid).
func (c Config) Validate() error {
	_, err := ParseConfig(DefaultConfig(), c.Map())
	return err
}
