package partlog

import (
	"math"
	"sort"
	"strconv"
	"strings"

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
	CreateTime    = "CreateTime"
	LogAppendTime = "LogAppendTime"
	PolicyDelete  = "delete"
	PolicyCompact = "compact"
	// PolicyCompactDelete is the normalised form of "compact,delete".
	PolicyCompactDelete = "compact,delete"
)

// MaxSegmentBytes is the largest segment.bytes: positions in the offset
// index are 32-bit, and Kafka's limit is the same.
const MaxSegmentBytes = math.MaxInt32

// DefaultConfig returns Kafka's defaults: 1 GiB segments rolled after 7
// days, an index entry every 4 KiB, 7 days of retention without a size
// bound, 1 MiB + 12 byte batches, CreateTime, no forced flush, delete.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:           1 << 30,
		SegmentMs:              7 * 24 * 3600 * 1000,
		IndexIntervalBytes:     4096,
		RetentionMs:            7 * 24 * 3600 * 1000,
		RetentionBytes:         -1,
		MaxMessageBytes:        1048588,
		TimestampType:          CreateTime,
		FlushMessages:          math.MaxInt64,
		FlushMs:                math.MaxInt64,
		CleanupPolicy:          PolicyDelete,
		MinInsyncReplicas:      1,
		UncleanLeaderElection:  false,
		MinCleanableDirtyRatio: 0.5,
		MinCompactionLagMs:     0,
		MaxCompactionLagMs:     math.MaxInt64,
		DeleteRetentionMs:      24 * 3600 * 1000,
		SegmentJitterMs:        0,
		FileDeleteDelayMs:      60000,
		Preallocate:            false,
	}
}

// Compacted reports whether cleanup.policy includes compact.
func (c Config) Compacted() bool { return strings.Contains(c.CleanupPolicy, PolicyCompact) }

// Deletes reports whether cleanup.policy includes delete (retention applies).
func (c Config) Deletes() bool { return strings.Contains(c.CleanupPolicy, PolicyDelete) }

// LogAppendTime reports whether the log stamps batches with its own time.
func (c Config) LogAppendTime() bool { return c.TimestampType == LogAppendTime }

// ParseConfig returns base with the settings of kv applied. Keys are
// Kafka's names (see Map); an unknown key or a bad value is a *wire.Error
// INVALID_CONFIG naming the key. compression.type is accepted only as
// "producer": the log keeps batches as the producer compressed them.
func ParseConfig(base Config, kv map[string]string) (Config, error) {
	c := base
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic error for several bad keys
	for _, k := range keys {
		if err := c.set(k, strings.TrimSpace(kv[k])); err != nil {
			return base, err
		}
	}
	return c, nil
}

// set applies one key.
func (c *Config) set(k, v string) error {
	var err error
	switch k {
	case KeySegmentBytes:
		c.SegmentBytes, err = parseInt(k, v, 14, MaxSegmentBytes)
	case KeySegmentMs:
		c.SegmentMs, err = parseInt(k, v, 1, math.MaxInt64)
	case KeyIndexIntervalBytes:
		var n int64
		n, err = parseInt(k, v, 0, math.MaxInt32)
		c.IndexIntervalBytes = int32(n)
	case KeyRetentionMs:
		c.RetentionMs, err = parseInt(k, v, -1, math.MaxInt64)
	case KeyRetentionBytes:
		c.RetentionBytes, err = parseInt(k, v, -1, math.MaxInt64)
	case KeyMaxMessageBytes:
		var n int64
		n, err = parseInt(k, v, 0, math.MaxInt32)
		c.MaxMessageBytes = int32(n)
	case KeyTimestampType:
		if v != CreateTime && v != LogAppendTime {
			return invalid(k, v, "must be CreateTime or LogAppendTime")
		}
		c.TimestampType = v
	case KeyFlushMessages:
		c.FlushMessages, err = parseInt(k, v, 1, math.MaxInt64)
	case KeyFlushMs:
		c.FlushMs, err = parseInt(k, v, 0, math.MaxInt64)
	case KeyCleanupPolicy:
		c.CleanupPolicy, err = parsePolicy(k, v)
	case KeyMinInsyncReplicas:
		var n int64
		n, err = parseInt(k, v, 1, math.MaxInt32)
		c.MinInsyncReplicas = int(n)
	case KeyUncleanLeaderElection:
		c.UncleanLeaderElection, err = parseBool(k, v)
	case KeyMinCleanableDirtyRatio:
		f, perr := strconv.ParseFloat(v, 64)
		if perr != nil || f < 0 || f > 1 || math.IsNaN(f) {
			return invalid(k, v, "must be a number from 0 to 1")
		}
		c.MinCleanableDirtyRatio = f
	case KeyMinCompactionLagMs:
		c.MinCompactionLagMs, err = parseInt(k, v, 0, math.MaxInt64)
	case KeyMaxCompactionLagMs:
		c.MaxCompactionLagMs, err = parseInt(k, v, 1, math.MaxInt64)
	case KeyDeleteRetentionMs:
		c.DeleteRetentionMs, err = parseInt(k, v, 0, math.MaxInt64)
	case KeySegmentJitterMs:
		c.SegmentJitterMs, err = parseInt(k, v, 0, math.MaxInt64)
	case KeyFileDeleteDelayMs:
		c.FileDeleteDelayMs, err = parseInt(k, v, 0, math.MaxInt64)
	case KeyPreallocate:
		c.Preallocate, err = parseBool(k, v)
	case KeyCompressionType:
		if v != "producer" {
			return invalid(k, v, "only \"producer\" is supported: batches keep the producer's compression")
		}
	default:
		return wire.Errorf(wire.CodeInvalidConfig, "unknown topic config %q", k)
	}
	return err
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

func parseInt(k, v string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, invalid(k, v, "must be an integer from "+strconv.FormatInt(lo, 10)+" to "+strconv.FormatInt(hi, 10))
	}
	return n, nil
}

func parseBool(k, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, invalid(k, v, "must be true or false")
}

func parsePolicy(k, v string) (string, error) {
	var del, compact bool
	for _, p := range strings.Split(v, ",") {
		switch strings.TrimSpace(p) {
		case PolicyDelete:
			del = true
		case PolicyCompact:
			compact = true
		default:
			return "", invalid(k, v, "must be delete, compact or compact,delete")
		}
	}
	switch {
	case del && compact:
		return PolicyCompactDelete, nil
	case compact:
		return PolicyCompact, nil
	}
	return PolicyDelete, nil
}

func invalid(k, v, why string) error {
	return wire.Errorf(wire.CodeInvalidConfig, "%s=%q: %s", k, v, why)
}
