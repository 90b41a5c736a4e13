package topicconfig

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"strand.dev/client/wire"
)

// Kind says how a config's value is written.
type Kind uint8

// The kinds of value.
const (
	// Int is a decimal integer from Spec.Min to Spec.Max.
	Int Kind = iota
	// Bool is true or false, in any case.
	Bool
	// Ratio is a decimal number from 0 to 1.
	Ratio
	// Enum is one of Spec.Values, exactly.
	Enum
	// Policy is cleanup.policy: delete, compact, or both separated by a
	// comma in either order.
	Policy
)

// Spec describes one topic config under Kafka's name.
type Spec struct {
	Name string
	Kind Kind
	// Min and Max bound an Int.
	Min, Max int64
	// Values lists what an Enum may be.
	Values []string
	// Default is Kafka's default, written as the config is; a data node's
	// flags may override it for the topics it holds.
	Default string
	// Hint, when set, ends the message of a bad value.
	Hint string
	// Unsupported, when set, says why the name is refused: a Kafka topic
	// config that Strand does not apply. Such a name is still known (a
	// topic created before it was refused may carry it, and it may be
	// deleted), but no value of it is valid.
	Unsupported string
}

// Supported reports whether values of the config can be set.
func (s Spec) Supported() bool { return s.Unsupported == "" }

// Values and limits the data plane shares with the table.
const (
	CreateTime    = "CreateTime"
	LogAppendTime = "LogAppendTime"
	PolicyDelete  = "delete"
	PolicyCompact = "compact"
	// PolicyCompactDelete is the normal form of a cleanup.policy with both.
	PolicyCompactDelete = "compact,delete"
	// CompressionProducer is the one compression.type the data nodes apply:
	// batches are stored as the producer compressed them.
	CompressionProducer = "producer"
	// MaxSegmentBytes is the largest segment.bytes: positions in the offset
	// index are 32-bit, and Kafka's limit is the same.
	MaxSegmentBytes = math.MaxInt32
	// MaxMinInsyncReplicas is the largest min.insync.replicas: no partition
	// has more replicas than strand-meta's replication-factor bound (64).
	MaxMinInsyncReplicas = 64
)

const maxInt64 = math.MaxInt64

func intSpec(name string, lo, hi int64, def string) Spec {
	return Spec{Name: name, Kind: Int, Min: lo, Max: hi, Default: def}
}

func unsupported(name, why string) Spec { return Spec{Name: name, Unsupported: why} }

// table is every topic config name Strand knows. Names are never removed:
// strand-meta applies its raft log with the names known here, and an entry
// written by an older version must apply the same way forever. A config
// that stops being applied becomes Unsupported instead.
var table = func() map[string]Spec {
	specs := []Spec{
		{Name: "cleanup.policy", Kind: Policy, Default: PolicyDelete},
		{Name: "compression.type", Kind: Enum, Values: []string{CompressionProducer}, Default: CompressionProducer,
			Hint: "batches keep the producer's compression (the data nodes do not recompress); choose the codec on the producer"},
		intSpec("delete.retention.ms", 0, maxInt64, "86400000"),
		intSpec("file.delete.delay.ms", 0, maxInt64, "60000"),
		intSpec("flush.messages", 1, maxInt64, "9223372036854775807"),
		intSpec("flush.ms", 0, maxInt64, "9223372036854775807"),
		intSpec("index.interval.bytes", 0, math.MaxInt32, "4096"),
		intSpec("max.compaction.lag.ms", 1, maxInt64, "9223372036854775807"),
		intSpec("max.message.bytes", 0, math.MaxInt32, "1048588"),
		{Name: "message.timestamp.type", Kind: Enum, Values: []string{CreateTime, LogAppendTime}, Default: CreateTime},
		{Name: "min.cleanable.dirty.ratio", Kind: Ratio, Default: "0.5"},
		intSpec("min.compaction.lag.ms", 0, maxInt64, "0"),
		intSpec("min.insync.replicas", 1, MaxMinInsyncReplicas, "1"),
		{Name: "preallocate", Kind: Bool, Default: "false"},
		intSpec("retention.bytes", -1, maxInt64, "-1"),
		intSpec("retention.ms", -1, maxInt64, "604800000"),
		intSpec("segment.bytes", 14, MaxSegmentBytes, "1073741824"),
		intSpec("segment.jitter.ms", 0, maxInt64, "0"),
		intSpec("segment.ms", 1, maxInt64, "604800000"),
		{Name: "unclean.leader.election.enable", Kind: Bool, Default: "false"},

		unsupported("segment.index.bytes", "index files are not bounded by size; segments roll on segment.bytes and segment.ms"),
		unsupported("local.retention.ms", "there is no tiered storage; retention.ms applies to the whole log"),
		unsupported("local.retention.bytes", "there is no tiered storage; retention.bytes applies to the whole log"),
		unsupported("message.timestamp.difference.max.ms", "the data nodes do not check producer timestamps against their clock"),
		unsupported("message.timestamp.before.max.ms", "the data nodes do not check producer timestamps against their clock"),
		unsupported("message.timestamp.after.max.ms", "the data nodes do not check producer timestamps against their clock"),
		unsupported("leader.replication.throttled.replicas", "replication is not throttled"),
		unsupported("follower.replication.throttled.replicas", "replication is not throttled"),
	}
	m := make(map[string]Spec, len(specs))
	for _, s := range specs {
		m[s.Name] = s
	}
	return m
}()

