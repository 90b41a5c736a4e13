package partlog

import (
	"errors"
	"fmt"

	"strand.dev/client/wire"
)

// Sentinels for errors.Is. Errors returned by a Log carry a wire code as
// well (errors.As(err, **wire.Error) finds it), so a server can answer them
// as they are.
var (
	// ErrClosed: the log (or manager) was closed; code KAFKA_STORAGE_ERROR.
	ErrClosed = errors.New("partition log is closed")
	// ErrUnexpectedOffset: a replicated append does not continue the log;
	// code INVALID_RECORD. See UnexpectedOffsetError.
	ErrUnexpectedOffset = errors.New("replicated batches do not continue the log")
)

// UnexpectedOffsetError is returned by AppendReplicated when the batches'
// offsets do not start at or after the log end offset, or do not increase.
type UnexpectedOffsetError struct {
	EndOffset int64 // the log end offset at the time
	Offset    int64 // the offending batch's base offset
	Reason    string
}

// Error implements error.
func (e *UnexpectedOffsetError) Error() string {
	return fmt.Sprintf("replicated batch at offset %d %s (log end offset %d)", e.Offset, e.Reason, e.EndOffset)
}

// Unwrap exposes the sentinel and the wire code.
func (e *UnexpectedOffsetError) Unwrap() []error {
	return []error{ErrUnexpectedOffset, &wire.Error{Code: wire.CodeInvalidRecord, Message: e.Error()}}
}

// codedError attaches a wire code to an error chain while keeping the
// cause reachable for errors.Is.
type codedError struct {
	code wire.Code
	msg  string
	err  error
}

func (e *codedError) Error() string {
	if e.err == nil {
		return e.msg
	}
	return e.msg + ": " + e.err.Error()
}

func (e *codedError) Unwrap() []error {
	return []error{&wire.Error{Code: e.code, Message: e.Error()}, e.err}
}

// storageErr wraps an I/O failure as KAFKA_STORAGE_ERROR.
func storageErr(err error, format string, args ...any) error {
	return &codedError{code: wire.CodeKafkaStorageError, msg: fmt.Sprintf(format, args...), err: err}
}

// closedErr is the error of an operation on a closed log.
func closedErr(dir string) error {
	return &codedError{code: wire.CodeKafkaStorageError, msg: "log " + dir, err: ErrClosed}
}

// outOfRange is OFFSET_OUT_OF_RANGE.
func outOfRange(offset, start, end int64) error {
	return wire.Errorf(wire.CodeOffsetOutOfRange, "offset %d is outside the log's range [%d, %d]", offset, start, end)
}
