package transport

import (
	"context"
	"errors"
	"fmt"
	"net"

	"strand.dev/client/wire"
)

// NodeError is a request to a node that did not get a well-formed Strand
// answer: the node could not be reached, the connection broke, the request
// timed out, or the node answered with something that is not Strand's
// protocol (Garbage).
type NodeError struct {
	Addr    string // host:port of the node
	Path    string // request path
	Garbage bool   // the node answered, but not with Strand's protocol
	Err     error  // the cause
}

// Error implements error.
func (e *NodeError) Error() string {
	if e.Garbage {
		return fmt.Sprintf("node %s answered %s with something that is not Strand's protocol: %v", e.Addr, e.Path, e.Err)
	}
	return fmt.Sprintf("node %s: %s: %v", e.Addr, e.Path, e.Err)
}

// Unwrap returns the cause.
func (e *NodeError) Unwrap() error { return e.Err }

// Retriable reports whether a request that failed with err may succeed when
// retried (possibly on another node after a metadata refresh): a wire error
// with a retriable code, or a node that could not be reached or answered
// garbage. Context cancellation and deadline errors of the caller's context
// are not retriable; non-retriable wire codes are not.
func Retriable(err error) bool {
	if err == nil {
		return false
	}
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Retriable()
	}
	var ne *NodeError
	if errors.As(err, &ne) {
		return true
	}
	return false
}

// IsContextErr reports whether err is the caller's context ending.
func IsContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// NotSent reports whether err says the request never reached the node (the
// connection could not be made), so that retrying it cannot apply it twice.
func NotSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
