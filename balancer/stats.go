package balancer

import (
	"math/bits"
	"runtime"
	"sync/atomic"
)

// ConnKind says how a connection entry counts against its real server.
type ConnKind uint8

// IPVS counts ESTABLISHED, SYN_SENT, SYN_RECV and SYNACK TCP connections as
// active, every other connection (UDP included) as inactive, and persistence
// templates separately.
const (
	ConnInactive ConnKind = iota
	ConnActive
	ConnTemplate
)

// statShards is the number of traffic counter shards per real server and
// service: twice the CPUs (the packet loop runs a worker per CPU on each of
// two interfaces) rounded up to a power of two, at most 64. It does not
// follow GOMAXPROCS, which is 1 at start-up on a director pinned to one CPU
// and raised later for the workers. A shard index is taken modulo
// statShards, so any index is safe.
var statShards = func() int {
	n := 2 * runtime.NumCPU()
	if n > 64 {
		n = 64
	}
	return 1 << bits.Len(uint(n-1))
}()

// StatShards returns how many traffic counter shards each RealStats and
// ServiceStats has. Give each packet worker its own index below it and
// workers never share a cache line; larger indices wrap and stay correct
// (every add is atomic), only slower.
func StatShards() int { return statShards }

// trafficShard is one worker's slice of the packet and byte counters, alone
// on its cache line so that workers do not invalidate each other's lines.
type trafficShard struct {
	inPkts   atomic.Uint64
	outPkts  atomic.Uint64
	inBytes  atomic.Uint64
	outBytes atomic.Uint64
	_        [64 - 4*8]byte
}

// Traffic is the packet and byte counters of a real server or a service,
// sharded per worker and summed when read.
type Traffic struct {
	shards []trafficShard
}

func newTraffic() Traffic { return Traffic{shards: make([]trafficShard, statShards)} }

// AddIn counts one client-to-server packet of n bytes on the given shard.
func (t *Traffic) AddIn(shard, n int) { t.AddInN(shard, 1, n) }

// AddOut counts one server-to-client packet of n bytes on the given shard.
func (t *Traffic) AddOut(shard, n int) { t.AddOutN(shard, 1, n) }

// AddInN counts pkts client-to-server packets of n bytes in all.
func (t *Traffic) AddInN(shard, pkts, n int) {
	s := &t.shards[shard&(len(t.shards)-1)]
	s.inPkts.Add(uint64(pkts))
	s.inBytes.Add(uint64(n))
}

// AddOutN counts pkts server-to-client packets of n bytes in all.
func (t *Traffic) AddOutN(shard, pkts, n int) {
	s := &t.shards[shard&(len(t.shards)-1)]
	s.outPkts.Add(uint64(pkts))
	s.outBytes.Add(uint64(n))
}

// TrafficTotals is a point-in-time sum of Traffic counters, in ipvsadm
// --stats order (connections are counted separately).
type TrafficTotals struct {
	InPkts, OutPkts, InBytes, OutBytes uint64
}

// Totals sums the shards. Concurrent adds may or may not be included.
func (t *Traffic) Totals() TrafficTotals {
	var tt TrafficTotals
	for i := range t.shards {
		s := &t.shards[i]
		tt.InPkts += s.inPkts.Load()
		tt.OutPkts += s.outPkts.Load()
		tt.InBytes += s.inBytes.Load()
		tt.OutBytes += s.outBytes.Load()
	}
	return tt
}

// ServiceStats is the live state of a virtual service, shared by every Table
// snapshot in which the service keeps its ServiceID. All methods are safe for
// concurrent use.
type ServiceStats struct {
	Traffic
	conns atomic.Uint64
}

func newServiceStats() *ServiceStats { return &ServiceStats{Traffic: newTraffic()} }

// Conns returns the number of connections scheduled to the service so far.
func (s *ServiceStats) Conns() uint64 { return s.conns.Load() }

// RealStats is the live state of a real server, shared by every Table
// snapshot in which the server keeps its RealID. All methods are safe for
// concurrent use.
type RealStats struct {
	Traffic
	active     atomic.Int32
	inactive   atomic.Int32
	persistent atomic.Int32
	overloaded atomic.Bool
	conns      atomic.Uint64

	// link is where counter changes are reported: the least-connection
	// tree of the newest snapshot that scheduled with this server, nil when
	// no such scheduler runs (see pickTree.claim).
	link atomic.Pointer[treeLink]
}

func newRealStats() *RealStats { return &RealStats{Traffic: newTraffic()} }

