package conntrack

import (
	"sync/atomic"

	"github.com/ulvs/ulvs/balancer"
)

//go:generate go tool stringer -type=Action,DropReason -linecomment -output=result_string.go

// Action is what the packet loop does with a packet. Its String is the
// action's label (snake_case, as metric labels are).
type Action uint8

// The actions.
const (
	// ActionNotService: the packet belongs to no virtual service and no
	// connection; leave it to the kernel.
	ActionNotService Action = iota // not_service
	// ActionForward: send the packet to the real server in the result.
	ActionForward // forward
	// ActionDrop: discard the packet; the result's Reason says why.
	ActionDrop // drop
)

// DropReason says why the director dropped a packet. Its String is the
// reason's metric label (ulvs_balancer_drops_total{reason}).
type DropReason uint8

// The drop reasons. Each is counted; none is logged per packet.
const (
	DropNone DropReason = iota // none
	// DropTableFull: a new flow found the connection table full. Existing
	// connections are never evicted to make room.
	DropTableFull // table_full
	// DropNoRealServer: the scheduler found no available real server (all
	// weight 0, overloaded, or none configured).
	DropNoRealServer // no_real_server
	// DropRealUnavailable: the connection's real server left the table and
	// ExpireNodestConn is off.
	DropRealUnavailable // real_server_unavailable
	// DropNotSYN: a TCP segment without SYN (or with RST) for a service
	// matched no connection; IPVS does not schedule those.
	DropNotSYN // tcp_not_syn
	// DropProtocol: the service's protocol has no connection tracking here
	// (only TCP and UDP do).
	DropProtocol // protocol_not_tracked
	// DropPortZero: a non-persistent port-zero service cannot schedule, as
	// in IPVS.
	DropPortZero // port_zero_not_persistent
	// DropRealNotIPv4: the scheduled real server has no IPv4 address.
	DropRealNotIPv4 // real_server_not_ipv4

	// NumDropReasons is the number of drop reasons, for sizing arrays.
	NumDropReasons
)

// InboundResult is the director's decision for a client packet.
type InboundResult struct {
	Action Action
	Reason DropReason // for ActionDrop
	// Real is the real server to forward to (ActionForward). Its Method
	// says how; for NAT the caller rewrites the destination to
	// Real.Addr:Port (Real.Port 0 means keep the virtual port).
	Real *balancer.RealServer
	// Service is set when this packet was scheduled (a new connection or a
	// one-packet datagram); it is nil for packets of existing connections.
	Service *balancer.Service
	// New reports that the packet created a connection entry.
	New bool
}

// OutboundResult is the director's decision for a NAT reply from a real
// server.
type OutboundResult struct {
	Action Action // ActionForward or ActionNotService
	// VIP and VPort are the virtual address and port to rewrite the
	// reply's source to.
	VIP   [4]byte
	VPort uint16
	Real  balancer.RealID
}

// ConnCounters are the director's event counters, summed over workers.
type ConnCounters struct {
	Drops       [NumDropReasons]uint64
	Forwarded   uint64 // packets forwarded (both directions)
	NotService  uint64 // packets that matched no service or connection
	NewConns    uint64 // connection entries created
	OnePacket   uint64 // datagrams scheduled without an entry (FlagOnePacket)
	Templates   uint64 // persistence templates created
	Rescheduled uint64 // entries replaced by conn_reuse_mode or expire_nodest_conn
	Expired     uint64 // entries removed after their timeout
	Reclaimed   uint64 // of Expired: removed early to make room for a new flow
	Purged      uint64 // entries removed by PurgeReal
}

type connCounters struct {
	drops       [NumDropReasons]atomic.Uint64
	forwarded   atomic.Uint64
	notService  atomic.Uint64
	newConns    atomic.Uint64
	onePacket   atomic.Uint64
	templates   atomic.Uint64
	rescheduled atomic.Uint64
	expired     atomic.Uint64
	reclaimed   atomic.Uint64
	purged      atomic.Uint64
}

func (c *connCounters) addTo(s *ConnCounters) {
	for i := range c.drops {
		s.Drops[i] += c.drops[i].Load()
	}
	s.Forwarded += c.forwarded.Load()
	s.NotService += c.notService.Load()
	s.NewConns += c.newConns.Load()
	s.OnePacket += c.onePacket.Load()
	s.Templates += c.templates.Load()
	s.Rescheduled += c.rescheduled.Load()
	s.Expired += c.expired.Load()
	s.Reclaimed += c.reclaimed.Load()
	s.Purged += c.purged.Load()
}

func (w *Worker) drop(r DropReason) InboundResult {
	w.ctr.drops[r].Add(1)
	return InboundResult{Action: ActionDrop, Reason: r}
}

// connTally counts a batch's outcomes, so the worker's counters take one
// atomic add per batch rather than one per packet.
type connTally struct{ forwarded, notService, newConns uint64 }

func (c *connTally) flush(ctr *connCounters) {
	if c.forwarded != 0 {
		ctr.forwarded.Add(c.forwarded)
	}
	if c.notService != 0 {
		ctr.notService.Add(c.notService)
	}
	if c.newConns != 0 {
		ctr.newConns.Add(c.newConns)
	}
}

// countForward counts a forwarded packet, and a new connection when isNew:
// into tl when a batch is tallying, else at once.
func (w *Worker) countForward(tl *connTally, isNew bool) {
	if tl != nil {
		tl.forwarded++
		if isNew {
			tl.newConns++
		}
		return
	}
	w.ctr.forwarded.Add(1)
	if isNew {
		w.ctr.newConns.Add(1)
	}
}

// countNotService counts a packet that belongs to no service or connection.
func (w *Worker) countNotService(tl *connTally) {
	if tl != nil {
		tl.notService++
		return
	}
	w.ctr.notService.Add(1)
}
