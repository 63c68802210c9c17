package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

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
	Addresses []VirtualAddress
	Routes    []IPRoute
	Rules     []IPRule
}

func init() {
	rootTable.add(needBlock, func(d *decoder, n *Node, c *Config) {
		c.Blocks = append(c.Blocks, n)
		var addrs []VirtualAddress
		d.vipBlock(n, false, &addrs)
		for _, a := range addrs {
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
			s, err := ParseScope(v)
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