// ActiveConns returns the number of active connections.
func (s *RealStats) ActiveConns() int32 { return s.active.Load() }

// InactiveConns returns the number of inactive connections.
func (s *RealStats) InactiveConns() int32 { return s.inactive.Load() }

// PersistConns returns the number of persistence templates.
func (s *RealStats) PersistConns() int32 { return s.persistent.Load() }

// Conns returns the number of connections scheduled to the server so far.
func (s *RealStats) Conns() uint64 { return s.conns.Load() }

// Overloaded reports whether the upper connection threshold was reached and
// the server has not yet fallen back below the lower one.
func (s *RealStats) Overloaded() bool { return s.overloaded.Load() }

// Overhead is IPVS's ip_vs_dest_conn_overhead: active*256 + inactive.
func (s *RealStats) Overhead() int64 {
	return int64(s.active.Load())<<8 + int64(s.inactive.Load())
}

func (s *RealStats) counter(k ConnKind) *atomic.Int32 {
	switch k {
	case ConnActive:
		return &s.active
	case ConnTemplate:
		return &s.persistent
	}
	return &s.inactive
}

// changed tells the scheduler tree watching s, if any, that s's counters or
// overload flag changed.
func (s *RealStats) changed() {
	if l := s.link.Load(); l != nil {
		l.tree.fix(int(l.leaf))
	}
}

// Bind counts a new connection entry of kind k against r and sets the
// overload flag when the upper threshold is reached (ip_vs_bind_dest).
// Non-template entries also count as a new connection of r and its service.
func (r *RealServer) Bind(k ConnKind) {
	s := r.Stats
	s.counter(k).Add(1)
	if k == ConnTemplate {
		return
	}
	s.conns.Add(1)
	if r.svcStats != nil {
		r.svcStats.conns.Add(1)
	}
	if r.UpperThreshold != 0 && s.totalConns() >= int64(r.UpperThreshold) {
		s.overloaded.Store(true)
	}
	s.changed()
}

// Unbind removes a connection entry of kind k from r's counts and clears the
// overload flag below the lower threshold, or below 3/4 of the upper one
// when no lower threshold is set (ip_vs_unbind_dest).
func (r *RealServer) Unbind(k ConnKind) {
	s := r.Stats
	s.counter(k).Add(-1)
	if k == ConnTemplate {
		return
	}
	r.updateOverload()
	s.changed()
}

// Move re-counts an entry whose TCP state crossed between active and
// inactive (IPVS does this in set_tcp_state).
func (r *RealServer) Move(from, to ConnKind) {
	if from == to {
		return
	}
	s := r.Stats
	s.counter(to).Add(1)
	s.counter(from).Add(-1)
	s.changed()
}

// CountIn counts one client-to-server packet of n bytes against r and its
// service on the given worker shard.
func (r *RealServer) CountIn(shard, n int) {
	r.Stats.AddIn(shard, n)
	if r.svcStats != nil {
		r.svcStats.AddIn(shard, n)
	}
}

// CountOut counts one server-to-client packet of n bytes against r and its
// service on the given worker shard.
func (r *RealServer) CountOut(shard, n int) {
	r.Stats.AddOut(shard, n)
	if r.svcStats != nil {
		r.svcStats.AddOut(shard, n)
	}
}

// CountN adds a worker's tally for a batch: pkts/bytes in each direction,
// against r and its service, with one atomic add per counter. The packet
// loop tallies per batch so that a packet costs no atomic operation.
func (r *RealServer) CountN(shard, inPkts, inBytes, outPkts, outBytes int) {
	if inPkts > 0 {
		r.Stats.AddInN(shard, inPkts, inBytes)
		if r.svcStats != nil {
			r.svcStats.AddInN(shard, inPkts, inBytes)
		}
	}
	if outPkts > 0 {
		r.Stats.AddOutN(shard, outPkts, outBytes)
		if r.svcStats != nil {
			r.svcStats.AddOutN(shard, outPkts, outBytes)
		}
	}
}

func (r *RealServer) updateOverload() {
	s := r.Stats
	if !s.overloaded.Load() {
		return
	}
	total := s.totalConns()
	switch {
	case r.LowerThreshold != 0:
		if total < int64(r.LowerThreshold) {
			s.overloaded.Store(false)
		}
	case r.UpperThreshold != 0:
		if total*4 < int64(r.UpperThreshold)*3 {
			s.overloaded.Store(false)
		}
	default:
		s.overloaded.Store(false)
	}
}

func (s *RealStats) totalConns() int64 {
	return int64(s.active.Load()) + int64(s.inactive.Load())
}
