package wire

import "sort"

// strand-meta's HTTP interface. Bodies are JSON.
const (
	// PathMetaImage: GET the metadata image. Linearizable by default (the
	// serving node confirms with a raft ReadIndex that it is up to date);
	// ?stale=true answers from the local copy at once. Answer: Image.
	PathMetaImage = "/v1/meta/image"
	// PathMetaWatch: GET ?version=V&timeout_ms=T long-polls until the image's
	// version is greater than V, then answers the Image; on timeout it answers
	// the current image (whose version may equal V). timeout_ms defaults to
	// 30000 and is capped by the server.
	PathMetaWatch = "/v1/meta/watch"
	// PathMetaPropose: POST a Command. Any node accepts it; a follower
	// forwards it to the raft leader. Answer: ProposeResponse once the command
	// is committed and applied, or an error naming why it was rejected.
	PathMetaPropose = "/v1/meta/propose"
	// PathMetaStatus: GET the raft status of the answering node: MetaStatus.
	PathMetaStatus = "/v1/meta/status"
	// PathMetaMembers: GET lists the raft members (MembersResponse); POST
	// adds one (AddMemberRequest) and DELETE ?id=N removes one, both through
	// raft configuration changes forwarded to the leader.
	PathMetaMembers = "/v1/meta/members"
	// PathMetaRaft is the raft peer transport endpoint (node to node only).
	PathMetaRaft = "/v1/meta/raft"
)

// Image is the versioned metadata image: the source of truth for the cluster.
// Version increases by exactly one per applied command (rejected commands do
// not change the image and do not bump the version).
type Image struct {
	Version   uint64 `json:"version"`
	ClusterID string `json:"cluster_id"`
	// Nodes are the registered data nodes, by id.
	Nodes map[int32]*NodeRecord `json:"nodes"`
	// Controller is the active controller's lease.
	Controller ControllerLease `json:"controller"`
	// Topics by name.
	Topics map[string]*TopicRecord `json:"topics"`
	// OffsetsOwners maps a partition of __consumer_offsets to the
	// coordinator that owns it.
	OffsetsOwners map[int32]*OffsetsOwner `json:"offsets_owners"`
	// NextProducerID is the first producer id not yet handed out.
	NextProducerID int64 `json:"next_producer_id"`
}

// NodeRecord is a registered data node.
type NodeRecord struct {
	ID         int32  `json:"id"`
	Addr       string `json:"addr"`        // data-plane HTTP API, host:port
	GossipAddr string `json:"gossip_addr"` // serf bind address, host:port
	Rack       string `json:"rack,omitempty"`
	// Incarnation increases on every start of the node (it is the node's
	// start time in Unix nanoseconds, or any larger number); a registration
	// with an incarnation not above the recorded one is stale.
	Incarnation int64 `json:"incarnation"`
	// Fenced nodes lead nothing and join no ISR; a fenced node stays only
	// in an ISR of which it is the last member (it holds every acknowledged
	// record there). A newly registered node starts fenced; the active
	// controller unfences it when gossip sees it alive.
	Fenced bool `json:"fenced"`
}

// ControllerLease records which controller is active. Epoch increases by one
// every time a different holder acquires the lease; every controller write
// carries the epoch, and a write with an older epoch is rejected.
type ControllerLease struct {
	Holder  string `json:"holder"`
	Addr    string `json:"addr"` // the holder's admin API address
	Epoch   int64  `json:"epoch"`
	LeaseMs int64  `json:"lease_ms"`
	// RenewedAt is the image version of the acquisition or last renewal. A
	// takeover names the RenewedAt it saw lapse, so a renewal that lands
	// between the leader's check and the takeover defeats the takeover.
	RenewedAt uint64 `json:"renewed_at"`
}

// TopicRecord is a topic and its partitions.
type TopicRecord struct {
	Name       string             `json:"name"`
	ID         string             `json:"id"`
	Configs    map[string]string  `json:"configs,omitempty"`
	Partitions []*PartitionRecord `json:"partitions"`
}

