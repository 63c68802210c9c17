// Package status is the director's state as operators see it: a Snapshot
// of services, real servers, counters, rates and connections (what the
// admin API returns as JSON), rendered the way ipvsadm -Ln renders IPVS,
// and the Estimator that turns counters into IPVS-style rates.
package status

import (
	"net/netip"
	"time"
)

// Snapshot is the whole director at one moment.
type Snapshot struct {
	// Version is the IPVS version ulvs imitates, for ipvsadm's header.
	Version string `json:"version"`
	// ConnTableSize is the connection table's capacity in entries; ipvsadm
	// prints the kernel's hash table size in the same place.
	ConnTableSize int `json:"conn_table_size"`
	// ConnCount is the number of entries (connections and templates).
	ConnCount int      `json:"conn_count"`
	Timeouts  Timeouts `json:"timeouts"`
	// Services are sorted as ipvsadm sorts them (see Sort).
	Services []Service `json:"services"`
	// VRRP is the state of each vrrp_instance, when there are any.
	VRRP []VRRPInstance `json:"vrrp,omitempty"`
	// BGP is the BGP speaker's state, when the ulvs block has bgp.
	BGP *BGP `json:"bgp,omitempty"`
}

// VRRPInstance is one vrrp_instance's state.
type VRRPInstance struct {
	Name            string       `json:"name"`
	Interface       string       `json:"interface"`
	VRID            uint8        `json:"vrid"`
	Version         uint8        `json:"version"`
	State           string       `json:"state"`
	Since           time.Time    `json:"since"`
	Priority        uint8        `json:"priority"`
	BasePriority    uint8        `json:"base_priority"`
	Master          netip.Addr   `json:"master"`
	VIPs            []netip.Addr `json:"vips"`
	BecameMaster    uint64       `json:"became_master"`
	AdvertsSent     uint64       `json:"adverts_sent"`
	AdvertsReceived uint64       `json:"adverts_received"`
	// Drops counts discarded advertisements by reason.
	Drops map[string]uint64 `json:"drops,omitempty"`
}

// Timeouts are the connection timeouts in seconds, ipvsadm --timeout.
type Timeouts struct {
	TCP    int `json:"tcp"`
	TCPFin int `json:"tcpfin"`
	UDP    int `json:"udp"`
}

// TimeoutsOf converts durations to whole seconds.
func TimeoutsOf(tcp, tcpFin, udp time.Duration) Timeouts {
	return Timeouts{TCP: int(tcp / time.Second), TCPFin: int(tcpFin / time.Second), UDP: int(udp / time.Second)}
}

// Service is one virtual service.
type Service struct {
	// Proto is TCP, UDP, SCTP or FWM.
	Proto  string     `json:"proto"`
	Addr   netip.Addr `json:"addr,omitzero"`
	Port   uint16     `json:"port"`
	FWMark uint32     `json:"fwmark,omitempty"`
	// Scheduler is the IPVS scheduler name.
	Scheduler string `json:"scheduler"`
	// Persistent is the persistence timeout in seconds; 0 means none.
	Persistent uint32 `json:"persistent,omitempty"`
	// MaskBits is the persistence granularity as a prefix length.
	MaskBits int `json:"mask_bits,omitempty"`
	// OnePacket is the ops flag.
	OnePacket bool `json:"ops,omitempty"`
	// SchedFlags are the scheduler flags by their ipvsadm names
	// (sh-fallback, sh-port, mh-fallback, mh-port, flag-1, flag-2).
	SchedFlags []string `json:"sched_flags,omitempty"`
	Stats      Stats    `json:"stats"`
	Rate       Rate     `json:"rate"`
	Reals      []Real   `json:"reals"`
	// Failed are the real servers health checking took out of the table
	// (not listed in Reals, as ipvsadm would not list them).
	Failed []Real `json:"failed,omitempty"`
	// Quorum is "up" or "down" for a service with health checks.
	Quorum string `json:"quorum,omitempty"`
}

// Real is one real server of a service.
type Real struct {
	Addr netip.Addr `json:"addr"`
	Port uint16     `json:"port"`
	// Forward is ipvsadm's name of the method: Masq, Route or Tunnel.
	Forward      string `json:"forward"`
	Weight       uint32 `json:"weight"`
	ActiveConns  int32  `json:"active_conns"`
	InactConns   int32  `json:"inact_conns"`
	PersistConns int32  `json:"persist_conns"`
	UThreshold   uint32 `json:"uthreshold"`
	LThreshold   uint32 `json:"lthreshold"`
	// Overloaded reports that the upper threshold was reached.
	Overloaded bool `json:"overloaded,omitempty"`
	// Draining is set while an admin drain is in progress; DrainDeadline
	// is when the server is removed at the latest (zero: when idle).
	Draining      bool      `json:"draining,omitempty"`
	DrainDeadline time.Time `json:"drain_deadline,omitzero"`
	// Health is the health-check verdict: "up", "down", "standby"
	// (healthy but replaced by the sorry server), "sorry" (the sorry
	// server itself) or "" when the server has no checker. HealthError is
	// the failure that took it down; HealthSince when the verdict last
	// changed; Checks the checker kinds (TCP_CHECK, HTTP_GET, ...).
	Health      string    `json:"health,omitempty"`
	HealthError string    `json:"health_error,omitempty"`
	HealthSince time.Time `json:"health_since,omitzero"`
	Checks      []string  `json:"checks,omitempty"`
	Stats       Stats     `json:"stats"`
	Rate        Rate      `json:"rate"`
}

// Stats are cumulative counters, ipvsadm --stats.
type Stats struct {
	Conns    uint64 `json:"conns"`
	InPkts   uint64 `json:"in_pkts"`
	OutPkts  uint64 `json:"out_pkts"`
	InBytes  uint64 `json:"in_bytes"`
	OutBytes uint64 `json:"out_bytes"`
}

// Sub returns s minus base, saturating at zero (a baseline taken when the
// counters were zeroed).
func (s Stats) Sub(base Stats) Stats {
	sub := func(a, b uint64) uint64 {
		if a < b {
			return 0
		}
		return a - b
	}
	return Stats{sub(s.Conns, base.Conns), sub(s.InPkts, base.InPkts), sub(s.OutPkts, base.OutPkts),
		sub(s.InBytes, base.InBytes), sub(s.OutBytes, base.OutBytes)}
}

// Rate is the estimated rates per second, ipvsadm --rate.
type Rate struct {
	CPS    uint64 `json:"cps"`
	InPPS  uint64 `json:"in_pps"`
	OutPPS uint64 `json:"out_pps"`
	InBPS  uint64 `json:"in_bps"`
	OutBPS uint64 `json:"out_bps"`
}

// Conn is one connection entry or persistence template, ipvsadm -Lnc.
type Conn struct {
	Proto    string         `json:"proto"`
	Template bool           `json:"template,omitempty"`
	State    string         `json:"state"`
	Expires  time.Duration  `json:"expires_ns"`
	Client   netip.AddrPort `json:"client"`
	Virtual  netip.AddrPort `json:"virtual"`
	Real     netip.AddrPort `json:"real"`
}
