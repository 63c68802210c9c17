package config

import (
	"fmt"

	"github.com/ulvs/ulvs/balancer"
)

// Services converts the virtual servers into balancer service
// configurations, in file order. It fails, naming the virtual_server, for
// what the file can say but ulvs cannot forward yet: virtual_server group
// and GUE/GRE tunnels (ulvs's TUN encapsulates in IPIP).
func (c *Config) Services() ([]balancer.ServiceConfig, error) {
	var errs ErrorList
	out := make([]balancer.ServiceConfig, 0, len(c.VirtualServers))
	for _, vs := range c.VirtualServers {
		if vs.Group != "" {
			errs = append(errs, &Error{Pos: vs.Pos, Keyword: "virtual_server",
				Msg:  fmt.Sprintf("virtual_server group %s is parsed but not supported by ulvs yet", vs.Group),
				Hint: "write one virtual_server IP PORT block per address of the group"})
			continue
		}
		sc := balancer.ServiceConfig{
			Key:                 balancer.ServiceKey{Addr: vs.Addr, Port: vs.Port, Proto: vs.Protocol, FWMark: vs.FWMark},
			Scheduler:           vs.Scheduler,
			Flags:               vs.Flags,
			Persistence:         vs.Persistence,
			PersistenceMaskBits: vs.PersistenceMaskBits,
			Reals:               make([]balancer.RealConfig, 0, len(vs.Reals)),
		}
		for _, rs := range vs.Reals {
			if rs.Method == balancer.TUN && rs.Tunnel.Type != TunnelIPIP {
				errs = append(errs, &Error{Pos: rs.Pos, Keyword: "real_server",
					Msg:  fmt.Sprintf("TUN type %v is parsed but ulvs tunnels with IPIP only", rs.Tunnel.Type),
					Hint: "remove \"type " + rs.Tunnel.Type.String() + "\" (and its options) from lvs_method/lb_kind"})
				continue
			}
			sc.Reals = append(sc.Reals, balancer.RealConfig{
				Addr:           rs.Addr,
				Port:           rs.Port,
				Method:         rs.Method,
				Weight:         rs.Weight,
				UpperThreshold: rs.UpperThreshold,
				LowerThreshold: rs.LowerThreshold,
			})
		}
		out = append(out, sc)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}