// PartitionRecord is one partition's replica set and leadership.
type PartitionRecord struct {
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"`
	// Leader is -1 while the partition has no leader.
	Leader      int32   `json:"leader"`
	LeaderEpoch int32   `json:"leader_epoch"`
	ISR         []int32 `json:"isr"`
	// PartitionEpoch increases on every change of Leader, ISR or Replicas;
	// writers compare-and-set on it.
	PartitionEpoch int32 `json:"partition_epoch"`
}

// OffsetsOwner is the coordinator owning one __consumer_offsets partition.
type OffsetsOwner struct {
	Coordinator string `json:"coordinator"` // coordinator id
	Addr        string `json:"addr"`        // its API address
	Epoch       int64  `json:"epoch"`       // ownership epoch, +1 per change of owner
}

// CommandType names a command. The list is append-only.
type CommandType string

// The commands of the metadata state machine.
const (
	CmdRegisterNode        CommandType = "register_node"
	CmdSetNodeFenced       CommandType = "set_node_fenced"
	CmdAcquireLease        CommandType = "acquire_lease"
	CmdReleaseLease        CommandType = "release_lease"
	CmdCreateTopic         CommandType = "create_topic"
	CmdDeleteTopic         CommandType = "delete_topic"
	CmdAlterTopicConfigs   CommandType = "alter_topic_configs"
	CmdUpdatePartitions    CommandType = "update_partitions"
	CmdAlterISR            CommandType = "alter_isr"
	CmdClaimOffsetsOwner   CommandType = "claim_offsets_owner"
	CmdAllocateProducerIDs CommandType = "allocate_producer_ids"
	CmdUnregisterNode      CommandType = "unregister_node"
	CmdNoop                CommandType = "noop"
	CmdReleaseOffsetsOwner CommandType = "release_offsets_owner"
)

// Command is one state-machine command: Type names which of the fields is set.
type Command struct {
	Type CommandType `json:"type"`

	RegisterNode        *RegisterNodeCmd        `json:"register_node,omitempty"`
	SetNodeFenced       *SetNodeFencedCmd       `json:"set_node_fenced,omitempty"`
	AcquireLease        *AcquireLeaseCmd        `json:"acquire_lease,omitempty"`
	ReleaseLease        *ReleaseLeaseCmd        `json:"release_lease,omitempty"`
	CreateTopic         *CreateTopicCmd         `json:"create_topic,omitempty"`
	DeleteTopic         *DeleteTopicCmd         `json:"delete_topic,omitempty"`
	AlterTopicConfigs   *AlterTopicConfigsCmd   `json:"alter_topic_configs,omitempty"`
	UpdatePartitions    *UpdatePartitionsCmd    `json:"update_partitions,omitempty"`
	AlterISR            *AlterISRCmd            `json:"alter_isr,omitempty"`
	ClaimOffsetsOwner   *ClaimOffsetsOwnerCmd   `json:"claim_offsets_owner,omitempty"`
	ReleaseOffsetsOwner *ReleaseOffsetsOwnerCmd `json:"release_offsets_owner,omitempty"`
	AllocateProducerIDs *AllocateProducerIDsCmd `json:"allocate_producer_ids,omitempty"`
	UnregisterNode      *UnregisterNodeCmd      `json:"unregister_node,omitempty"`
}

// RegisterNodeCmd registers (or re-registers, with a higher incarnation) a
// data node. A registration of an id with a different address and a live,
// unfenced record is DUPLICATE_BROKER_REGISTRATION; a stale incarnation is
// STALE_BROKER_EPOCH.
type RegisterNodeCmd struct {
	Node NodeRecord `json:"node"`
}

// SetNodeFencedCmd fences or unfences a node (controller only). Fencing a
// node also removes it from every ISR but those of which it is the last
// member, and clears its leaderships (bumping leader and partition epochs);
// it does not elect new leaders, which the controller does with
// UpdatePartitions in the same or a following command.
type SetNodeFencedCmd struct {
	ControllerEpoch int64 `json:"controller_epoch"`
	NodeID          int32 `json:"node_id"`
	Fenced          bool  `json:"fenced"`
}

