// Package topicconfig is the one table of topic configs Strand knows, under
// Kafka's names: each config's kind of value, range and Kafka's default, and
// the Kafka configs Strand refuses with the reason.
//
// strand-meta and the controller check a topic's configs with Validate
// before they write them, and the data nodes parse them with the same table,
// so a config is accepted at creation exactly when the data nodes can apply
// it. Every error is a *wire.Error INVALID_CONFIG whose message names the
// config.
//
//	if err := topicconfig.Validate(map[string]string{"retention.ms": "3600000"}); err != nil {
//		return err // e.g. `topic config local.retention.ms is not supported: ...`
//	}
//	v, _ := topicconfig.Parse("cleanup.policy", "delete, compact") // v.Str == "compact,delete"
//
// The table is read-only and safe for concurrent use.
package topicconfig
