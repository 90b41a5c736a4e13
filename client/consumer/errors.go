package consumer

import (
	"errors"
	"fmt"
)

// ErrClosed: the consumer is closed.
var ErrClosed = errors.New("consumer closed")

// ErrNotAssigned: Seek or Position of a partition that is not assigned.
var ErrNotAssigned = errors.New("partition not assigned")

// NoOffsetError is what Poll returns for a partition that has no position
// when the reset policy is ResetNone. The partition stays stopped until Seek.
type NoOffsetError struct {
	Topic     string
	Partition int32
}

// Error implements error.
func (e *NoOffsetError) Error() string {
	return fmt.Sprintf("%s-%d has no position and auto.offset.reset is none: Seek to an offset first", e.Topic, e.Partition)
}

// OffsetOutOfRangeError is what Poll returns when a partition's position is
// outside the log (below its start, for example after retention, or past its
// end) and the reset policy is ResetNone. The partition stays stopped until
// Seek. errors.Is(err, wire.ErrOffsetOutOfRange) holds.
type OffsetOutOfRangeError struct {
	Topic     string
	Partition int32
	Offset    int64
	Err       error // the leader's error
}

// Error implements error.
func (e *OffsetOutOfRangeError) Error() string {
	return fmt.Sprintf("%s-%d: offset %d is out of range and auto.offset.reset is none: %v", e.Topic, e.Partition, e.Offset, e.Err)
}

// Unwrap returns the leader's error.
func (e *OffsetOutOfRangeError) Unwrap() error { return e.Err }
