package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// IPAddress is one line of virtual_ipaddress, virtual_ipaddress_excluded
// or static_ipaddress: ADDR[/LEN] with the options keepalived hands to the
// kernel (ip-address(8) names). A VIP that backs a virtual_server is
// answered by ulvs's ARP responder and these options do not apply; any
// other goes to the kernel with them (docs/vrrp.md).
type IPAddress struct {
	Pos    Pos
	Prefix netip.Prefix // ADDR/32 when no length is written
	// Dev is the interface (default: the instance's interface).
	Dev   string
	Label string
	Scope uint8 // rtnetlink scope: 0 global, 200 site, 253 link, 254 host
	// Broadcast is brd ADDR, or brd + (the prefix's last address).
	Broadcast     netip.Addr
	Peer          netip.Prefix
	NoPrefixRoute bool
	// NoTrack: keepalived does not fault the instance when this address
	// disappears; ulvs never does, so it is accepted for the record.
	NoTrack bool
}

// IPRoute is one line of virtual_routes or static_routes.
type IPRoute struct {
	Pos Pos
	// Type is "" (unicast) or blackhole, unreachable, prohibit, throw.
	Type     string
	Dst      netip.Prefix
	Src, Via netip.Addr
	Dev      string
	// Scope is set when HasScope; otherwise global, as keepalived sends
	// it (ip(8) would make a route without a gateway link scope).
	Scope    uint8
	HasScope bool
	Table    int // 0: main
	Metric   int
	Protocol int // 0: keepalived's default, RTPROT_KEEPALIVED (18)
	OnLink   bool
	NoTrack  bool
}

// IPRule is one line of virtual_rules or static_rules (ip-rule(8)).
type IPRule struct {
	Pos      Pos
	From, To netip.Prefix // invalid: all
	// Priority is 16384 when not given, as keepalived sets it.
	Priority int
	// Table is the lookup table; Goto a rule priority to jump to; Action
	// is "" (lookup or goto) or blackhole, unreachable, prohibit.
	Table, Goto      int
	Action           string
	Mark, Mask       uint32
	HasMark          bool
	IIF, OIF         string
	TOS              uint8
	Invert, NoTrack  bool
	SuppressPrefix   int // -1 when not given
	hasTable, hasAct bool
}

// StaticNet holds static_ipaddress, static_routes and static_rules:
// applied when ulvs starts and removed when it stops, as keepalived does.
type StaticNet struct {
	Addresses []IPAddress
	Routes    []IPRoute
	Rules     []IPRule
}

func init() {
	rootTable.add(needBlock, func(d *decoder, n *Node, c *Config) {
		c.Blocks = append(c.Blocks, n)
		for _, a := range d.ipAddresses(n) {
			if a.Dev == "" {
				d.warnf(n, "%v has no dev; keepalived needs one for a static address, ulvs skips it", a.Prefix)
				continue
			}
			c.Static.Addresses = append(c.Static.Addresses, a)
		}
	}, "static_ipaddress").
		add(needBlock, func(d *decoder, n *Node, c *Config) {
			c.Blocks = append(c.Blocks, n)
			c.Static.Routes = append(c.Static.Routes, d.ipRoutes(n)...)
		}, "static_routes").
		add(needBlock, func(d *decoder, n *Node, c *Config) {
			c.Blocks = append(c.Blocks, n)
			c.Static.Rules = append(c.Static.Rules, d.ipRules(n)...)
		}, "static_rules")
	vrrpInstanceTable.add(needBlock, func(d *decoder, n *Node, s *vrrpState) {
		s.in.VirtualRoutes = append(s.in.VirtualRoutes, d.ipRoutes(n)...)
	}, "virtual_routes").
		add(needBlock, func(d *decoder, n *Node, s *vrrpState) {
			s.in.VirtualRules = append(s.in.VirtualRules, d.ipRules(n)...)
		}, "virtual_rules")
}

