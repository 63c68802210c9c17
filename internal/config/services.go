package config

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/ulvs/ulvs/balancer"
)

// Services converts the virtual servers into balancer service
// configurations, in file order. A "virtual_server group NAME" becomes one
// service per address of the group's entries (and one per fwmark entry),
// each with the block's settings and real servers, as keepalived creates
// them in IPVS. It fails, naming the real server, for what the file can
// say but ulvs cannot forward yet: GUE/GRE tunnels (ulvs's TUN
// encapsulates in IPIP).
//
// The services one group entry expands to share one Reals array (clipped,
// so an append copies); clone it before changing an element in place.
func (c *Config) Services() ([]balancer.ServiceConfig, error) {
	var errs ErrorList
	out := make([]balancer.ServiceConfig, 0, len(c.VirtualServers))
	for _, vs := range c.VirtualServers {
		reals := make([]balancer.RealConfig, 0, len(vs.Reals))
		realAddrs := make([]netip.Addr, 0, len(vs.Reals))
		for _, rs := range vs.Reals {
			if rs.Method == balancer.TUN && rs.Tunnel.Type != TunnelIPIP {
				errs = append(errs, &Error{Pos: rs.Pos, Keyword: "real_server",
					Msg:  fmt.Sprintf("TUN type %v is parsed but ulvs tunnels with IPIP only", rs.Tunnel.Type),
					Hint: "remove \"type " + rs.Tunnel.Type.String() + "\" (and its options) from lvs_method/lb_kind"})
				continue
			}
			reals = append(reals, balancer.RealConfig{
				Addr:           rs.Addr,
				Port:           rs.Port,
				Method:         rs.Method,
				Weight:         rs.Weight,
				UpperThreshold: rs.UpperThreshold,
				LowerThreshold: rs.LowerThreshold,
			})
			realAddrs = append(realAddrs, rs.Addr)
		}
		base := balancer.ServiceConfig{
			Scheduler:           vs.Scheduler,
			Flags:               vs.Flags,
			Persistence:         vs.Persistence,
			PersistenceMaskBits: vs.PersistenceMaskBits,
		}
		if vs.Group == "" {
			sc := base
			sc.Key = balancer.ServiceKey{Addr: vs.Addr, Port: vs.Port, Proto: vs.Protocol, FWMark: vs.FWMark}
			sc.Reals = reals
			out = append(out, sc)
			continue
		}
		g := c.Group(vs.Group)
		if g == nil {
			errs = append(errs, &Error{Pos: vs.Pos, Keyword: "virtual_server",
				Msg: fmt.Sprintf("virtual_server_group %s is not defined", vs.Group), Hint: "define it or remove this block"})
			continue
		}
		for _, e := range g.Entries {
			if !e.First.IsValid() {
				sc := base
				sc.Key = balancer.ServiceKey{FWMark: e.FWMark}
				sc.Reals = reals
				out = append(out, sc)
				continue
			}
			// Non-TUN real servers serve only the addresses of their own
			// family; the granularity applies to the family it was
			// written for.
			is4 := e.First.Is4()
			famReals := make([]balancer.RealConfig, 0, len(reals))
			for i, r := range reals {
				if r.Method == balancer.TUN || realAddrs[i].Is4() == is4 {
					famReals = append(famReals, r)
				}
			}
			sc := base
			if vs.PersistenceMaskBits != 0 && vs.granularityV6 == is4 {
				sc.PersistenceMaskBits = 0
			}
			for a := range e.Addrs() {
				sc.Key = balancer.ServiceKey{Addr: a, Port: e.Port, Proto: vs.Protocol}
				sc.Reals = slices.Clip(famReals)
				out = append(out, sc)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}
