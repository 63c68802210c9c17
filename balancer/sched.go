package balancer

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

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

// Peeker is implemented by schedulers that can tell which real server their
// next Schedule call would return without changing any state. Table.Peek
// uses it; the simulator and tests use Table.Peek to ask "where would this
// flow go?" without disturbing the live rotation.
type Peeker interface {
	Peek(f *Flow) *RealServer
}

// NewScheduler builds the scheduler named by svc.Scheduler (wlc when empty)
// for svc's real servers. The error for an unknown name lists the known ones.
func NewScheduler(svc *Service) (Scheduler, error) {
	name := svc.Scheduler
	if name == "" {
		name = DefaultScheduler
	}
	build, ok := schedulerFactories[name]
	if !ok {
		return nil, fmt.Errorf("balancer: service %v: unknown scheduler %q; use one of %s",
			svc.Key, name, strings.Join(SchedulerNames(), ", "))
	}
	return build(svc)
}

// DefaultScheduler is the scheduler of a service that names none, as in
// IPVS and keepalived.
const DefaultScheduler = "wlc"

// SchedulerNames returns the names of the registered schedulers, sorted.
func SchedulerNames() []string {
	names := make([]string, 0, len(schedulerFactories))
	for name := range schedulerFactories {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// available reports whether a scheduler may pick r for a new connection:
// every IPVS scheduler skips weight-0 and overloaded servers.
func available(r *RealServer) bool {
	return r.Weight > 0 && !r.Stats.overloaded.Load()
}
