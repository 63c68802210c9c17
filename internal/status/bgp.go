package status

import (
	"net/netip"
	"time"
)

// BGP is the state of the embedded BGP speaker (route health injection).
type BGP struct {
	// Drained is true after SIGTERM or `ulvs admin drain`: every route
	// is withdrawn.
	Drained   bool          `json:"drained"`
	Neighbors []BGPNeighbor `json:"neighbors"`
	Prefixes  []BGPPrefix   `json:"prefixes"`
}

// BGPNeighbor is one neighbour's session.
type BGPNeighbor struct {
	Addr     netip.Addr `json:"addr"`
	RemoteAS uint32     `json:"remote_as"`
	// State is the BGP FSM state: idle, connect, active, opensent,
	// openconfirm or established.
	State string `json:"state"`
	// Up is when the session was established; zero while it is not.
	Up time.Time `json:"up,omitzero"`
}

// BGPPrefix is one VIP prefix and why it is or is not announced.
type BGPPrefix struct {
	Prefix    netip.Prefix `json:"prefix"`
	Announced bool         `json:"announced"`
	// Reason is healthy or always (announced), or down, drained or
	// vrrp_backup (withdrawn).
	Reason string `json:"reason"`
}
