// Package admin is ulvs's runtime API: JSON over HTTP on a unix socket
// (mode 0600), served by the running director and spoken by `ulvs list`
// and `ulvs admin`. Changes made through it act on the running director
// only; the next reload (SIGHUP) replaces them with what the
// configuration file says.
package admin

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/internal/status"
)

// Control is what the server needs from the director. Every change is
// validated as a whole new table; on error nothing changes.
type Control interface {
	Status() *status.Snapshot
	// Conns lists up to limit connection entries (0: all).
	Conns(limit int) []status.Conn
	// Reload rereads the configuration file and applies the difference.
	Reload() error
	// Zero zeroes the counters of one service, or of all when svc is nil.
	Zero(svc *balancer.ServiceKey) error
	// SetService adds (create) or edits a service.
	SetService(spec ServiceSpec, create bool) error
	DeleteService(key balancer.ServiceKey) error
	// SetReal adds (create) or edits a real server.
	SetReal(spec RealSpec, create bool) error
	DeleteReal(key balancer.ServiceKey, real netip.AddrPort) error
	// Drain sets the real server's weight to 0 now and removes it once it
	// has no connections left, or at the deadline, whichever is first.
	Drain(key balancer.ServiceKey, real netip.AddrPort, deadline time.Duration) error
}

// ServiceSpec adds or edits a service. Nil fields keep their value on
// edit and take keepalived's default on add.
type ServiceSpec struct {
	// Service is the key, as ParseService reads it (tcp:VIP:PORT).
	Service   string  `json:"service"`
	Scheduler *string `json:"scheduler,omitempty"`
	// Persistence is the persistence timeout in seconds; 0 turns it off.
	Persistence *uint32 `json:"persistence,omitempty"`
	// MaskBits is the persistence granularity as a prefix length.
	MaskBits *int `json:"mask_bits,omitempty"`
	// OnePacket is the ops flag.
	OnePacket *bool `json:"ops,omitempty"`
}

// RealSpec adds or edits a real server of a service.
type RealSpec struct {
	Service string `json:"service"`
	// Real is ADDR:PORT.
	Real string `json:"real"`
	// Method is NAT, DR or TUN (or ipvsadm's masq, route, tunnel).
	Method     *string `json:"method,omitempty"`
	Weight     *uint32 `json:"weight,omitempty"`
	UThreshold *uint32 `json:"uthreshold,omitempty"`
	LThreshold *uint32 `json:"lthreshold,omitempty"`
}

// ParseService reads a service key written PROTO:ADDR:PORT, for example
// tcp:10.0.1.100:80 or udp:[2001:db8::1]:53; the protocol is tcp, udp or
// sctp in any case.
func ParseService(s string) (balancer.ServiceKey, error) {
	proto, rest, ok := strings.Cut(s, ":")
	if !ok {
		return balancer.ServiceKey{}, fmt.Errorf("service %q: write PROTO:ADDR:PORT, e.g. tcp:10.0.1.100:80", s)
	}
	var p balancer.Protocol
	switch strings.ToLower(proto) {
	case "tcp":
		p = balancer.TCP
	case "udp":
		p = balancer.UDP
	case "sctp":
		p = balancer.SCTP
	default:
		return balancer.ServiceKey{}, fmt.Errorf("service %q: protocol %q is not tcp, udp or sctp", s, proto)
	}
	ap, err := netip.ParseAddrPort(rest)
	if err != nil {
		return balancer.ServiceKey{}, fmt.Errorf("service %q: %v; write PROTO:ADDR:PORT, e.g. tcp:10.0.1.100:80", s, err)
	}
	return balancer.ServiceKey{Addr: ap.Addr().Unmap(), Port: ap.Port(), Proto: p}, nil
}

// FormatService is the inverse of ParseService.
func FormatService(k balancer.ServiceKey) string {
	return strings.ToLower(k.Proto.String()) + ":" + netip.AddrPortFrom(k.Addr, k.Port).String()
}

// ParseReal reads a real server written ADDR:PORT (or a bare ADDR,
// meaning port 0: the service's port).
func ParseReal(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 0), nil
	}
	return netip.AddrPort{}, fmt.Errorf("real server %q: write ADDR:PORT, e.g. 10.0.2.11:80", s)
}

// ParseMethod reads a forwarding method by its keepalived (NAT, DR, TUN)
// or ipvsadm (masq, route/gatewaying, tunnel/ipip) name.
func ParseMethod(s string) (balancer.Method, error) {
	switch strings.ToLower(s) {
	case "nat", "masq", "masquerading", "m":
		return balancer.NAT, nil
	case "dr", "route", "gatewaying", "g":
		return balancer.DR, nil
	case "tun", "tunnel", "ipip", "i":
		return balancer.TUN, nil
	}
	return 0, fmt.Errorf("forwarding method %q: use NAT, DR or TUN", s)
}

// parseSeconds reads a deadline in Go duration syntax or plain seconds.
func parseSeconds(s string) (time.Duration, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("deadline %q: write seconds or a duration such as 90s or 5m", s)
	}
	return d, nil
}
