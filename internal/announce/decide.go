package announce

import (
	"net/netip"
	"slices"
)

//go:generate go tool stringer -type Reason -linecomment

// Reason says why a prefix is announced or withdrawn. The line comment is
// its name in status and metrics (the reason label), from which `go
// generate` writes String.
type Reason uint8

// Announced: healthy (a service on the VIP has quorum), always (announce
// always). Withdrawn: down (no service on the VIP has quorum), drained
// (the director is draining), vrrp_backup (VRRP holds the VIP and this
// director is not MASTER).
const (
	ReasonHealthy    Reason = iota // healthy
	ReasonAlways                   // always
	ReasonDown                     // down
	ReasonDrained                  // drained
	ReasonVRRPBackup               // vrrp_backup
	reasonCount                    // count
)

// Mode is when a VIP is announced.
type Mode uint8

const (
	ModeHealthy Mode = iota // while a service on the VIP has quorum
	ModeAlways              // whatever the checks say
)

// Service is what the decision needs of one virtual service.
type Service struct {
	VIP netip.Addr
	// Up is the service's quorum: true while the weight of its healthy
	// real servers reaches quorum (with hysteresis), as the daemon
	// tracks it; with no quorum set, while one real server is healthy.
	Up bool
}

// Input is the director's state as the decision sees it.
type Input struct {
	Mode     Mode
	Drained  bool
	Services []Service
	// VRRP maps each VIP that a VRRP instance manages to whether this
	// director is MASTER for it. VIPs absent here are not VRRP's.
	VRRP map[netip.Addr]bool
}

// Route is one prefix and the decision about it.
type Route struct {
	Prefix   netip.Prefix
	Announce bool
	Reason   Reason
}

// Decide returns one Route per VIP, sorted by prefix: /32 for IPv4,
// /128 for IPv6. Drain wins over everything, then VRRP (a backup must
// not attract traffic for an address it does not hold), then the mode.
func Decide(in Input) []Route {
	up := map[netip.Addr]bool{}
	for _, s := range in.Services {
		if !s.VIP.IsValid() {
			continue
		}
		vip := s.VIP.Unmap()
		up[vip] = up[vip] || s.Up
	}
	out := make([]Route, 0, len(up))
	for vip, ok := range up {
		r := Route{Prefix: netip.PrefixFrom(vip, vip.BitLen())}
		master, vrrp := in.VRRP[vip]
		switch {
		case in.Drained:
			r.Reason = ReasonDrained
		case vrrp && !master:
			r.Reason = ReasonVRRPBackup
		case in.Mode == ModeAlways:
			r.Announce, r.Reason = true, ReasonAlways
		case ok:
			r.Announce, r.Reason = true, ReasonHealthy
		default:
			r.Reason = ReasonDown
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Route) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	return out
}