// ipAddresses reads an address block. As in keepalived, nothing in it is
// fatal: an option ulvs does not apply, or a bad scope, is named in a
// warning and the address kept; a bad address, a bad brd or peer, or an
// option without its value skips the line with a warning.
func (d *decoder) ipAddresses(n *Node) []IPAddress {
	var out []IPAddress
	for _, c := range n.Children {
		p, err := parsePrefixOrAddr(c.Keyword)
		if err != nil {
			d.warnf(c, "%q is not an IP address; skipped, as keepalived skips it (write 192.168.1.10/24 [dev eth0] [label eth0:1])", c.Keyword)
			continue
		}
		if !p.Addr().Is4() {
			d.warnf(c, "IPv6 addresses are not supported by ulvs's VRRP yet; %v ignored", p)
			continue
		}
		a := IPAddress{Pos: c.Pos, Prefix: p}
		args := c.Args
		skip := func(format string, args ...any) {
			if !a.Prefix.IsValid() {
				return // one warning per line
			}
			d.warnf(c, "%v skipped, as keepalived skips it: %s", p, fmt.Sprintf(format, args...))
			a.Prefix = netip.Prefix{}
		}
		for i := 0; i < len(args); i++ {
			opt := args[i]
			val := func() (string, bool) {
				if i+1 >= len(args) {
					skip("%s needs a value", opt)
					return "", false
				}
				i++
				return args[i], true
			}
			switch opt {
			case "dev":
				if v, ok := val(); ok {
					a.Dev = v
				}
			case "label":
				if v, ok := val(); ok {
					a.Label = v
				}
			case "scope":
				if v, ok := val(); ok {
					if s, err := parseScope(v); err != nil {
						d.warnf(c, "%v; the address keeps scope global (write global, site, link, host or nowhere)", err)
					} else {
						a.Scope = s
					}
				}
			case "brd", "broadcast":
				if v, ok := val(); ok {
					if b, ok := broadcast(p, v); ok {
						a.Broadcast = b
					} else {
						skip("brd %q is not an IPv4 address (write brd ADDR, or brd + for the prefix's last address)", v)
					}
				}
			case "peer":
				if v, ok := val(); ok {
					if pp, err := parsePrefixOrAddr(v); err != nil || !pp.Addr().Is4() {
						skip("peer %q is not an IPv4 address", v)
					} else {
						a.Peer = pp
					}
				}
			case "noprefixroute":
				a.NoPrefixRoute = true
			case "no_track":
				a.NoTrack = true
			case "home", "-nodad", "autojoin":
				d.warnf(c, "%s applies to IPv6 addresses (or multicast joins); ignored", opt)
			case "preferred_lft":
				if v, ok := val(); ok {
					d.warnf(c, "preferred_lft %s is not applied by ulvs; the address keeps an infinite lifetime", v)
				}
			case "track_group":
				if _, ok := val(); ok {
					d.warnf(c, "track_group is not supported by ulvs; ignored")
				}
			default:
				d.warnf(c, "unknown address option %q; ignored, as keepalived ignores it", opt)
			}
		}
		if a.Prefix.IsValid() {
			out = append(out, a)
		}
	}
	return out
}

// broadcast reads brd's value: an address, + (the prefix's last address)
// or - (none).
func broadcast(p netip.Prefix, v string) (netip.Addr, bool) {
	switch v {
	case "+":
		return lastAddr(p.Masked()), true
	case "-":
		return netip.Addr{}, true
	}
	b, err := parseAddr(v)
	return b, err == nil && b.Is4()
}

// routeTypes are the ip-route(8) types ulvs applies besides unicast.
var routeTypes = map[string]bool{"blackhole": true, "unreachable": true, "prohibit": true, "throw": true}

// ipRoutes reads a route block. A line with a form ulvs cannot apply
// (multipath "or", IPv6, route metrics such as mtu) is named in a warning
// and skipped whole: half a route would send traffic elsewhere.
func (d *decoder) ipRoutes(n *Node) []IPRoute {
	var out []IPRoute
	for _, c := range n.Children {
		if r, ok := d.ipRoute(c); ok {
			out = append(out, r)
		}
	}
	return out
}

func (d *decoder) ipRoute(c *Node) (IPRoute, bool) {
	words := append([]string{c.Keyword}, c.Args...)
	r := IPRoute{Pos: c.Pos}
	skip := func(format string, args ...any) (IPRoute, bool) {
		d.warnf(c, "route %q not applied: %s", strings.Join(words, " "), fmt.Sprintf(format, args...))
		return IPRoute{}, false
	}
	// keepalived refuses the file for a keyword without its value and
	// skips the line for a bad value.
	missing := false
	bad := func(format string, args ...any) (IPRoute, bool) {
		if !missing {
			return skip(format, args...)
		}
		d.errorf(c, "write [src ADDR] [to] DEST/LEN [via GW] [dev IF] [scope S] [table N] [metric N]", format, args...)
		return IPRoute{}, false
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		val := func() (string, bool) {
			if i+1 >= len(words) {
				missing = true
				return "", false
			}
			i++
			return words[i], true
		}
		switch {
		case w == "src" || w == "via" || w == "gw":
			v, ok := val()
			a, err := parseAddr(v)
			if !ok || err != nil {
				return bad("%s needs an address", w)
			}
			if !a.Is4() {
				return skip("IPv6 routes are not supported by ulvs yet")
			}
			if w == "src" {
				r.Src = a
			} else {
				r.Via = a
			}
		case w == "or":
			return skip("multipath (or) routes are not supported by ulvs")
		case w == "dev":
			v, ok := val()
			if !ok {
				return bad("dev needs an interface name")
			}
			r.Dev = v
		case w == "scope":
			v, ok := val()
			s, err := parseScope(v)
			if !ok || err != nil {
				return bad("scope needs global, site, link, host or nowhere")
			}
			r.Scope, r.HasScope = s, true
		case w == "table":
			v, ok := val()
			t, err := parseTable(v)
			if !ok || err != nil {
				return skip("table %q: %v", v, err)
			}
			r.Table = t
		case w == "metric" || w == "preference" || w == "priority":
			v, ok := val()
			m, err := parseUint(v, 0, 1<<32-1)
			if !ok || err != nil {
				return bad("%s needs a whole number", w)
			}
			r.Metric = int(m)
		case w == "protocol" || w == "proto":
			v, ok := val()
			p, err := parseProtocol(v)
			if !ok || err != nil {
				return skip("protocol %q: %v", v, err)
			}
			r.Protocol = p
		case w == "onlink":
			r.OnLink = true
		case w == "no_track":
			r.NoTrack = true
		case w == "to":
		case routeTypes[w]:
			r.Type = w
		case w == "unicast":
		case !r.Dst.IsValid() && (strings.ContainsAny(w, "./:") || w == "default"):
			p, err := parseDest(w)
			if err != nil {
				return bad("%q is not a destination prefix", w)
			}
			if !p.Addr().Is4() {
				return skip("IPv6 routes are not supported by ulvs yet")
			}
			r.Dst = p
		default:
			return skip("option %q is not supported by ulvs", w)
		}
	}
	if !r.Dst.IsValid() {
		return bad("no destination")
	}
	if r.Type == "" && r.Dev == "" && !r.Via.IsValid() {
		return bad("a route needs dev IF or via GW")
	}
	return r, true
}

