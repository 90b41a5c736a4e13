package metaserver

import (
	"context"
	"errors"

	"strand.dev/client/wire"
	"strand.dev/controlplane/raftnode"
)

// toWire maps an error of the raft node (or a machine rejection, already a
// *wire.Error) to the wire error a client gets.
func toWire(err error) error {
	var we *wire.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &we):
		return err
	case errors.Is(err, raftnode.ErrOutcomeUnknown), errors.Is(err, context.DeadlineExceeded):
		return wire.Errorf(wire.CodeRequestTimedOut, "the command's outcome is unknown (it may or may not be applied): %v", err)
	case errors.Is(err, raftnode.ErrNotLeader), errors.Is(err, raftnode.ErrSuperseded), errors.Is(err, raftnode.ErrDropped):
		return wire.Errorf(wire.CodeNotLeader, "not applied, retry: %v", err)
	case errors.Is(err, raftnode.ErrConfChangePending):
		return wire.Errorf(wire.CodeRebalanceInProgress, "not applied: %v", err)
	case errors.Is(err, raftnode.ErrTooLarge):
		return wire.Errorf(wire.CodeMessageTooLarge, "%v", err)
	case errors.Is(err, raftnode.ErrStopped), errors.Is(err, raftnode.ErrRemoved), errors.Is(err, context.Canceled):
		return wire.Errorf(wire.CodeShuttingDown, "%v", err)
	case errors.Is(err, raftnode.ErrMemberExists), errors.Is(err, raftnode.ErrMemberRemoved):
		return wire.Errorf(wire.CodeInvalidRequest, "%v", err)
	case errors.Is(err, raftnode.ErrMemberUnknown):
		return wire.Errorf(wire.CodeMemberNotFound, "%v", err)
	case errors.Is(err, raftnode.ErrLastVoter):
		return wire.Errorf(wire.CodePolicyViolation, "%v", err)
	default:
		return wire.Errorf(wire.CodeUnknown, "%v", err)
	}
}