// AcquireLeaseCmd acquires or renews the controller lease.
// Renewal: Holder is the current holder and Epoch its epoch.
// Takeover: Holder differs; Epoch is the epoch seen, LapsedRenewedAt the
// RenewedAt seen, and the raft leader accepts it only if it has not seen a
// renewal for LeaseMs on its own monotonic clock (counted from when it became
// leader, at the earliest). The result's Epoch is the epoch to carry.
type AcquireLeaseCmd struct {
	Holder          string `json:"holder"`
	Addr            string `json:"addr"`
	Epoch           int64  `json:"epoch"`
	LeaseMs         int64  `json:"lease_ms"`
	LapsedRenewedAt uint64 `json:"lapsed_renewed_at,omitempty"`
}

// ReleaseLeaseCmd gives the lease up (graceful controller stop).
type ReleaseLeaseCmd struct {
	Holder string `json:"holder"`
	Epoch  int64  `json:"epoch"`
}

// CreateTopicCmd creates a topic with its replica placement (controller only).
// Each partition starts with Leader = Replicas[0], ISR = Replicas, epochs 0.
type CreateTopicCmd struct {
	ControllerEpoch int64       `json:"controller_epoch"`
	Topic           TopicRecord `json:"topic"`
}

// DeleteTopicCmd deletes a topic (controller only).
type DeleteTopicCmd struct {
	ControllerEpoch int64  `json:"controller_epoch"`
	Name            string `json:"name"`
}

// AlterTopicConfigsCmd sets and deletes topic configs (controller only).
type AlterTopicConfigsCmd struct {
	ControllerEpoch int64             `json:"controller_epoch"`
	Name            string            `json:"name"`
	Set             map[string]string `json:"set,omitempty"`
	Delete          []string          `json:"delete,omitempty"`
}

// PartitionChange is one partition's new leadership, guarded by the partition
// epoch the writer saw. Replicas nil keeps the replica set.
type PartitionChange struct {
	Topic                  string  `json:"topic"`
	Partition              int32   `json:"partition"`
	ExpectedPartitionEpoch int32   `json:"expected_partition_epoch"`
	Leader                 int32   `json:"leader"`
	ISR                    []int32 `json:"isr"`
	Replicas               []int32 `json:"replicas,omitempty"`
	// BumpLeaderEpoch is set on a leader change (and on any change the
	// followers must see as a new epoch).
	BumpLeaderEpoch bool `json:"bump_leader_epoch"`
}

// UpdatePartitionsCmd applies leader elections and ISR changes decided by the
// controller. Each change is applied or rejected on its own (stale partition
// epoch, unknown partition, leader not in the ISR); the result lists which.
type UpdatePartitionsCmd struct {
	ControllerEpoch int64             `json:"controller_epoch"`
	Changes         []PartitionChange `json:"changes"`
}

// AlterISRCmd is a partition leader's ISR shrink or expand. It is accepted
// only if LeaderID leads the partition at LeaderEpoch and the partition epoch
// is still ExpectedPartitionEpoch; the new ISR must contain the leader.
type AlterISRCmd struct {
	Topic                  string  `json:"topic"`
	Partition              int32   `json:"partition"`
	LeaderID               int32   `json:"leader_id"`
	LeaderEpoch            int32   `json:"leader_epoch"`
	ExpectedPartitionEpoch int32   `json:"expected_partition_epoch"`
	ISR                    []int32 `json:"isr"`
}

// ClaimOffsetsOwnerCmd makes Coordinator the owner of an offsets partition,
// if the ownership epoch is still ExpectedEpoch.
type ClaimOffsetsOwnerCmd struct {
	Partition     int32  `json:"partition"`
	Coordinator   string `json:"coordinator"`
	Addr          string `json:"addr"`
	ExpectedEpoch int64  `json:"expected_epoch"`
}

// ReleaseOffsetsOwnerCmd gives up ownership held at Epoch.
type ReleaseOffsetsOwnerCmd struct {
	Partition   int32  `json:"partition"`
	Coordinator string `json:"coordinator"`
	Epoch       int64  `json:"epoch"`
}

