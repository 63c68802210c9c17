package config

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ulvs/ulvs/balancer"
)

// Announce says when a VIP is announced over BGP.
type Announce uint8

const (
	// AnnounceHealthy announces a VIP while at least one of its services
	// can serve (route health injection), the default.
	AnnounceHealthy Announce = iota
	// AnnounceAlways announces every VIP whatever the checks say.
	AnnounceAlways
)

// String returns the keyword form.
func (a Announce) String() string {
	if a == AnnounceAlways {
		return "always"
	}
	return "healthy"
}

// BGP is the "bgp { }" block inside the ulvs block: the embedded BGP
// speaker that announces the VIPs to the upstream routers, so that they
// spread flows over several active directors with ECMP.
//
//	bgp {
//	    local_as 65001
//	    router_id 10.0.1.11
//	    neighbor 10.0.1.1 {
//	        remote_as 65000
//	        hold_time 3        # keepalive = hold_time / 3
//	        password SECRET    # TCP MD5 (RFC 2385)
//	        port 179           # the neighbour's port
//	    }
//	    announce healthy       # healthy | always
//	    drain_time 5           # seconds between withdrawing and exiting
//	}
type BGP struct {
	Pos       Pos
	LocalAS   uint32
	RouterID  netip.Addr // invalid: the first neighbour's local address
	Neighbors []*BGPNeighbor
	Announce  Announce
	// DrainTime is how long the director keeps forwarding after it has
	// withdrawn its routes on SIGTERM or drain; 0 means DefaultDrainTime.
	DrainTime time.Duration
}

// DefaultBGPHoldTime is BGP's usual hold time (RFC 4271 suggests 90 s).
const DefaultBGPHoldTime = 90 * time.Second

// DefaultDrainTime is drain_time when unset.
const DefaultDrainTime = 5 * time.Second

// BGPNeighbor is one "neighbor ADDR { }" of the bgp block.
type BGPNeighbor struct {
	Pos      Pos
	Addr     netip.Addr
	RemoteAS uint32
	HoldTime time.Duration // 0: DefaultBGPHoldTime
	Password string        // TCP MD5 key; empty: none
	Port     uint16        // 0: 179
}

func init() {
	ulvsTable.add(needBlock, func(d *decoder, n *Node, u *ULVS) {
		if u.BGP != nil {
			d.errorf(n, "merge the two bgp blocks into one", "bgp is already defined at %v", u.BGP.Pos)
			return
		}
		b := &BGP{Pos: n.Pos}
		decodeBlock(d, bgpTable, n, b)
		if b.LocalAS == 0 {
			d.errorf(n, "add local_as N, e.g. local_as 65001", "bgp needs local_as")
		}
		if len(b.Neighbors) == 0 {
			d.errorf(n, "add neighbor ADDR { remote_as N }", "bgp has no neighbor")
		}
		if b.DrainTime == 0 {
			b.DrainTime = DefaultDrainTime
		}
		u.BGP = b
	}, "bgp")
}

var bgpTable = newTable("the bgp block", func(*BGP, *Node) {}).
	add(noBlock, func(d *decoder, n *Node, b *BGP) {
		if v, ok := d.asNumber(n); ok {
			b.LocalAS = v
		}
	}, "local_as").
	add(noBlock, func(d *decoder, n *Node, b *BGP) {
		if !d.args(n, 1, 1, "router_id 10.0.1.11") {
			return
		}
		a, err := parseAddr(n.Args[0])
		if err != nil || !a.Is4() || a.IsUnspecified() {
			d.errorf(n, "write a non-zero IPv4 address, e.g. router_id 10.0.1.11 (BGP identifiers are 32 bits)",
				"%q is not a router id", n.Args[0])
			return
		}
		b.RouterID = a
	}, "router_id").
	add(needBlock, func(d *decoder, n *Node, b *BGP) {
		if !d.args(n, 1, 1, "neighbor 10.0.1.1 { remote_as 65000 }") {
			return
		}
		a, err := parseAddr(n.Args[0])
		if err != nil || a.IsUnspecified() || a.IsMulticast() {
			d.errorf(n, "write the router's unicast address, e.g. neighbor 10.0.1.1 { remote_as 65000 }",
				"%q is not a neighbour address", n.Args[0])
			return
		}
		for _, o := range b.Neighbors {
			if o.Addr == a {
				d.errorf(n, "merge the two neighbor blocks into one", "neighbor %v is already defined at %v", a, o.Pos)
				return
			}
		}
		nb := &BGPNeighbor{Pos: n.Pos, Addr: a}
		decodeBlock(d, neighborTable, n, nb)
		if nb.RemoteAS == 0 {
			d.errorf(n, "add remote_as N inside the neighbor block", "neighbor %v needs remote_as", a)
			return
		}
		b.Neighbors = append(b.Neighbors, nb)
	}, "neighbor").
	add(noBlock, func(d *decoder, n *Node, b *BGP) {
		if !d.args(n, 1, 1, "announce healthy|always") {
			return
		}
		switch n.Args[0] {
		case "healthy":
			b.Announce = AnnounceHealthy
		case "always":
			b.Announce = AnnounceAlways
		default:
			d.errorf(n, "write announce healthy (while a real server is up, the default) or announce always",
				"unknown mode %q", n.Args[0])
		}
	}, "announce").
	add(noBlock, func(d *decoder, n *Node, b *BGP) {
		if !d.args(n, 1, 1, "drain_time SECONDS") {
			return
		}
		v, err := parseTimer(n.Args[0])
		if err != nil || v > time.Hour {
			if err == nil {
				err = fmt.Errorf("%v is longer than an hour", v)
			}
			d.errorf(n, "write drain_time 5 (seconds, at most 3600)", "%v", err)
			return
		}
		b.DrainTime = v
	}, "drain_time")

