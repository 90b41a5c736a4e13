package metastate

import (
	"encoding/json"
	"sync"
	"sync/atomic"

	"strand.dev/client/wire"
)

// Machine is the metadata state machine.
//
// Concurrency: Apply and Restore are serialized by an internal mutex (in
// strand-meta only the raft apply loop calls them). Image, AppliedIndex and
// Snapshot may be called from any goroutine at any time: they read one
// atomically published state and never block on Apply.
type Machine struct {
	clusterID string

	// mu serializes writers (Apply, Restore). Readers never take it.
	mu sync.Mutex
	// cur is the published state: replaced as a whole, never mutated.
	cur atomic.Pointer[state]
}

// state is one published (image, applied index) pair.
type state struct {
	img     *wire.Image
	applied uint64
	// enc caches img's JSON; states sharing an image share it.
	enc *encoded
}

// encoded is an image's JSON, computed at most once.
type encoded struct {
	once sync.Once
	body []byte
	err  error
}

// publish stores a new state. An image that did not change keeps its
// encoding cache.
func (m *Machine) publish(prev *state, img *wire.Image, applied uint64) {
	enc := &encoded{}
	if prev != nil && prev.img == img {
		enc = prev.enc
	}
	m.cur.Store(&state{img: img, applied: applied, enc: enc})
}

// New returns a machine holding the empty image (version 0) of the cluster.
func New(clusterID string) *Machine {
	m := &Machine{clusterID: clusterID}
	m.publish(nil, emptyImage(clusterID), 0)
	return m
}

// emptyImage is version 0: no nodes, no lease, no topics.
func emptyImage(clusterID string) *wire.Image {
	return &wire.Image{
		ClusterID:     clusterID,
		Nodes:         map[int32]*wire.NodeRecord{},
		Topics:        map[string]*wire.TopicRecord{},
		OffsetsOwners: map[int32]*wire.OffsetsOwner{},
	}
}

// ClusterID is the cluster the machine belongs to.
func (m *Machine) ClusterID() string { return m.clusterID }

// Image returns the current image. The image and everything it points to are
// immutable: callers must not modify them, and later applies never do.
func (m *Machine) Image() *wire.Image { return m.cur.Load().img }

// ImageJSON returns the current image and its JSON encoding (as
// encoding/json renders a wire.Image). The encoding is computed once per
// image version and shared by every caller, so a hundred watchers woken by
// one command cost one encoding. The bytes must not be modified.
func (m *Machine) ImageJSON() (*wire.Image, []byte, error) {
	s := m.cur.Load()
	s.enc.once.Do(func() { s.enc.body, s.enc.err = json.Marshal(s.img) })
	return s.img, s.enc.body, s.enc.err
}

// AppliedIndex is the raft index of the last entry given to Apply (accepted,
// rejected or undecodable alike), or the index of the restored snapshot.
func (m *Machine) AppliedIndex() uint64 { return m.cur.Load().applied }

// Apply applies the committed raft entry at index whose data is the JSON of a
// wire.Command.
//
// An entry at or below AppliedIndex was applied already and is ignored: the
// answer is the current version and no error. Otherwise AppliedIndex becomes
// index whatever the outcome. A command that fails to decode, fails
// validation or is refused by the image (stale epoch, failed compare-and-set,
// unknown topic, ...) returns a *wire.Error and changes neither the image nor
// its version; an accepted command publishes a new image whose version is one
// more than the previous one.
func (m *Machine) Apply(index uint64, data []byte) (wire.ProposeResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev := m.cur.Load()
	if index <= prev.applied {
		return wire.ProposeResponse{Version: prev.img.Version}, nil
	}
	var cmd wire.Command
	if err := json.Unmarshal(data, &cmd); err != nil {
		m.publish(prev, prev.img, index)
		return wire.ProposeResponse{}, wire.Errorf(wire.CodeInvalidRequest, "command is not valid JSON: %v", err)
	}
	next, resp, err := apply(prev.img, &cmd)
	if err != nil {
		m.publish(prev, prev.img, index)
		return wire.ProposeResponse{}, err
	}
	m.publish(prev, next, index)
	return resp, nil
}

// ApplyCommand is Apply for an already decoded command (tests and tools).
// The command is not retained.
func (m *Machine) ApplyCommand(index uint64, cmd *wire.Command) (wire.ProposeResponse, error) {
	data, err := json.Marshal(cmd)
	if err != nil {
		return wire.ProposeResponse{}, wire.Errorf(wire.CodeInvalidRequest, "command cannot be encoded: %v", err)
	}
	return m.Apply(index, data)
}

// apply computes the image that results from cmd on img, without touching
// img. It is a pure function: the same (img, cmd) always gives the same
// result.
func apply(img *wire.Image, cmd *wire.Command) (*wire.Image, wire.ProposeResponse, error) {
	if err := validate(cmd); err != nil {
		return nil, wire.ProposeResponse{}, err
	}
	b := newBuilder(img)
	var (
		resp wire.ProposeResponse
		err  error
	)
	switch cmd.Type {
	case wire.CmdNoop:
	case wire.CmdRegisterNode:
		err = b.registerNode(cmd.RegisterNode)
	case wire.CmdSetNodeFenced:
		err = b.setNodeFenced(cmd.SetNodeFenced)
	case wire.CmdUnregisterNode:
		err = b.unregisterNode(cmd.UnregisterNode)
	case wire.CmdAcquireLease:
		resp.Epoch, err = b.acquireLease(cmd.AcquireLease)
	case wire.CmdReleaseLease:
		err = b.releaseLease(cmd.ReleaseLease)
	case wire.CmdCreateTopic:
		err = b.createTopic(cmd.CreateTopic)
	case wire.CmdDeleteTopic:
		err = b.deleteTopic(cmd.DeleteTopic)
	case wire.CmdAlterTopicConfigs:
		err = b.alterTopicConfigs(cmd.AlterTopicConfigs)
	case wire.CmdUpdatePartitions:
		resp.Rejected, err = b.updatePartitions(cmd.UpdatePartitions)
	case wire.CmdAlterISR:
		err = b.alterISR(cmd.AlterISR)
	case wire.CmdClaimOffsetsOwner:
		resp.Epoch, err = b.claimOffsetsOwner(cmd.ClaimOffsetsOwner)
	case wire.CmdReleaseOffsetsOwner:
		err = b.releaseOffsetsOwner(cmd.ReleaseOffsetsOwner)
	case wire.CmdAllocateProducerIDs:
		resp.FirstProducerID, err = b.allocateProducerIDs(cmd.AllocateProducerIDs)
	default:
		// validate refuses unknown types; reaching here is a broken invariant.
		panic("metastate: validated command of unhandled type " + string(cmd.Type))
	}
	if err != nil {
		return nil, wire.ProposeResponse{}, err
	}
	next := b.finish()
	resp.Version = next.Version
	return next, resp, nil
}
