package membership

import (
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/serf/serf"
)

// Status is a member's state as this member sees it.
type Status string

// Member states.
const (
	StatusAlive   Status = "alive"
	StatusLeaving Status = "leaving"
	StatusLeft    Status = "left"
	StatusFailed  Status = "failed"
	StatusUnknown Status = "unknown"
)

// Member is one process of the pool, as the local member sees it.
type Member struct {
	// Name is the gossip name, "<role>-<id>".
	Name string `json:"name"`
	// Role and ID come from the member's tags.
	Role Role   `json:"role"`
	ID   string `json:"id"`
	// APIAddr is the member's HTTP API address (tag), Rack its rack.
	APIAddr string `json:"api_addr,omitempty"`
	Rack    string `json:"rack,omitempty"`
	// Addr is the member's gossip address, host:port.
	Addr   string `json:"addr"`
	Status Status `json:"status"`
}

// Alive reports whether the member is alive (not leaving, left or failed).
func (m Member) Alive() bool { return m.Status == StatusAlive }

// DataNodeID returns the member's data node id, when it is a data node with a
// well-formed id.
func (m Member) DataNodeID() (int32, bool) {
	if m.Role != RoleData {
		return 0, false
	}
	id, err := strconv.ParseInt(m.ID, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(id), true
}

func memberFromSerf(sm serf.Member) Member {
	m := Member{
		Name:    sm.Name,
		Role:    Role(sm.Tags[TagRole]),
		ID:      sm.Tags[TagID],
		APIAddr: sm.Tags[TagAPIAddr],
		Rack:    sm.Tags[TagRack],
		Addr:    net.JoinHostPort(sm.Addr.String(), strconv.Itoa(int(sm.Port))),
	}
	switch sm.Status {
	case serf.StatusAlive:
		m.Status = StatusAlive
	case serf.StatusLeaving:
		m.Status = StatusLeaving
	case serf.StatusLeft:
		m.Status = StatusLeft
	case serf.StatusFailed:
		m.Status = StatusFailed
	default:
		m.Status = StatusUnknown
	}
	return m
}

// EventType says what happened to a member.
type EventType int

// The event types. Join is also what a falsely failed member that refuted
// produces, and what a restarted member produces.
const (
	EventJoin EventType = iota + 1
	EventLeave
	EventFailed
	EventUpdate
	EventReap
)

// String names the event type.
func (t EventType) String() string {
	switch t {
	case EventJoin:
		return "member-join"
	case EventLeave:
		return "member-leave"
	case EventFailed:
		return "member-failed"
	case EventUpdate:
		return "member-update"
	case EventReap:
		return "member-reap"
	}
	return "unknown"
}

// Event is one membership change.
type Event struct {
	Type   EventType
	Member Member
	// At is when the local member learned of it.
	At time.Time
}

func eventType(t serf.EventType) (EventType, bool) {
	switch t {
	case serf.EventMemberJoin:
		return EventJoin, true
	case serf.EventMemberLeave:
		return EventLeave, true
	case serf.EventMemberFailed:
		return EventFailed, true
	case serf.EventMemberUpdate:
		return EventUpdate, true
	case serf.EventMemberReap:
		return EventReap, true
	}
	return 0, false
}
