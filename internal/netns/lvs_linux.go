package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/ulvs/ulvs/balancer"
)

// Addresses of the standard topology. They are 10.x and exist only inside
// the namespaces the Env creates.
var (
	ClientNet     = netip.MustParsePrefix("10.0.1.0/24") // client ↔ director (front)
	RealNet       = netip.MustParsePrefix("10.0.2.0/24") // director, gateway, real servers (back, one L2 segment)
	ReturnNet     = netip.MustParsePrefix("10.0.3.0/24") // gateway ↔ client (DR/TUN replies)
	DefaultVIP    = netip.MustParseAddr("10.0.1.100")
	clientAddr    = netip.MustParsePrefix("10.0.1.10/24")
	dirFrontAddr  = netip.MustParsePrefix("10.0.1.1/24")
	dirBackAddr   = netip.MustParsePrefix("10.0.2.1/24")
	gwBackAddr    = netip.MustParsePrefix("10.0.2.254/24")
	gwFrontAddr   = netip.MustParsePrefix("10.0.3.1/24")
	clientRetAddr = netip.MustParsePrefix("10.0.3.10/24")
)

// Options shape the standard topology. Zero values give two real servers
// and DefaultVIP.
type Options struct {
	// Reals is the number of real-server namespaces (1..200).
	Reals int
	// VIP is the virtual address. It should be inside ClientNet so that the
	// client ARPs for it and ulvs's ARP responder is what answers.
	VIP netip.Addr
}

// Iface is one interface of the topology as seen inside its namespace.
type Iface struct {
	Name  string
	Index int
	MAC   net.HardwareAddr
	Addr  netip.Prefix
}

// Host is a namespace and its main interface.
type Host struct {
	NS  *NS
	Dev Iface
}

// LVS is the standard ulvs topology. The director's two legs are plain veth
// ends (the back one's peer is a bridge port), so AF_PACKET on them behaves
// as on a NIC.
type LVS struct {
	Env *Env
	VIP netip.Addr

	// Client sends to the VIP through Dev (eth0, toward the director) and
	// receives DR/TUN replies on ClientReturn (eth1, from the gateway).
	Client       Host
	ClientReturn Iface

	// Director is where ulvs runs: Front faces the client, Back the reals.
	// It has ip_forward=0 and no VIP on any interface.
	Director *NS
	Front    Iface
	Back     Iface

	// Gateway routes replies that bypass the director (DR, TUN) from the
	// real-server segment to the client; it is the only forwarding namespace.
	Gateway      Host // Dev is the back leg (10.0.2.254)
	GatewayFront Iface

	// LAN holds the bridge br0 that makes the back segment one L2 domain.
	LAN *NS

	// Reals are the real servers, each in its own namespace, Dev eth0.
	Reals []Host
}

