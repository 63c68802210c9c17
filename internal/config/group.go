package config

import (
	"encoding/binary"
	"fmt"
	"iter"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ulvs/ulvs/balancer"
)

// VirtualServerGroup is a virtual_server_group block: the addresses (and
// firewall marks) that every "virtual_server group NAME" block using it
// serves, each as its own IPVS service with the block's settings.
type VirtualServerGroup struct {
	Pos     Pos
	Name    string
	Entries []GroupEntry
}

// GroupEntry is one line of a virtual_server_group: an address, an address
// range or a CIDR prefix with an optional port, or a firewall mark.
type GroupEntry struct {
	Pos Pos
	// First and Last bound the addresses, inclusive; they are equal for a
	// single address and invalid for a fwmark entry.
	First, Last netip.Addr
	// Port is 0 when the line has none (or writes 0): every port, valid
	// only for a persistent service.
	Port uint16
	// FWMark is the firewall mark of a "fwmark N [inet|inet6]" line; Family
	// is 4, 6, or 0 when the line names no family.
	FWMark uint32
	Family int
}

// maxGroupEntryAddrs bounds one range or prefix. keepalived creates one
// IPVS service per address; 65536 is a /16 (IPv4) or a /112 (IPv6), the
// widest range keepalived itself iterates for IPv6.
const maxGroupEntryAddrs = 1 << 16

// count returns how many addresses the entry covers, or
// maxGroupEntryAddrs+1 for anything wider; 0 for a fwmark.
func (e GroupEntry) count() int {
	if !e.First.IsValid() {
		return 0
	}
	f, l := e.First.As16(), e.Last.As16()
	if [8]byte(f[:8]) != [8]byte(l[:8]) {
		return maxGroupEntryAddrs + 1 // far beyond any allowed range
	}
	d := binary.BigEndian.Uint64(l[8:]) - binary.BigEndian.Uint64(f[8:])
	if d >= maxGroupEntryAddrs {
		return maxGroupEntryAddrs + 1
	}
	return int(d) + 1
}

// Addrs yields the entry's addresses in order.
func (e GroupEntry) Addrs() iter.Seq[netip.Addr] {
	return func(yield func(netip.Addr) bool) {
		if !e.First.IsValid() {
			return
		}
		for a := e.First; ; a = a.Next() {
			if !yield(a) || a == e.Last {
				return
			}
		}
	}
}

// String returns the entry in keepalived syntax.
func (e GroupEntry) String() string {
	if !e.First.IsValid() {
		switch e.Family {
		case 4:
			return fmt.Sprintf("fwmark %d inet", e.FWMark)
		case 6:
			return fmt.Sprintf("fwmark %d inet6", e.FWMark)
		}
		return fmt.Sprintf("fwmark %d", e.FWMark)
	}
	s := e.First.String()
	if e.Last != e.First {
		s += "-" + e.Last.String()
	}
	if e.Port != 0 {
		s += " " + strconv.Itoa(int(e.Port))
	}
	return s
}