var neighborTable = newTable("a bgp neighbor block", func(*BGPNeighbor, *Node) {}).
	add(noBlock, func(d *decoder, n *Node, nb *BGPNeighbor) {
		if v, ok := d.asNumber(n); ok {
			nb.RemoteAS = v
		}
	}, "remote_as").
	add(noBlock, func(d *decoder, n *Node, nb *BGPNeighbor) {
		// RFC 4271 4.2: zero (no keepalives) or at least three seconds.
		const usage = "hold_time 3 (0, or 3..65535 seconds)"
		if v, ok := d.uintKeyword(n, 0, 65535, usage, usage); ok {
			if v == 1 || v == 2 {
				d.errorf(n, "write "+usage, "a hold time of %d s is not allowed by BGP (RFC 4271)", v)
				return
			}
			nb.HoldTime = time.Duration(v) * time.Second
		}
	}, "hold_time").
	add(noBlock, func(d *decoder, n *Node, nb *BGPNeighbor) {
		if !d.args(n, 1, 1, "password SECRET") {
			return
		}
		// Linux's TCP_MD5SIG_MAXKEYLEN.
		if len(n.Args[0]) > 80 {
			d.errorf(n, "write a key of at most 80 bytes", "the TCP MD5 key is %d bytes long", len(n.Args[0]))
			return
		}
		nb.Password = n.Args[0]
	}, "password").
	add(noBlock, func(d *decoder, n *Node, nb *BGPNeighbor) {
		if v, ok := d.uintKeyword(n, 1, 65535, "port 179", "port N (1..65535)"); ok {
			nb.Port = uint16(v)
		}
	}, "port")

// asNumber parses a 4-byte AS number (RFC 6793); 0 and AS_TRANS are
// reserved.
func (d *decoder) asNumber(n *Node) (uint32, bool) {
	if !d.args(n, 1, 1, n.Keyword+" 65001") {
		return 0, false
	}
	v, ok := d.uintArg(n, 0, 1, 1<<32-1, n.Keyword+" N (1..4294967295, not 23456)")
	if ok && v == 23456 {
		d.errorf(n, "write your own AS number", "23456 is AS_TRANS, reserved (RFC 6793)")
		return 0, false
	}
	return uint32(v), ok
}

// checkBGP warns about services that BGP cannot spread over several
// directors: NAT replies return through the director that rewrote them,
// and the router sends each flow's packets to whichever director ECMP
// picks, so replies and requests would meet different directors.
func (d *decoder) checkBGP(cfg *Config) {
	if cfg.ULVS.BGP == nil {
		return
	}
	for _, vs := range cfg.VirtualServers {
		nat := false
		for _, r := range vs.Reals {
			if r.Method == balancer.NAT {
				nat = true
			}
		}
		if nat {
			d.warns = append(d.warns, Warning{Pos: vs.Pos, Keyword: "virtual_server", Msg: fmt.Sprintf(
				"%s uses NAT and bgp announces its VIP: with several directors behind ECMP the replies return "+
					"to the director that rewrote them, not the one the client's packets reach; use lb_kind DR or TUN, "+
					"or announce it from one director only", vs.identity())})
		}
	}
}
