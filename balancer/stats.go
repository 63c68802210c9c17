package balancer

import "sync/atomic"

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

// RealStats is the live state of a real server, shared by every Table
// snapshot in which the server keeps its RealID. All methods are safe for
// concurrent use.
type RealStats struct {
	active     atomic.Int32
	inactive   atomic.Int32
	persistent atomic.Int32
	conns      atomic.Uint64
	overloaded atomic.Bool
}

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

// Bind counts a new connection entry of kind k against r and sets the
// overload flag when the upper threshold is reached (ip_vs_bind_dest).
func (r *RealServer) Bind(k ConnKind) {
	s := r.Stats
	s.counter(k).Add(1)
	if k == ConnTemplate {
		return
	}
	s.conns.Add(1)
	if r.UpperThreshold != 0 && s.totalConns() >= int64(r.UpperThreshold) {
		s.overloaded.Store(true)
	}
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