// Group returns the virtual_server_group called name, or nil.
func (c *Config) Group(name string) *VirtualServerGroup {
	for _, g := range c.Groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// decodeGroup decodes "virtual_server_group NAME { entries }". Like
// keepalived, a group without entries is dropped with a warning.
func (d *decoder) decodeGroup(n *Node, c *Config) {
	if !d.args(n, 1, 1, "virtual_server_group NAME { ... }") {
		return
	}
	if first := c.Group(n.Args[0]); first != nil {
		d.errorf(n, "merge the two blocks into one or rename one", "virtual_server_group %s is already defined at %v",
			n.Args[0], first.Pos)
		return
	}
	g := &VirtualServerGroup{Pos: n.Pos, Name: n.Args[0]}
	for _, ln := range n.Children {
		if e, ok := d.groupEntry(ln); ok {
			g.Entries = append(g.Entries, e)
		}
	}
	if len(g.Entries) == 0 {
		d.warnf(n, "virtual_server_group %s has no entries; removed, as keepalived does", g.Name)
		return
	}
	c.Groups = append(c.Groups, g)
}

// groupEntry parses one line of a virtual_server_group. The line's first
// word is the Node's keyword: an address form or "fwmark".
func (d *decoder) groupEntry(n *Node) (GroupEntry, bool) {
	const usage = "IP [PORT], IP-LAST [PORT] (e.g. 10.0.0.1-10 80 or 10.0.0.1-10.0.1.5 80), " +
		"PREFIX [PORT] (e.g. 10.0.0.0/29 80) or fwmark N [inet|inet6]"
	e := GroupEntry{Pos: n.Pos}
	if n.Block {
		d.errorf(n, "write one entry per line: "+usage, "a virtual_server_group entry takes no { } block")
		return e, false
	}
	if n.Keyword == "fwmark" {
		if !d.args(n, 1, 2, "fwmark N [inet|inet6]") {
			return e, false
		}
		v, ok := d.uintArg(n, 0, 1, 1<<32-1, "fwmark N (1..4294967295) [inet|inet6]")
		if !ok {
			return e, false
		}
		e.FWMark = uint32(v)
		if len(n.Args) == 2 {
			switch n.Args[1] {
			case "inet":
				e.Family = 4
			case "inet6":
				e.Family = 6
			default:
				d.errorf(n, "write fwmark N inet or fwmark N inet6", "unknown address family %q", n.Args[1])
				return e, false
			}
		}
		return e, true
	}
	d.args(n, 0, 1, usage)
	if len(n.Args) >= 1 {
		p, err := parsePort(n.Args[0])
		if err != nil {
			d.errorf(n, "write "+usage, "%v", err)
			return e, false
		}
		e.Port = p
	}
	first, last, err := parseAddrRange(n.Keyword)
	if err != nil {
		d.errorf(n, "write "+usage, "%v", err)
		return e, false
	}
	e.First, e.Last = first, last
	if e.count() > maxGroupEntryAddrs {
		d.errorf(n, "split it into ranges of at most 65536 addresses (a /16 or a /112)",
			"%s covers more than %d addresses, one service each", n.Keyword, maxGroupEntryAddrs)
		return e, false
	}
	return e, true
}

// parseAddrRange parses keepalived's address forms of a group entry:
// "A", "A-B" with B a whole address, "A-N" with N replacing A's last
// octet (decimal) or last 16-bit group (hex), and "A/LEN" whose host bits
// must be zero (the range is every address of the prefix).
func parseAddrRange(s string) (first, last netip.Addr, err error) {
	if strings.Contains(s, "/") {
		p, perr := netip.ParsePrefix(s)
		if perr != nil || p.Addr().Zone() != "" {
			return first, last, fmt.Errorf("%q is not an address prefix", s)
		}
		if p.Addr().Is4In6() {
			return first, last, fmt.Errorf("%q: write IPv4 prefixes in dotted form, e.g. 10.0.0.0/29", s)
		}
		if p.Bits() == 0 {
			return first, last, fmt.Errorf("%q: a /0 prefix covers every address", s)
		}
		if p.Masked() != p {
			return first, last, fmt.Errorf("%q has host bits set; write %v", s, p.Masked())
		}
		first = p.Addr().Unmap()
		return first, lastOf(p), nil
	}
	start, end, isRange := strings.Cut(s, "-")
	if first, err = parseAddr(start); err != nil {
		return first, last, err
	}
	if !isRange {
		return first, first, nil
	}
	if (first.Is4() && strings.Contains(end, ".")) || (first.Is6() && strings.Contains(end, ":")) {
		if last, err = parseAddr(end); err != nil {
			return first, last, fmt.Errorf("range end: %v", err)
		}
		if last.Is4() != first.Is4() {
			return first, last, fmt.Errorf("%q mixes IPv4 and IPv6", s)
		}
		if last.Less(first) {
			return first, last, fmt.Errorf("%q ends before it starts", s)
		}
		return first, last, nil
	}
	base, limit := 10, uint64(255)
	if first.Is6() {
		base, limit = 16, 0xffff
	}
	v, perr := strconv.ParseUint(end, base, 32)
	if perr != nil || v > limit {
		return first, last, fmt.Errorf("range end %q is not a number up to %d (the last %s of the address)", end, limit,
			map[bool]string{true: "octet, decimal", false: "16-bit group, hex"}[first.Is4()])
	}
	b := first.As16()
	var cur uint64
	if first.Is4() {
		cur = uint64(b[15])
		b[15] = byte(v)
		last = netip.AddrFrom16(b).Unmap()
	} else {
		cur = uint64(b[14])<<8 | uint64(b[15])
		b[14], b[15] = byte(v>>8), byte(v)
		last = netip.AddrFrom16(b)
	}
	if v <= cur {
		return first, last, fmt.Errorf("%q: the range end must be above the start's last part (%d)", s, cur)
	}
	return first, last, nil
}

// lastOf returns the highest address of p.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().As16()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	for i := bits; i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a := netip.AddrFrom16(b)
	if p.Addr().Is4() {
		return a.Unmap()
	}
	return a
}

// The group's virtual_server_group is registered here rather than in
// rootTable's literal so that the LVS group code stays in one file.
func init() {
	rootTable.add(needBlock, func(d *decoder, n *Node, c *Config) { d.decodeGroup(n, c) }, "virtual_server_group")
}

// maxGroupServices bounds the services all groups expand to, so that a
// file cannot make ulvs build millions of services.
const maxGroupServices = 1 << 16

