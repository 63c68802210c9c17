package config

import (
	"net/netip"
	"strconv"
)

// VirtualAddress is one line of a virtual_ipaddress or
// virtual_ipaddress_excluded block with keepalived's options, for the
// addresses a VRRP master gives to the kernel (those that back no
// virtual_server; see Config.BacksVirtualServer):
//
//	192.168.1.10/24 [brd IP|+|-] [dev IF] [scope SCOPE] [label LABEL]
//	                [peer IP] [home] [-nodad] [mngtmpaddr] [noprefixroute]
//	                [autojoin] [no_track] [preferred_lft N|forever] [use_vmac]
//
// A line whose option is unusable is dropped with a warning, as keepalived
// drops it ("skipping VIP"); an unknown option is ignored with a warning.
type VirtualAddress struct {
	Pos      Pos
	Prefix   netip.Prefix
	Excluded bool // from virtual_ipaddress_excluded: owned, not advertised
	// Dev is the interface to add the address to; "" means the
	// instance's interface.
	Dev   string
	Label string // "" = none; at most 15 bytes
	// Scope is the address scope as ip-address(8) names it ("global",
	// "site", "link", "host", "nowhere") or a number; "" = global.
	Scope string
	// Broadcast is the IPv4 broadcast address; invalid = none. "brd +"
	// and "brd -" are resolved against Prefix.
	Broadcast netip.Addr
	// Peer is the other end of a point-to-point address; invalid = none.
	Peer netip.Addr
	// Flags are the IFA_F_* words written (home, -nodad, mngtmpaddr,
	// noprefixroute, autojoin), verbatim.
	Flags []string
	// NoTrack keeps the instance from going to FAULT when the address is
	// removed from the kernel behind its back.
	NoTrack bool
	// PreferredLft is preferred_lft in seconds; nil = the kernel's
	// default, and forever is 0xffffffff.
	PreferredLft *uint32
}

// scopes are the names of /etc/iproute2/rt_scopes.
var scopes = map[string]bool{"global": true, "site": true, "link": true, "host": true, "nowhere": true}

// virtualAddress reads the options after the address of one
// virtual_ipaddress line; ok is false when the line is dropped.
func (d *decoder) virtualAddress(c *Node, p netip.Prefix, excluded bool) (VirtualAddress, bool) {
	va := VirtualAddress{Pos: c.Pos, Prefix: p, Excluded: excluded}
	drop := func(format string, args ...any) (VirtualAddress, bool) {
		d.warnf(c, format+"; address dropped, as keepalived does", args...)
		return va, false
	}
	brd := ""
	for i := 0; i < len(c.Args); i++ {
		opt := c.Args[i]
		takesValue := map[string]bool{"dev": true, "scope": true, "brd": true, "broadcast": true, "label": true,
			"peer": true, "preferred_lft": true}[opt]
		if takesValue && i+1 == len(c.Args) {
			return drop("%s needs a value", opt)
		}
		switch opt {
		case "dev":
			i++
			if n := c.Args[i]; n == "" || len(n) > 15 {
				return drop("%q is not an interface name", n)
			}
			va.Dev = c.Args[i]
		case "scope":
			i++
			if _, err := strconv.ParseUint(c.Args[i], 0, 8); err != nil && !scopes[c.Args[i]] {
				d.warnf(c, "invalid scope %q ignored (global, site, link, host, nowhere or 0..255)", c.Args[i])
				continue
			}
			va.Scope = c.Args[i]
		case "brd", "broadcast":
			i++
			if p.Addr().Is6() {
				return drop("IPv6 addresses have no broadcast address")
			}
			brd = c.Args[i]
			if brd != "+" && brd != "-" {
				a, err := parseAddr(brd)
				if err != nil || !a.Is4() {
					return drop("broadcast %q is not an IPv4 address", brd)
				}
				va.Broadcast = a
			}
		case "label":
			i++
			if len(c.Args[i]) > 15 {
				return drop("label %q is longer than 15 bytes", c.Args[i])
			}
			va.Label = c.Args[i]
		case "peer":
			i++
			a, err := parseAddr(c.Args[i])
			if err != nil || a.Is4() != p.Addr().Is4() {
				d.warnf(c, "peer %q is not an address of the same family; ignored", c.Args[i])
				continue
			}
			va.Peer = a
		case "home", "-nodad", "mngtmpaddr", "noprefixroute", "autojoin":
			va.Flags = append(va.Flags, opt)
		case "no_track":
			va.NoTrack = true
		case "preferred_lft":
			i++
			v := uint64(0xffffffff)
			if c.Args[i] != "forever" {
				var err error
				if v, err = strconv.ParseUint(c.Args[i], 10, 32); err != nil {
					d.warnf(c, "preferred_lft %q is not a number of seconds or forever; ignored", c.Args[i])
					continue
				}
			}
			lft := uint32(v)
			va.PreferredLft = &lft
		case "use_vmac":
			d.warnf(c, "use_vmac: ulvs has no VMAC interfaces; ignored")
		default:
			d.warnf(c, "unknown option %q for a virtual address; ignored", opt)
		}
	}
	if brd == "+" || brd == "-" {
		base := p.Addr()
		if va.Peer.IsValid() {
			base = va.Peer
		}
		switch {
		case p.Bits() > 30:
			d.warnf(c, "prefix /%d is too long for a broadcast address; brd %s ignored", p.Bits(), brd)
		case brd == "+":
			b := base.As4()
			m := ^uint32(0) >> p.Bits()
			v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | m
			va.Broadcast = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		default:
			va.Broadcast = netip.PrefixFrom(base, p.Bits()).Masked().Addr()
		}
	}
	if va.Peer.IsValid() && va.Broadcast.IsValid() {
		d.warnf(c, "a peer and a broadcast address cannot both be set; broadcast ignored")
		va.Broadcast = netip.Addr{}
	}
	if p.Addr().Is6() && (va.Scope != "" || va.Label != "") {
		d.warnf(c, "IPv6 addresses take no scope or label; ignored")
		va.Scope, va.Label = "", ""
	}
	return va, true
}

// BacksVirtualServer reports whether a is the address of a virtual_server
// or lies in a virtual_server_group entry a virtual_server uses: such
// addresses ulvs owns in its responder, and the VRRP stage keeps them off
// the kernel; the others of a virtual_ipaddress block it adds to the
// kernel while MASTER, as keepalived does.
func (c *Config) BacksVirtualServer(a netip.Addr) bool {
	a = a.Unmap()
	for _, vs := range c.VirtualServers {
		if vs.Addr == a {
			return true
		}
		g := c.Group(vs.Group)
		if vs.Group == "" || g == nil {
			continue
		}
		for _, e := range g.Entries {
			if e.First.IsValid() && e.First.BitLen() == a.BitLen() && e.First.Compare(a) <= 0 && a.Compare(e.Last) <= 0 {
				return true
			}
		}
	}
	return false
}
