package wire

// strand-controller's HTTP interface, besides PathAdminTopics and
// PathAdminConfigs (see dataplane.go), PathHealth and PathMetrics. Bodies are
// JSON. A standby controller forwards these requests to the active one.
const (
	// PathControlledShutdown: POST ControlledShutdownRequest, sent by a data
	// node on SIGTERM. The active controller moves the node's leaderships to
	// in-sync replicas and answers ControlledShutdownResponse once none is
	// left (or after WaitMs); the node repeats the request until Remaining is
	// empty or its own time bound passes, then leaves gossip and exits.
	PathControlledShutdown = "/v1/controller/controlled-shutdown"
	// PathControllerStatus: GET the answering controller's view:
	// ControllerStatus. Not forwarded.
	PathControllerStatus = "/v1/controller/status"
)

// HeaderForwarded marks a request a standby controller forwarded to the
// active one; a controller that is not active answers such a request with
// NOT_CONTROLLER instead of forwarding it again.
const HeaderForwarded = "X-Strand-Forwarded-By"

// ControlledShutdownRequest asks the controller to move a data node's
// leaderships away before it stops.
type ControlledShutdownRequest struct {
	NodeID int32 `json:"node_id"`
	// Incarnation is the node's registered incarnation; a request with an
	// incarnation other than the image's is STALE_BROKER_EPOCH.
	Incarnation int64 `json:"incarnation"`
	// WaitMs bounds how long the controller waits for the moves before it
	// answers (default 5000, capped by the controller).
	WaitMs int64 `json:"wait_ms,omitempty"`
}

// ControlledShutdownResponse says which leaderships the node still holds.
type ControlledShutdownResponse struct {
	NodeID int32 `json:"node_id"`
	// Remaining lists the partitions ("topic-partition") the node still
	// leads: empty once it may stop. Partitions with no other in-sync
	// replica stay here until the node stops.
	Remaining []string `json:"remaining"`
	// Version is the image version the answer was computed from.
	Version uint64 `json:"version"`
}

// DeleteTopicResponse answers a DELETE of PathAdminTopics.
type DeleteTopicResponse struct {
	Topic   string `json:"topic"`
	ID      string `json:"id"`
	Version uint64 `json:"version"` // the image version that no longer has it
}

// ControllerStatus is a controller's view of itself and of the gossip pool.
type ControllerStatus struct {
	ID     string `json:"id"`
	Addr   string `json:"addr"`
	Active bool   `json:"active"`
	// Epoch is this controller's epoch while active, else 0.
	Epoch int64 `json:"epoch"`
	// Lease is the lease as the latest image this controller has shows it.
	Lease        ControllerLease `json:"lease"`
	ImageVersion uint64          `json:"image_version"`
	// Members is the gossip pool as this controller sees it.
	Members []GossipMember `json:"members"`
	// Offline lists partitions without a leader ("topic-partition"), as of
	// the last reconcile of the active controller.
	Offline []string `json:"offline,omitempty"`
}

// GossipMember is one member of the gossip pool.
type GossipMember struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	ID      string `json:"id"`
	APIAddr string `json:"api_addr,omitempty"`
	Rack    string `json:"rack,omitempty"`
	Addr    string `json:"addr"`
	Status  string `json:"status"` // alive, leaving, left, failed
}
