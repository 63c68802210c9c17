// Package preflight checks that a host is set up so that ulvs can forward
// without the kernel getting in the way, and says exactly what to change
// when it is not. It also prints what each real server needs for its
// forwarding method.
package preflight

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/ulvs/ulvs/balancer"
)

// Severity orders findings: an Error makes `ulvs run` refuse to start.
type Severity uint8

// Severities, least to most serious.
const (
	OK Severity = iota
	Info
	Warn
	Error
)

func (s Severity) String() string {
	return [...]string{"ok", "info", "warn", "error"}[s]
}

// Finding is one check's result. Fix is a command or setting that resolves
// it, when there is one.
type Finding struct {
	Severity Severity
	Check    string
	Message  string
	Fix      string
}

func (f Finding) String() string {
	s := fmt.Sprintf("%-5s %-12s %s", f.Severity, f.Check, f.Message)
	if f.Fix != "" {
		s += "\n      fix: " + f.Fix
	}
	return s
}

// Setup is what the checks look at.
type Setup struct {
	ClientIface string // where clients' packets for the VIPs arrive
	RealIface   string // where the real servers are (may equal ClientIface)
	Services    []balancer.ServiceConfig
	// KernelDrop says ulvs installs nftables ingress rules that keep the
	// kernel stack away from the traffic it forwards.
	KernelDrop bool
}

// Host is the view of the host the checks need; System reads the real one,
// tests pass a fake.
type Host interface {
	AddrOwner(a netip.Addr) (string, error)
	Sysctl(name string) (string, error)
	Offloads(ifname string) (gro, lro bool, err error)
	// Route returns the egress interface and gateway (invalid when on-link)
	// towards dst.
	Route(dst netip.Addr) (iface string, gateway netip.Addr, err error)
	InterfaceExists(name string) bool
}

// Check runs every check and returns the findings, most serious first.
func Check(h Host, s Setup) []Finding {
	var out []Finding
	add := func(sev Severity, check, msg, fix string) {
		out = append(out, Finding{sev, check, msg, fix})
	}
	ifaces := uniq(s.ClientIface, s.RealIface)
	for _, ifc := range ifaces {
		if !h.InterfaceExists(ifc) {
			add(Error, "interface", fmt.Sprintf("interface %s does not exist", ifc),
				"name an existing interface in the ulvs block (interface_clients / interface_reals) or check `ip link`")
		}
	}

	vips := map[netip.Addr]bool{}
	anyDirect, anyNAT := false, false
	for _, svc := range s.Services {
		if svc.Key.Addr.IsValid() {
			vips[svc.Key.Addr] = true
		}
		for _, r := range svc.Reals {
			if r.Method == balancer.NAT {
				anyNAT = true
			} else {
				anyDirect = true
			}
		}
	}
	for _, vip := range sortedAddrs(vips) {
		owner, err := h.AddrOwner(vip)
		switch {
		case err != nil:
			add(Warn, "vip", fmt.Sprintf("could not list addresses: %v", err), "")
		case owner != "":
			add(Error, "vip", fmt.Sprintf("VIP %v is assigned to kernel interface %s: the kernel would answer ARP and accept connections for it alongside ulvs", vip, owner),
				fmt.Sprintf("ip addr del %v/32 dev %s   (ulvs answers ARP for its VIPs itself)", vip, owner))
		default:
			add(OK, "vip", fmt.Sprintf("VIP %v is not on a kernel interface; ulvs answers ARP for it", vip), "")
		}
	}

	fwd, _ := h.Sysctl("net.ipv4.ip_forward")
	switch {
	case fwd == "1" && !s.KernelDrop:
		add(Error, "ip_forward", "net.ipv4.ip_forward=1 and kernel_drop is off: the kernel would forward VIP traffic and NAT replies too, and clients would get duplicates and resets",
			"sysctl -w net.ipv4.ip_forward=0, or turn kernel_drop on in the ulvs block")
	case fwd == "1":
		add(OK, "ip_forward", "ip_forward=1: the kernel routes DR/TUN replies; ulvs's ingress drop rules keep it off the traffic ulvs forwards", "")
	case anyDirect:
		add(Info, "ip_forward", "ip_forward=0: DR/TUN real servers must send replies through a router other than this director",
			"if the real servers' default route points at this director: sysctl -w net.ipv4.ip_forward=1 (kernel_drop keeps the kernel off VIP traffic)")
	default:
		add(OK, "ip_forward", "ip_forward=0", "")
	}

	if fwd == "1" && anyDirect && s.RealIface != "" {
		all, _ := h.Sysctl("net.ipv4.conf.all.rp_filter")
		dev, _ := h.Sysctl("net.ipv4.conf." + s.RealIface + ".rp_filter")
		if all == "1" || dev == "1" {
			add(Error, "rp_filter", fmt.Sprintf("strict reverse-path filtering on %s drops DR/TUN replies (source VIP) that real servers route through this director", s.RealIface),
				fmt.Sprintf("sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.%s.rp_filter=2", s.RealIface))
		} else {
			add(OK, "rp_filter", "rp_filter allows replies from the VIP on "+s.RealIface, "")
		}
	}

	for _, ifc := range ifaces {
		if !h.InterfaceExists(ifc) {
			continue
		}
		gro, lro, err := h.Offloads(ifc)
		switch {
		case err != nil:
			add(Warn, "offloads", fmt.Sprintf("could not read offloads of %s: %v", ifc, err), "")
		case gro || lro:
			add(Error, "offloads", fmt.Sprintf("receive offloads are on for %s (gro=%v lro=%v): ulvs would see merged frames larger than the MTU and could not forward them", ifc, gro, lro),
				fmt.Sprintf("ethtool -K %s gro off lro off", ifc))
		default:
			add(OK, "offloads", "gro and lro are off on "+ifc, "")
		}
	}

	for _, svc := range s.Services {
		for _, r := range svc.Reals {
			ifc, gw, err := h.Route(r.Addr)
			name := fmt.Sprintf("real %v (%v)", netip.AddrPortFrom(r.Addr, r.Port), r.Method)
			switch {
			case err != nil:
				add(Error, "route", fmt.Sprintf("%s: no route: %v", name, err), fmt.Sprintf("ip route add %v dev %s", r.Addr, s.RealIface))
			case s.RealIface != "" && ifc != s.RealIface:
				add(Error, "route", fmt.Sprintf("%s is reached through %s, not the real-server interface %s", name, ifc, s.RealIface),
					"set interface_reals in the ulvs block to "+ifc+" or fix the route")
			case r.Method == balancer.DR && gw.IsValid():
				add(Error, "route", fmt.Sprintf("%s is behind gateway %v: DR needs the real server on the director's L2 segment", name, gw),
					"use TUN for real servers in other networks (lvs_method TUN)")
			case r.Method == balancer.DR && r.Port != svc.Key.Port && r.Port != 0:
				add(Warn, "port", fmt.Sprintf("%s: DR cannot change the port; packets arrive at port %d", name, svc.Key.Port), "set the real server's port to the VIP port")
			default:
				add(OK, "route", name+" reachable via "+ifc, "")
			}
		}
	}
	_ = anyNAT
	sort.SliceStable(out, func(i, j int) bool { return out[i].Severity > out[j].Severity })
	return out
}