// AllocateProducerIDsCmd hands out a block of Count producer ids.
type AllocateProducerIDsCmd struct {
	Count int64 `json:"count"`
}

// UnregisterNodeCmd removes a data node that leads and replicates nothing
// (controller only).
type UnregisterNodeCmd struct {
	ControllerEpoch int64 `json:"controller_epoch"`
	NodeID          int32 `json:"node_id"`
}

// ProposeResponse answers an applied command.
type ProposeResponse struct {
	// Version is the image version after the command.
	Version uint64 `json:"version"`
	// Epoch is the controller epoch (acquire_lease) or ownership epoch
	// (claim_offsets_owner) that resulted.
	Epoch int64 `json:"epoch,omitempty"`
	// FirstProducerID is the first id of an allocated block.
	FirstProducerID int64 `json:"first_producer_id,omitempty"`
	// Rejected lists the changes of an update_partitions that were not
	// applied, with the reason.
	Rejected []RejectedChange `json:"rejected,omitempty"`
}

// RejectedChange is a PartitionChange that was not applied.
type RejectedChange struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Code      Code   `json:"code"`
	Message   string `json:"message"`
}

// MetaStatus is one strand-meta node's raft status.
type MetaStatus struct {
	ID           uint64         `json:"id"`
	ClusterID    string         `json:"cluster_id"`
	Term         uint64         `json:"term"`
	Leader       uint64         `json:"leader"` // 0 when unknown
	LeaderAddr   string         `json:"leader_addr,omitempty"`
	State        string         `json:"state"` // StateLeader, StateFollower, ...
	CommitIndex  uint64         `json:"commit_index"`
	AppliedIndex uint64         `json:"applied_index"`
	ImageVersion uint64         `json:"image_version"`
	SnapshotIdx  uint64         `json:"snapshot_index"`
	Members      []MemberStatus `json:"members"`
}

// MemberStatus is a raft member and, on the leader, its replication progress.
type MemberStatus struct {
	ID       uint64 `json:"id"`
	PeerAddr string `json:"peer_addr"`
	APIAddr  string `json:"api_addr"`
	Learner  bool   `json:"learner,omitempty"`
	Match    uint64 `json:"match,omitempty"`
	Next     uint64 `json:"next,omitempty"`
	State    string `json:"state,omitempty"` // progress state on the leader
}

// MembersResponse lists the raft members.
type MembersResponse struct {
	Members []MemberStatus `json:"members"`
}

// AddMemberRequest adds a raft member.
type AddMemberRequest struct {
	ID       uint64 `json:"id"`
	PeerAddr string `json:"peer_addr"`
	APIAddr  string `json:"api_addr"`
}

// Metadata derives the routing view of the image.
func (img *Image) Metadata() Metadata {
	md := Metadata{ClusterID: img.ClusterID, Version: img.Version, ControllerAddr: img.Controller.Addr}
	for _, n := range img.Nodes {
		md.Nodes = append(md.Nodes, NodeInfo{ID: n.ID, Addr: n.Addr, Rack: n.Rack, Fenced: n.Fenced})
	}
	sort.Slice(md.Nodes, func(i, j int) bool { return md.Nodes[i].ID < md.Nodes[j].ID })
	for _, t := range img.Topics {
		tm := TopicMetadata{Name: t.Name, ID: t.ID, Configs: t.Configs}
		for _, p := range t.Partitions {
			tm.Partitions = append(tm.Partitions, PartitionMetadata{
				Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
				Replicas: p.Replicas, ISR: p.ISR,
			})
		}
		md.Topics = append(md.Topics, tm)
	}
	sort.Slice(md.Topics, func(i, j int) bool { return md.Topics[i].Name < md.Topics[j].Name })
	seen := map[string]bool{}
	for _, o := range img.OffsetsOwners {
		if o.Addr != "" && !seen[o.Addr] {
			seen[o.Addr] = true
			md.Coordinators = append(md.Coordinators, o.Addr)
		}
	}
	sort.Strings(md.Coordinators)
	return md
}
