package wire

// Metadata is what a client needs to route requests: the nodes and, for each
// topic, its partitions and their leaders. Data nodes answer it from their
// cached copy of the metadata image; strand-meta from the image itself.
type Metadata struct {
	ClusterID string `json:"cluster_id"`
	// Version is the metadata image version this view was built from (0 on a
	// standalone data node).
	Version uint64          `json:"version"`
	Nodes   []NodeInfo      `json:"nodes"`
	Topics  []TopicMetadata `json:"topics"`
	// ControllerAddr is where admin requests (PathAdminTopics, PathAdminConfigs)
	// go: the active controller's API address, or a standalone data node's
	// own address. Empty while no controller is active.
	ControllerAddr string `json:"controller_addr,omitempty"`
	// MetaAddrs are the API addresses of the strand-meta nodes, when known.
	MetaAddrs []string `json:"meta_addrs,omitempty"`
	// Coordinators are the API addresses of live strand-coordinators.
	Coordinators []string `json:"coordinators,omitempty"`
}

// NodeInfo is a data node as clients see it.
type NodeInfo struct {
	ID     int32  `json:"id"`
	Addr   string `json:"addr"` // host:port of its data-plane HTTP API
	Rack   string `json:"rack,omitempty"`
	Fenced bool   `json:"fenced,omitempty"`
}

// TopicMetadata describes a topic for routing.
type TopicMetadata struct {
	Name       string              `json:"name"`
	ID         string              `json:"id"`
	Configs    map[string]string   `json:"configs,omitempty"`
	Partitions []PartitionMetadata `json:"partitions"`
}

// PartitionMetadata describes one partition: Leader is -1 while it has none.
type PartitionMetadata struct {
	Partition   int32   `json:"partition"`
	Leader      int32   `json:"leader"`
	LeaderEpoch int32   `json:"leader_epoch"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
}

// Node returns the node with the given id.
func (m *Metadata) Node(id int32) (NodeInfo, bool) {
	for _, n := range m.Nodes {
		if n.ID == id {
			return n, true
		}
	}
	return NodeInfo{}, false
}

// Topic returns the named topic.
func (m *Metadata) Topic(name string) (*TopicMetadata, bool) {
	for i := range m.Topics {
		if m.Topics[i].Name == name {
			return &m.Topics[i], true
		}
	}
	return nil, false
}
