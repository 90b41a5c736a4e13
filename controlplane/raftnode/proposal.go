package raftnode

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"

	"strand.dev/client/wire"
)

// The data of a normal entry proposed by a node is an envelope:
//
//	version byte (1) | proposer member id uint64 | proposal id uint64 | command
//
// The proposer finds its waiter by (member id, proposal id) when the entry is
// applied. Proposal ids start at a random value on every start, so entries
// of an earlier run never match a waiter of this one.
const (
	envelopeVersion = 1
	envelopeHeader  = 17
)

func encodeEnvelope(member, id uint64, cmd []byte) []byte {
	b := make([]byte, envelopeHeader+len(cmd))
	b[0] = envelopeVersion
	binary.BigEndian.PutUint64(b[1:9], member)
	binary.BigEndian.PutUint64(b[9:17], id)
	copy(b[envelopeHeader:], cmd)
	return b
}

// decodeEnvelope splits an entry's data; ok is false for data that is not an
// envelope (the empty entry of a new leader, or garbage).
func decodeEnvelope(b []byte) (member, id uint64, cmd []byte, ok bool) {
	if len(b) < envelopeHeader || b[0] != envelopeVersion {
		return 0, 0, nil, false
	}
	return binary.BigEndian.Uint64(b[1:9]), binary.BigEndian.Uint64(b[9:17]), b[envelopeHeader:], true
}

// ccContext is the Context of the configuration changes the node proposes.
type ccContext struct {
	Member     Member `json:"member"`
	Proposer   uint64 `json:"proposer,omitempty"`
	ProposalID uint64 `json:"proposal_id,omitempty"`
}

func decodeCCContext(b []byte) (ccContext, error) {
	var c ccContext
	if len(b) == 0 {
		return c, nil
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("raftnode: conf change context: %w", err)
	}
	return c, nil
}

// result is the outcome of a proposal.
type result struct {
	resp wire.ProposeResponse
	err  error
}

// proposal is one command or configuration change waiting to be proposed,
// then committed and applied. done has room for the one result, so the loop
// never blocks on a caller that left.
type proposal struct {
	id   uint64
	data []byte             // envelope, for a command
	cc   *raftpb.ConfChange // for a configuration change
	done chan result        // buffered(1)
	// index and term are where the entry was appended, set by the loop.
	index, term uint64
}

func (p *proposal) finish(resp wire.ProposeResponse, err error) {
	select {
	case p.done <- result{resp: resp, err: err}:
	default:
	}
}