// Lookup returns the config of that name; ok is false for a name Strand
// does not know.
func Lookup(name string) (s Spec, ok bool) {
	s, ok = table[name]
	return s, ok
}

// Known reports whether name is in the table, supported or not.
func Known(name string) bool { _, ok := table[name]; return ok }

// Specs returns every known config, sorted by name. The slice is the
// caller's.
func Specs() []Spec {
	out := make([]Spec, 0, len(table))
	for _, s := range table {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Defaults returns Kafka's default of every supported config.
func Defaults() map[string]string {
	out := make(map[string]string, len(table))
	for _, s := range table {
		if s.Supported() {
			out[s.Name] = s.Default
		}
	}
	return out
}

// Value is a parsed config value; the field of its Kind is set.
type Value struct {
	Int   int64   // Int
	Bool  bool    // Bool
	Float float64 // Ratio
	Str   string  // Enum and Policy, in normal form
}

// Parse checks one config and returns its value. Surrounding white space
// is ignored. An unknown name, an unsupported one, or a value out of shape
// or range is a *wire.Error INVALID_CONFIG naming the config.
func Parse(name, value string) (Value, error) {
	s, ok := table[name]
	if !ok {
		return Value{}, wire.Errorf(wire.CodeInvalidConfig, "unknown topic config %q", name)
	}
	if !s.Supported() {
		return Value{}, wire.Errorf(wire.CodeInvalidConfig, "topic config %s is not supported: %s", name, s.Unsupported)
	}
	return s.parse(strings.TrimSpace(value), value)
}

// Check is Parse without the value.
func Check(name, value string) error {
	_, err := Parse(name, value)
	return err
}

// Validate checks every config of a topic (or of an alteration) and returns
// the error of the first bad one in name order, so the same bad set always
// names the same config.
func Validate(cfg map[string]string) error {
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := Check(k, cfg[k]); err != nil {
			return err
		}
	}
	return checkCombinations(cfg)
}

// checkCombinations checks the configs that constrain each other, when a
// set names both: a record must become cleanable (min.compaction.lag.ms)
// no later than it must be cleaned (max.compaction.lag.ms), as Kafka
// requires. Callers have checked each value.
func checkCombinations(cfg map[string]string) error {
	lo, okLo := cfg["min.compaction.lag.ms"]
	hi, okHi := cfg["max.compaction.lag.ms"]
	if !okLo || !okHi {
		return nil
	}
	l, _ := Parse("min.compaction.lag.ms", lo)
	h, _ := Parse("max.compaction.lag.ms", hi)
	if l.Int > h.Int {
		return wire.Errorf(wire.CodeInvalidConfig, "min.compaction.lag.ms %d is greater than max.compaction.lag.ms %d", l.Int, h.Int)
	}
	return nil
}

// Split divides configs into those that parse and the errors of those that
// do not, by name. A data node uses it on a topic whose stored configs were
// accepted by an older strand-meta: it applies what it can.
func Split(cfg map[string]string) (good map[string]string, bad map[string]error) {
	good = make(map[string]string, len(cfg))
	for k, v := range cfg {
		if err := Check(k, v); err != nil {
			if bad == nil {
				bad = map[string]error{}
			}
			bad[k] = err
			continue
		}
		good[k] = v
	}
	return good, bad
}

func (s Spec) parse(v, raw string) (Value, error) {
	switch s.Kind {
	case Int:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < s.Min || n > s.Max {
			return Value{}, s.invalid(raw, "must be an integer from "+strconv.FormatInt(s.Min, 10)+" to "+strconv.FormatInt(s.Max, 10))
		}
		return Value{Int: n}, nil
	case Bool:
		switch strings.ToLower(v) {
		case "true":
			return Value{Bool: true}, nil
		case "false":
			return Value{Bool: false}, nil
		}
		return Value{}, s.invalid(raw, "must be true or false")
	case Ratio:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= 0 && f <= 1) {
			return Value{}, s.invalid(raw, "must be a number from 0 to 1")
		}
		return Value{Float: f}, nil
	case Enum:
		for _, want := range s.Values {
			if v == want {
				return Value{Str: v}, nil
			}
		}
		if len(s.Values) == 1 {
			return Value{}, s.invalid(raw, "must be "+s.Values[0])
		}
		return Value{}, s.invalid(raw, "must be "+strings.Join(s.Values[:len(s.Values)-1], ", ")+" or "+s.Values[len(s.Values)-1])
	case Policy:
		return s.parsePolicy(v, raw)
	}
	panic("topicconfig: config " + s.Name + " has no kind")
}

// parsePolicy accepts delete, compact, and the two together once each.
func (s Spec) parsePolicy(v, raw string) (Value, error) {
	var del, compact int
	for _, p := range strings.Split(v, ",") {
		switch strings.TrimSpace(p) {
		case PolicyDelete:
			del++
		case PolicyCompact:
			compact++
		default:
			return Value{}, s.invalid(raw, "must be delete, compact or compact,delete")
		}
	}
	switch {
	case del > 1 || compact > 1:
		return Value{}, s.invalid(raw, "must be delete, compact or compact,delete")
	case del == 1 && compact == 1:
		return Value{Str: PolicyCompactDelete}, nil
	case compact == 1:
		return Value{Str: PolicyCompact}, nil
	}
	return Value{Str: PolicyDelete}, nil
}

func (s Spec) invalid(v, why string) error {
	if s.Hint != "" {
		why += ": " + s.Hint
	}
	return wire.Errorf(wire.CodeInvalidConfig, "%s=%q: %s", s.Name, v, why)
}