// NewLVS builds the standard topology inside e. On error the caller still
// closes e, which removes whatever was built.
func NewLVS(e *Env, o Options) (*LVS, error) {
	if o.Reals == 0 {
		o.Reals = 2
	}
	if o.Reals < 0 || o.Reals > 200 {
		return nil, fmt.Errorf("netns: %d real servers requested; use 1..200", o.Reals)
	}
	if !o.VIP.IsValid() {
		o.VIP = DefaultVIP
	}
	if !o.VIP.Is4() {
		return nil, errors.New("netns: the VIP must be an IPv4 address")
	}
	l := &LVS{Env: e, VIP: o.VIP}
	var err error
	add := func(name string) *NS {
		if err != nil {
			return nil
		}
		var n *NS
		n, err = e.Add(name)
		return n
	}
	l.Client.NS = add("client")
	l.Director = add("director")
	l.Gateway.NS = add("gw")
	l.LAN = add("lan")
	for i := range o.Reals {
		l.Reals = append(l.Reals, Host{NS: add(fmt.Sprintf("real%d", i))})
	}
	if err != nil {
		return nil, err
	}

	steps := []func() error{
		// Forwarding: off on the director (ulvs does it), on at the gateway.
		func() error { return l.Director.Sysctl("net.ipv4.ip_forward", "0") },
		func() error { return l.Gateway.NS.Sysctl("net.ipv4.ip_forward", "1") },
		// Front: client eth0 ↔ director front0.
		func() error { return e.Veth(l.Client.NS, "eth0", l.Director, "front0") },
		func() error { return l.Client.NS.AddrAdd("eth0", clientAddr.String()) },
		func() error { return l.Director.AddrAdd("front0", dirFrontAddr.String()) },
		// A veth hands unsegmented TSO/GSO super-frames to its peer, and an
		// AF_PACKET tap sees them whole; segment at the sender as a NIC
		// would on the wire, so that the director sees MTU-sized frames.
		func() error { return l.Client.NS.Offload("eth0", false, "tso", "gso") },
		// Return path: client eth1 ↔ gateway front.
		func() error { return e.Veth(l.Client.NS, "eth1", l.Gateway.NS, "front") },
		func() error { return l.Client.NS.AddrAdd("eth1", clientRetAddr.String()) },
		func() error { return l.Gateway.NS.AddrAdd("front", gwFrontAddr.String()) },
		func() error { return l.Gateway.NS.RouteAdd(ClientNet.String(), clientRetAddr.Addr().String()) },
		func() error { return l.Client.NS.RouteAdd(RealNet.String(), gwFrontAddr.Addr().String()) },
		// Replies to the client arrive on eth1 while the client's route to
		// their source (the VIP) is eth0: loose reverse-path filtering off.
		func() error { return l.Client.NS.Sysctl("net.ipv4.conf.all.rp_filter", "0") },
		func() error { return l.Client.NS.Sysctl("net.ipv4.conf.eth1.rp_filter", "0") },
		// Back: director back0, gateway back and every real's eth0 on br0.
		func() error { return e.Veth(l.Director, "back0", l.LAN, "p-dir") },
		func() error { return l.Director.AddrAdd("back0", dirBackAddr.String()) },
		func() error { return e.Veth(l.Gateway.NS, "back", l.LAN, "p-gw") },
		func() error { return l.Gateway.NS.AddrAdd("back", gwBackAddr.String()) },
	}
	ports := []string{"p-dir", "p-gw"}
	for i := range l.Reals {
		r := l.Reals[i].NS
		port := fmt.Sprintf("p-r%d", i)
		ports = append(ports, port)
		addr := RealAddr(i)
		steps = append(steps,
			func() error { return e.Veth(r, "eth0", l.LAN, port) },
			func() error { return r.AddrAdd("eth0", addr.String()) },
			func() error { return r.Offload("eth0", false, "tso", "gso") },
		)
	}
	steps = append(steps, func() error { return l.LAN.Bridge("br0", ports...) })
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}

	fill := func(n *NS, dev string, addr netip.Prefix, into *Iface) error {
		ifi, err := n.Interface(dev)
		if err != nil {
			return err
		}
		*into = Iface{Name: dev, Index: ifi.Index, MAC: ifi.HardwareAddr, Addr: addr}
		return nil
	}
	fills := []error{
		fill(l.Client.NS, "eth0", clientAddr, &l.Client.Dev),
		fill(l.Client.NS, "eth1", clientRetAddr, &l.ClientReturn),
		fill(l.Director, "front0", dirFrontAddr, &l.Front),
		fill(l.Director, "back0", dirBackAddr, &l.Back),
		fill(l.Gateway.NS, "back", gwBackAddr, &l.Gateway.Dev),
		fill(l.Gateway.NS, "front", gwFrontAddr, &l.GatewayFront),
	}
	for i := range l.Reals {
		fills = append(fills, fill(l.Reals[i].NS, "eth0", RealAddr(i), &l.Reals[i].Dev))
	}
	if err := errors.Join(fills...); err != nil {
		return nil, err
	}
	return l, nil
}

// RealAddr is the address of real server i: 10.0.2.(11+i)/24.
func RealAddr(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 2, byte(11 + i)}), 24)
}

// ConfigureReals prepares every real server for a forwarding method:
//
//   - NAT: default route via the director's back leg, no VIP.
//   - DR: VIP/32 on lo, arp_ignore=1 and arp_announce=2 so the reals never
//     answer ARP for the VIP, default route via the gateway.
//   - TUN: as DR, plus rp_filter=0, because decapsulated packets arrive on
//     a tunnel device (see internal/tunnel) while the route back to the
//     client points elsewhere.
//
// It may be called again to switch methods.
func (l *LVS) ConfigureReals(m balancer.Method) error {
	for i := range l.Reals {
		if err := l.ConfigureReal(i, m); err != nil {
			return err
		}
	}
	return nil
}

// ConfigureReal prepares real server i for method m (see ConfigureReals).
func (l *LVS) ConfigureReal(i int, m balancer.Method) error {
	r := l.Reals[i].NS
	vip := netip.PrefixFrom(l.VIP, 32).String()
	switch m {
	case balancer.NAT:
		_ = r.IP("addr", "del", vip, "dev", "lo") // absent unless switching from DR/TUN
		return r.IP("route", "replace", "default", "via", dirBackAddr.Addr().String())
	case balancer.DR, balancer.TUN:
		if err := r.IP("addr", "replace", vip, "dev", "lo"); err != nil {
			return err
		}
		rp := "1"
		if m == balancer.TUN {
			rp = "0"
		}
		for _, kv := range [][2]string{
			{"net.ipv4.conf.all.arp_ignore", "1"},
			{"net.ipv4.conf.eth0.arp_ignore", "1"},
			{"net.ipv4.conf.all.arp_announce", "2"},
			{"net.ipv4.conf.eth0.arp_announce", "2"},
			{"net.ipv4.conf.all.rp_filter", rp},
			{"net.ipv4.conf.eth0.rp_filter", rp},
		} {
			if err := r.Sysctl(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return r.IP("route", "replace", "default", "via", gwBackAddr.Addr().String())
	default:
		return fmt.Errorf("netns: no real-server setup for method %v", m)
	}
}