// resolveGroups links every "virtual_server group NAME" to its group
// (which may come later in the file, as in keepalived), applies the
// corrections that depend on the group's entries, and rejects an address
// that two services would both serve. It returns the virtual servers
// that remain.
func (d *decoder) resolveGroups(c *Config) []*VirtualServer {
	kept := c.VirtualServers[:0]
	for _, vs := range c.VirtualServers {
		if vs.Group == "" {
			kept = append(kept, vs)
			continue
		}
		n := &Node{Pos: vs.Pos, Keyword: "virtual_server"}
		g := c.Group(vs.Group)
		if g == nil {
			names := make([]string, len(c.Groups))
			for i, g := range c.Groups {
				names[i] = g.Name
			}
			msg := fmt.Sprintf("virtual_server_group %s is not defined; virtual server ignored, as keepalived does", vs.Group)
			if s := closest(vs.Group, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			d.warnf(n, "%s", msg)
			continue
		}
		d.finishGroupServer(n, vs, g)
		kept = append(kept, vs)
	}

	// Every (protocol, address, port) belongs to one service.
	type owner struct {
		vs *VirtualServer
		e  *GroupEntry
	}
	seen := map[svcKey]owner{}
	total := 0
	for _, vs := range kept {
		if vs.Group == "" && vs.FWMark == 0 {
			seen[svcKey{vs.Protocol, netip.AddrPortFrom(vs.Addr, vs.Port)}] = owner{vs: vs}
		}
	}
	for _, vs := range kept {
		if vs.Group == "" {
			continue
		}
		g := c.Group(vs.Group)
		for i := range g.Entries {
			e := &g.Entries[i]
			total += e.count()
			if total > maxGroupServices {
				d.errs = append(d.errs, &Error{Pos: e.Pos, Keyword: vs.Group, Hint: "use fewer or narrower entries", fatal: true,
					Msg: fmt.Sprintf("virtual_server_group entries expand to more than %d services in total", maxGroupServices)})
				return kept
			}
			for a := range e.Addrs() {
				k := svcKey{vs.Protocol, netip.AddrPortFrom(a, e.Port)}
				if o, dup := seen[k]; dup {
					where := fmt.Sprintf("virtual_server at %v", o.vs.Pos)
					if o.e != nil {
						where = fmt.Sprintf("virtual_server_group %s entry at %v (used by the virtual_server at %v)",
							o.vs.Group, o.e.Pos, o.vs.Pos)
					}
					d.errs = append(d.errs, &Error{Pos: e.Pos, Keyword: vs.Group,
						Msg: fmt.Sprintf("%v %v of this virtual_server_group entry (used by the virtual_server at %v) is also served by the %s",
							vs.Protocol, k.ap, vs.Pos, where),
						Hint: "remove the address from one of them; each protocol, address and port is one service", fatal: true})
					break
				}
				seen[k] = owner{vs, e}
			}
		}
	}
	return kept
}

type svcKey struct {
	proto balancer.Protocol
	ap    netip.AddrPort
}

// finishGroupServer applies keepalived's corrections that depend on the
// group's entries (validate_check_config).
func (d *decoder) finishGroupServer(n *Node, vs *VirtualServer, g *VirtualServerGroup) {
	var addrs, marks, zeroPort bool
	fams := map[bool]bool{} // is4 -> present
	for _, e := range g.Entries {
		if e.First.IsValid() {
			addrs = true
			fams[e.First.Is4()] = true
			zeroPort = zeroPort || e.Port == 0
		} else {
			marks = true
		}
	}
	if addrs {
		if !vs.protoSet {
			d.warnf(n, "no protocol set; defaulting to UDP as keepalived does (write protocol TCP for TCP services)")
			vs.Protocol = balancer.UDP
		}
		if vs.ops && vs.Protocol != balancer.UDP {
			d.warnf(n, "ops (one-packet scheduling) requires UDP; ignored")
			vs.ops = false
		}
		if zeroPort && vs.Persistence == 0 {
			d.warnf(n, "virtual_server_group %s has an entry without a port, valid only for persistent services; "+
				"setting persistence_timeout 360 as keepalived does", g.Name)
			vs.Persistence = defaultPersistence
		}
	} else if vs.protoSet {
		d.warnf(n, "protocol is ignored: virtual_server_group %s holds only fwmark entries", g.Name)
		vs.Protocol = 0
	}
	if vs.ops {
		vs.Flags |= balancer.FlagOnePacket
	}
	if vs.HASuspend && marks {
		d.warnf(n, "ha_suspend cannot be used with fwmarks (virtual_server_group %s has some); cleared, as keepalived does", g.Name)
		vs.HASuspend = false
	}
	if !addrs {
		return
	}
	for _, rs := range vs.Reals {
		if rs.Method != balancer.TUN && !fams[rs.Addr.Is4()] {
			d.warnf(&Node{Pos: rs.Pos, Keyword: "real_server"},
				"%v is of the other address family than every address of virtual_server_group %s; it serves none of them (only TUN may mix families)",
				rs.Addr, g.Name)
		}
	}
}
