package balancer

import "net/netip"

// Flow is what a scheduler sees of a new connection's first packet.
type Flow struct {
	Proto   Protocol
	Src     netip.Addr
	Dst     netip.Addr
	SrcPort uint16
	DstPort uint16
}

// Scheduler picks a real server for a new connection of one service.
//
// A Scheduler is built for one Service of one Table snapshot and is safe for
// concurrent use by all workers. Schedule returns nil when no real server is
// available (all have weight 0, are overloaded, or the service has none);
// callers count that as its own drop reason. Schedule must not allocate.
type Scheduler interface {
	Schedule(f *Flow) *RealServer
}

// schedulerFactories maps an IPVS scheduler name to its constructor. Each
// scheduler registers itself from its own file's init.
var schedulerFactories = map[string]func(*Service) (Scheduler, error){}

func registerScheduler(name string, build func(*Service) (Scheduler, error)) {
	schedulerFactories[name] = build
}