// Worst returns the most serious severity among the findings.
func Worst(fs []Finding) Severity {
	w := OK
	for _, f := range fs {
		w = max(w, f.Severity)
	}
	return w
}

// RealServerCommands returns, per real server, the shell commands that set
// it up for its method. directorAddr is the director's address on the real
// servers' network (their gateway for NAT).
func RealServerCommands(s Setup, directorAddr netip.Addr) []string {
	var out []string
	seen := map[string]bool{}
	for _, svc := range s.Services {
		for _, r := range svc.Reals {
			key := fmt.Sprintf("%v/%v/%v", r.Addr, r.Method, svc.Key.Addr)
			if seen[key] {
				continue
			}
			seen[key] = true
			var cmds []string
			switch r.Method {
			case balancer.NAT:
				gw := "<director address on this network>"
				if directorAddr.IsValid() {
					gw = directorAddr.String()
				}
				cmds = []string{
					"# NAT: replies must come back through the director",
					"ip route replace default via " + gw,
				}
			case balancer.DR:
				cmds = []string{
					"# DR: the real server owns the VIP but must not answer ARP for it",
					fmt.Sprintf("ip addr add %v/32 dev lo", svc.Key.Addr),
					"sysctl -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2",
					"sysctl -w net.ipv4.conf.lo.arp_ignore=1 net.ipv4.conf.lo.arp_announce=2",
				}
			case balancer.TUN:
				cmds = []string{
					"# TUN: decapsulate IPIP and answer from the VIP",
					fmt.Sprintf("ip addr add %v/32 dev lo", svc.Key.Addr),
					"modprobe ipip && ip link set tunl0 up && sysctl -w net.ipv4.conf.tunl0.rp_filter=0",
					"#   or, without the ipip module: ulvs tunnel -i <interface>",
					"sysctl -w net.ipv4.conf.all.rp_filter=0",
					"sysctl -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2",
				}
			}
			out = append(out, fmt.Sprintf("real server %v (%v for %v):\n  %s", r.Addr, r.Method, svc.Key,
				strings.Join(cmds, "\n  ")))
		}
	}
	return out
}

func uniq(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" && !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func sortedAddrs(m map[netip.Addr]bool) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}
