package metaclient

import (
	"context"
	"errors"
	"fmt"

	"strand.dev/client/wire"
)

// Errors of the client.
var (
	// ErrNoAddresses: the client was built without any strand-meta address.
	ErrNoAddresses = errors.New("metaclient: no strand-meta address")
	// ErrResponseTooLarge: an answer was longer than the client's limit
	// (WithMaxResponseBytes). Retrying does not help; raise the limit.
	ErrResponseTooLarge = errors.New("metaclient: response larger than the limit")
)

// TransportError is a request that got no well-formed answer from a
// strand-meta node: the node could not be reached, the connection broke, the
// attempt timed out, or the node answered something that is not strand-meta's
// protocol. Err is the cause (errors.Is and errors.As see through it).
type TransportError struct {
	Addr string // host:port of the node
	Path string // request path
	Err  error
}

// Error implements error.
func (e *TransportError) Error() string {
	return fmt.Sprintf("metaclient: %s%s: %v", e.Addr, e.Path, e.Err)
}

// Unwrap returns the cause.
func (e *TransportError) Unwrap() error { return e.Err }

// retriableCodes are the strand-meta answers that say "not now, not here":
// the cluster has no leader, the node is not the leader, the request timed
// out in raft or the node is stopping. Every other code is the state
// machine's or the server's final word on the request.
var retriableCodes = map[wire.Code]bool{
	wire.CodeNoLeader:        true,
	wire.CodeNotLeader:       true,
	wire.CodeRequestTimedOut: true,
	wire.CodeShuttingDown:    true,
}

// Retriable reports whether a request that failed with err may succeed if
// sent again, to the same or another strand-meta node: a transport failure
// (other than an oversized answer) or one of the availability codes
// NO_LEADER, NOT_LEADER, REQUEST_TIMED_OUT and SHUTTING_DOWN. A command the
// state machine rejected (stale epoch, failed compare-and-set, ...) is not
// retriable: sending it again gets the same answer. The caller's context
// ending is not retriable.
func Retriable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, ErrResponseTooLarge) {
		return false
	}
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	var we *wire.Error
	if errors.As(err, &we) {
		return retriableCodes[we.Code]
	}
	return false
}
