package inspect

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ulvs/ulvs/balancer"
)

// ParseReal parses a real server given on the command line:
// ADDR:PORT or ADDR:PORT=WEIGHT (weight 1 when omitted).
func ParseReal(s string) (balancer.RealConfig, error) {
	addr, w, hasW := strings.Cut(s, "=")
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return balancer.RealConfig{}, fmt.Errorf("real server %q: write IPv4ADDR:PORT or IPv4ADDR:PORT=WEIGHT", s)
	}
	rc := balancer.RealConfig{Addr: ap.Addr(), Port: ap.Port(), Weight: 1}
	if hasW {
		n, err := strconv.ParseUint(w, 10, 32)
		if err != nil || n > balancer.MaxWeight {
			return balancer.RealConfig{}, fmt.Errorf("real server %q: weight %q: use 0 to %d", s, w, balancer.MaxWeight)
		}
		rc.Weight = uint32(n)
	}
	return rc, nil
}

// ServiceFor builds the one virtual service of a command-line inspection:
// the VIP, port and protocol of the first packet, the given real servers,
// all with method m, and scheduler sched.
func ServiceFor(proto balancer.Protocol, vip netip.AddrPort, reals []balancer.RealConfig, m balancer.Method, sched string) []balancer.ServiceConfig {
	sc := balancer.ServiceConfig{Key: balancer.ServiceKey{Addr: vip.Addr(), Port: vip.Port(), Proto: proto}, Scheduler: sched}
	for _, r := range reals {
		r.Method = m
		sc.Reals = append(sc.Reals, r)
	}
	return []balancer.ServiceConfig{sc}
}

// ParseMode parses --mode: nat, dr, tun (one director) or all (one each).
func ParseMode(s string) ([]balancer.Method, error) {
	switch strings.ToLower(s) {
	case "nat":
		return []balancer.Method{balancer.NAT}, nil
	case "dr":
		return []balancer.Method{balancer.DR}, nil
	case "tun":
		return []balancer.Method{balancer.TUN}, nil
	case "all":
		return []balancer.Method{balancer.NAT, balancer.DR, balancer.TUN}, nil
	case "", "config":
		return nil, nil
	}
	return nil, fmt.Errorf("mode %q: use nat, dr, tun or all (or leave it out to use the config's methods)", s)
}