// ipRules reads a rule block; a line with a selector ulvs cannot apply
// (uidrange, ipproto, sport, ...) is named in a warning and skipped.
func (d *decoder) ipRules(n *Node) []IPRule {
	var out []IPRule
	for _, c := range n.Children {
		if r, ok := d.ipRule(c); ok {
			out = append(out, r)
		}
	}
	return out
}

// defaultRulePriority is keepalived's for a rule written without one.
const defaultRulePriority = 16384

func (d *decoder) ipRule(c *Node) (IPRule, bool) {
	words := append([]string{c.Keyword}, c.Args...)
	r := IPRule{Pos: c.Pos, Priority: -1, SuppressPrefix: -1}
	skip := func(format string, args ...any) (IPRule, bool) {
		d.warnf(c, "rule %q not applied: %s", strings.Join(words, " "), fmt.Sprintf(format, args...))
		return IPRule{}, false
	}
	missing := false // as for routes: fatal in keepalived, a bad value only skips
	bad := func(format string, args ...any) (IPRule, bool) {
		if !missing {
			return skip(format, args...)
		}
		d.errorf(c, "write [from ADDR/LEN] [to ADDR/LEN] [iif IF] [fwmark N] [priority N] table N", format, args...)
		return IPRule{}, false
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		v, hasVal := "", i+1 < len(words)
		if hasVal {
			v = words[i+1]
		}
		takes := ruleTakesValue[w]
		if takes && !hasVal {
			missing = true
			return bad("%s needs a value", w)
		}
		switch w {
		case "from", "to":
			var p netip.Prefix
			if v != "all" {
				var err error
				if p, err = parsePrefixOrAddr(v); err != nil {
					return bad("%s %q is not an address", w, v)
				}
				if !p.Addr().Is4() {
					return skip("IPv6 rules are not supported by ulvs yet")
				}
			}
			if w == "from" {
				r.From = p
			} else {
				r.To = p
			}
		case "table", "lookup":
			t, err := parseTable(v)
			if err != nil {
				return skip("table %q: %v", v, err)
			}
			r.Table, r.hasTable = t, true
		case "priority", "preference", "pref":
			p, err := parseUint(v, 0, 1<<32-1)
			if err != nil {
				return bad("%s needs a whole number", w)
			}
			r.Priority = int(p)
		case "goto":
			p, err := parseUint(v, 1, 1<<32-1)
			if err != nil {
				return bad("goto needs a rule priority")
			}
			r.Goto, r.hasAct = int(p), true
		case "fwmark":
			mark, mask, err := parseMark(v)
			if err != nil {
				return bad("fwmark %q: %v", v, err)
			}
			r.Mark, r.Mask, r.HasMark = mark, mask, true
		case "iif", "dev":
			r.IIF = v
		case "oif":
			r.OIF = v
		case "tos", "dsfield":
			t, err := strconv.ParseUint(v, 0, 8)
			if err != nil {
				return bad("tos %q is not a number", v)
			}
			r.TOS = uint8(t)
		case "suppress_prefixlength":
			p, err := parseUint(v, 0, 32)
			if err != nil {
				return bad("suppress_prefixlength needs 0..32")
			}
			r.SuppressPrefix = int(p)
		default:
			switch w {
			case "not":
				r.Invert = true
			case "no_track":
				r.NoTrack = true
			case "blackhole", "unreachable", "prohibit":
				r.Action, r.hasAct = w, true
			default:
				return skip("selector %q is not supported by ulvs", w)
			}
		}
		if takes {
			i++
		}
	}
	if !r.hasTable && !r.hasAct {
		return bad("a rule needs table N, goto N or an action (blackhole, unreachable, prohibit)")
	}
	if r.Priority < 0 {
		d.warnf(c, "rule has no priority; %d, as keepalived sets it", defaultRulePriority)
		r.Priority = defaultRulePriority
	}
	return r, true
}
