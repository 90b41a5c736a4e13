package wire

// MaxTopicNameLen is Kafka's limit on a topic name's length.
const MaxTopicNameLen = 249

// ValidateTopicName applies Kafka's rules: 1 to 249 characters from
// [a-zA-Z0-9._-], and neither "." nor "..". The error is INVALID_TOPIC_EXCEPTION.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return Errorf(CodeInvalidTopic, "topic name is empty")
	case name == "." || name == "..":
		return Errorf(CodeInvalidTopic, "topic name cannot be %q", name)
	case len(name) > MaxTopicNameLen:
		return Errorf(CodeInvalidTopic, "topic name is %d characters long, the limit is %d", len(name), MaxTopicNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return Errorf(CodeInvalidTopic, "topic name %q has the character %q; only [a-zA-Z0-9._-] are allowed", name, c)
		}
	}
	return nil
}
