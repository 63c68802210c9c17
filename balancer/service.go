package balancer

import (
	"fmt"
	"net/netip"
	"time"
)

// Protocol is an IP protocol number as carried in the IPv4 header.
type Protocol uint8

// The protocols a virtual service can carry.
const (
	TCP  Protocol = 6
	UDP  Protocol = 17
	SCTP Protocol = 132
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	case SCTP:
		return "SCTP"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// Method is how a director hands a packet to a real server. IPVS allows a
// different method per real server within one service.
type Method uint8

// The forwarding methods. The zero value is NAT, keepalived's default.
const (
	NAT Method = iota // masquerading: destination rewritten, replies come back through the director
	DR                // direct routing: only the destination MAC changes
	TUN               // IPIP tunnelling: an outer IPv4 header addressed to the real server
)

// String returns the keepalived name (NAT, DR, TUN).
func (m Method) String() string {
	switch m {
	case NAT:
		return "NAT"
	case DR:
		return "DR"
	case TUN:
		return "TUN"
	}
	return fmt.Sprintf("method(%d)", uint8(m))
}

// IPVSName returns the name ipvsadm prints in its Forward column.
func (m Method) IPVSName() string {
	switch m {
	case NAT:
		return "Masq"
	case DR:
		return "Route"
	case TUN:
		return "Tunnel"
	}
	return m.String()
}

// ServiceKey identifies a virtual service. Either Addr, Port and Proto are
// set, or FWMark is non-zero (fwmark services group several addresses and
// ports; reserved for later, the zero FWMark means an address service).
type ServiceKey struct {
	Addr   netip.Addr
	Port   uint16
	Proto  Protocol
	FWMark uint32
}

func (k ServiceKey) String() string {
	if k.FWMark != 0 {
		return fmt.Sprintf("FWM %d", k.FWMark)
	}
	return fmt.Sprintf("%v %v", k.Proto, netip.AddrPortFrom(k.Addr, k.Port))
}

// ServiceFlags are IPVS's per-service scheduler flags.
type ServiceFlags uint16

// IPVS maps sh-fallback and mh-fallback to IP_VS_SVC_F_SCHED1 and sh-port and
// mh-port to IP_VS_SVC_F_SCHED2; ulvs keeps one flag for each meaning.
const (
	FlagSchedFallback ServiceFlags = 1 << iota // sh-fallback, mh-fallback: try another server when the hashed one is unavailable
	FlagSchedPort                              // sh-port, mh-port: hash the source port too
	FlagOnePacket                              // ops: schedule every UDP datagram on its own, keep no connection
)

// ServiceID is a service's identity, stable across Table snapshots so that
// counters and connections survive a reload.
type ServiceID uint32

// RealID is a real server's identity, stable across Table snapshots. The
// connection table stores it instead of a pointer.
type RealID uint32

// Service is a virtual service in one Table snapshot. A Service value is
// immutable once its Table is published; its counters live in Stats, which
// the control plane carries from one snapshot to the next.
type Service struct {
	ID        ServiceID
	Key       ServiceKey
	Scheduler string // IPVS scheduler name: rr, wrr, lc, wlc, sed, nq, sh, mh, dh, lblc, lblcr, fo, ovf, twos (and swrr)
	Flags     ServiceFlags

	// Persistence is the persistence timeout; zero means not persistent.
	Persistence time.Duration
	// PersistenceMaskBits is the granularity of persistence as a prefix
	// length (IPVS -M netmask; 32 for IPv4 means one client address).
	PersistenceMaskBits int

	// MaglevTableSize is the mh lookup table size, a prime; zero means
	// IPVS's default of 4093.
	MaglevTableSize int

	// Reals are the service's real servers in the order they were added,
	// which is the order rr, wrr and the tie-breaks of lc and wlc follow.
	Reals []*RealServer

	// Sched is the service's scheduler, built for this snapshot's Reals.
	Sched Scheduler

	// Stats are the service's counters, shared by every snapshot in which
	// the service keeps its ID.
	Stats *ServiceStats
}

// RealServer is one real server of a service in one Table snapshot. Its
// live state (connection counts, overload flag, traffic counters) lives in
// Stats, shared by every snapshot in which the server keeps its RealID.
type RealServer struct {
	ID     RealID
	Addr   netip.Addr
	Port   uint16
	Method Method
	// Weight is 0..65535; 0 quiesces the server: no new connections, the
	// existing ones keep flowing.
	Weight uint32
	// UpperThreshold and LowerThreshold are IPVS's -x and -y connection
	// thresholds; zero means unset.
	UpperThreshold uint32
	LowerThreshold uint32

	Stats *RealStats

	// index is the server's position in its service's Reals.
	index int32
	// svcStats are the counters of the server's service, which Bind and
	// CountIn/CountOut also update.
	svcStats *ServiceStats
}

// AddrPort returns the real server's address and port.
func (r *RealServer) AddrPort() netip.AddrPort { return netip.AddrPortFrom(r.Addr, r.Port) }
