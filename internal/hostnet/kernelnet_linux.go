package hostnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ulvs/ulvs/internal/config"
)

// protoKeepalived is RTPROT_KEEPALIVED: the protocol keepalived stamps on
// its routes and rules, so `ip route show proto keepalived` lists ulvs's
// too.
const protoKeepalived = 18

// AddAddress gives the kernel an address of a virtual_ipaddress (or
// static_ipaddress) line on dev, with the line's label, scope, broadcast
// and peer, as `ip addr add` does. An address already there is left as it
// is.
func AddAddress(a config.VirtualAddress, dev string) error {
	link, na, err := kernelAddr(a, dev)
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(link, na); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("adding %v to %s: %w", a.Prefix, dev, err)
	}
	return nil
}

// DelAddress removes what AddAddress added; an address that is not there
// is no error.
func DelAddress(a config.VirtualAddress, dev string) error {
	link, na, err := kernelAddr(a, dev)
	if err != nil {
		return err
	}
	if err := netlink.AddrDel(link, na); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing %v from %s: %w", a.Prefix, dev, err)
	}
	return nil
}

func kernelAddr(a config.VirtualAddress, dev string) (netlink.Link, *netlink.Addr, error) {
	link, err := netlink.LinkByName(dev)
	if err != nil {
		return nil, nil, fmt.Errorf("interface %q for %v: %w (list them with `ip link`)", dev, a.Prefix, err)
	}
	scope, err := config.ParseScope(a.Scope)
	if err != nil {
		return nil, nil, fmt.Errorf("%v: %w", a.Prefix, err)
	}
	// No brd unless written, as `ip addr add` and keepalived (netlink
	// would otherwise compute one; IPv4zero turns that off).
	na := &netlink.Addr{IPNet: ipNet(a.Prefix), Label: a.Label, Scope: int(scope)}
	if a.Prefix.Addr().Is4() {
		na.Broadcast = net.IPv4zero
	}
	if a.Broadcast.IsValid() {
		na.Broadcast = net.IP(a.Broadcast.AsSlice())
	}
	if a.Peer.IsValid() {
		na.Peer = ipNet(netip.PrefixFrom(a.Peer, a.Prefix.Bits()))
	}
	for _, f := range a.Flags {
		na.Flags |= addrFlags[f]
	}
	if a.PreferredLft != nil {
		na.PreferedLft, na.ValidLft = int(*a.PreferredLft), int(^uint32(0)) // valid forever
	}
	return link, na, nil
}

// addrFlags are the IFA_F_* flags of ip-address(8)'s words.
var addrFlags = map[string]int{"home": unix.IFA_F_HOMEADDRESS, "-nodad": unix.IFA_F_NODAD,
	"mngtmpaddr": unix.IFA_F_MANAGETEMPADDR, "noprefixroute": unix.IFA_F_NOPREFIXROUTE,
	"autojoin": unix.IFA_F_MCAUTOJOIN}

// AddRoute installs a virtual_routes or static_routes line, replacing a
// route to the same destination (as keepalived's RTM_NEWROUTE with
// NLM_F_REPLACE does), so a stale copy from a crashed run is no error.
func AddRoute(r config.IPRoute) error {
	nr, err := kernelRoute(r)
	if err != nil {
		return err
	}
	if err := netlink.RouteReplace(nr); err != nil {
		return fmt.Errorf("adding route to %v: %w", r.Dst, err)
	}
	return nil
}

// DelRoute removes what AddRoute installed; a route that is gone is no
// error.
func DelRoute(r config.IPRoute) error {
	nr, err := kernelRoute(r)
	if err != nil {
		return err
	}
	if err := netlink.RouteDel(nr); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing route to %v: %w", r.Dst, err)
	}
	return nil
}

func kernelRoute(r config.IPRoute) (*netlink.Route, error) {
	nr := &netlink.Route{Dst: ipNet(r.Dst), Table: r.Table, Priority: r.Metric, Family: unix.AF_INET,
		Protocol: netlink.RouteProtocol(r.Protocol)}
	if r.Protocol == 0 {
		nr.Protocol = protoKeepalived
	}
	if r.Dev != "" {
		link, err := netlink.LinkByName(r.Dev)
		if err != nil {
			return nil, fmt.Errorf("interface %q for the route to %v: %w", r.Dev, r.Dst, err)
		}
		nr.LinkIndex = link.Attrs().Index
	}
	if r.Src.IsValid() {
		nr.Src = net.IP(r.Src.AsSlice())
	}
	if r.Via.IsValid() {
		nr.Gw = net.IP(r.Via.AsSlice())
	}
	if r.OnLink {
		nr.Flags |= int(netlink.FLAG_ONLINK)
	}
	switch r.Type {
	case "blackhole":
		nr.Type = unix.RTN_BLACKHOLE
	case "unreachable":
		nr.Type = unix.RTN_UNREACHABLE
	case "prohibit":
		nr.Type = unix.RTN_PROHIBIT
	case "throw":
		nr.Type = unix.RTN_THROW
	default:
		nr.Type = unix.RTN_UNICAST
	}
	// keepalived sends the scope only when written, so a route without
	// a gateway is global, not link as ip(8) would make it.
	nr.Scope = netlink.SCOPE_UNIVERSE
	if r.HasScope {
		nr.Scope = netlink.Scope(r.Scope)
	}
	return nr, nil
}

// AddRule installs a virtual_rules or static_rules line. A rule already
// there (same selectors, priority and action) is left as it is.
func AddRule(r config.IPRule) error {
	nr := kernelRule(r)
	if err := netlink.RuleAdd(nr); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("adding rule %s: %w", ruleString(r), err)
	}
	return nil
}

// DelRule removes one rule AddRule installed; a rule that is gone is no
// error.
func DelRule(r config.IPRule) error {
	if err := netlink.RuleDel(kernelRule(r)); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("removing rule %s: %w", ruleString(r), err)
	}
	return nil
}

func kernelRule(r config.IPRule) *netlink.Rule {
	nr := netlink.NewRule()
	nr.Family = unix.AF_INET
	nr.Priority = r.Priority
	nr.Protocol = protoKeepalived
	if r.From.IsValid() {
		nr.Src = ipNet(r.From)
	}
	if r.To.IsValid() {
		nr.Dst = ipNet(r.To)
	}
	if r.HasMark {
		nr.Mark = r.Mark
		mask := r.Mask
		nr.Mask = &mask
	}
	nr.IifName, nr.OifName = r.IIF, r.OIF
	nr.Tos = uint(r.TOS)
	nr.Invert = r.Invert
	nr.SuppressPrefixlen = r.SuppressPrefix
	switch {
	case r.Goto > 0:
		nr.Goto = r.Goto
		nr.Type = unix.FR_ACT_GOTO
	case r.Action == "blackhole":
		nr.Type = unix.FR_ACT_BLACKHOLE
	case r.Action == "unreachable":
		nr.Type = unix.FR_ACT_UNREACHABLE
	case r.Action == "prohibit":
		nr.Type = unix.FR_ACT_PROHIBIT
	default:
		nr.Table = r.Table
		nr.Type = unix.FR_ACT_TO_TBL
	}
	return nr
}

func ruleString(r config.IPRule) string {
	from, to := "all", "all"
	if r.From.IsValid() {
		from = r.From.String()
	}
	if r.To.IsValid() {
		to = r.To.String()
	}
	return fmt.Sprintf("from %s to %s table %d", from, to, r.Table)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
