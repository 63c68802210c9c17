package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// VRRP is the VRRP part of a keepalived.conf: vrrp_instance, vrrp_script
// and vrrp_sync_group blocks, with keepalived's defaults applied and the
// global_defs vrrp_* defaults folded in. The blocks' Nodes also stay in
// Config.Blocks, in file order.
type VRRP struct {
	Instances  []*VRRPInstance
	Scripts    []*VRRPScript
	SyncGroups []*VRRPSyncGroup
}

// VRRPInstance is one vrrp_instance block.
type VRRPInstance struct {
	Pos  Pos
	Name string
	// State is the configured initial state, MASTER or BACKUP. With
	// MASTER and no priority, the priority is 255 (address owner).
	State     string
	Interface string
	VRID      uint8
	Priority  uint8         // 1..255, default 100
	AdvertInt time.Duration // default 1s; v2 whole seconds, v3 centiseconds
	Version   uint8         // 2 or 3, default vrrp_version (2)
	// AuthType is "" or "PASS"; AuthPass its first 8 bytes.
	AuthType string
	AuthPass string
	// VIPs are advertised and owned; ExcludedVIPs only owned.
	VIPs, ExcludedVIPs []netip.Prefix
	// Addresses are the same lines with their options (dev, label,
	// scope, brd, ...), VIPs first then ExcludedVIPs, for the addresses
	// the VRRP stage gives to the kernel (vip.go).
	Addresses          []VirtualAddress
	UnicastSrc         netip.Addr
	UnicastPeers       []netip.Addr
	McastSrc, McastDst netip.Addr
	CheckUnicastSrc    bool
	Preempt            bool // default true; nopreempt clears it
	PreemptDelay       time.Duration
	// Gratuitous ARP (keepalived's defaults: delay 5s, repeat 5, refresh
	// off, refresh_repeat 1; ulvs re-announces on a lower priority with
	// garp_lower_prio_repeat, default garp_master_repeat).
	GARPMasterDelay         time.Duration
	GARPMasterRepeat        int
	GARPMasterRefresh       time.Duration
	GARPMasterRefreshRepeat int
	GARPLowerPrioRepeat     int
	LowerPrioNoAdvert       bool
	// HigherPrioSendAdvert: a master yielding to a higher priority sends
	// one last advertisement so the new master re-announces (default on in
	// ulvs, off in keepalived).
	HigherPrioSendAdvert bool
	DownTimerAdverts     int  // default 3
	V3ChecksumAsV2       bool // send v3 checksums without the IPv4 pseudo-header
	TrackInterfaces      []VRRPTrack
	TrackScripts         []VRRPTrack
	Notify               VRRPNotify
	// Extra holds keywords keepalived knows and ulvs keeps unvalidated
	// (use_vmac, virtual_routes, ...).
	Extra []*Node
}

// VRRPTrack is a track_interface or track_script entry.
type VRRPTrack struct {
	Name      string
	Weight    int
	HasWeight bool // a weight was written (track_script entries otherwise take the script's)
}

// VRRPNotify are the notify commands of an instance or sync group.
type VRRPNotify struct {
	Master, Backup, Fault, Stop, Any string
}

// VRRPScript is a vrrp_script block.
type VRRPScript struct {
	Pos               Pos
	Name              string
	Script            string
	Interval, Timeout time.Duration
	Weight            int
	Rise, Fall        int
	Extra             []*Node
}

// VRRPSyncGroup is a vrrp_sync_group block.
type VRRPSyncGroup struct {
	Pos    Pos
	Name   string
	Group  []string
	Notify VRRPNotify
	Extra  []*Node
}

// vrrpState carries what was set explicitly in a vrrp_instance, so that
// defaults apply afterwards regardless of order.
type vrrpState struct {
	in                                                          *VRRPInstance
	node                                                        *Node
	priority, version, advert, garpDelay, garpRepeat, nopreempt bool
	garpRefresh, garpRefreshRepeat, garpLower, higherPrio       bool
	advertArg                                                   string
}

func init() {
	rootTable.add(needBlock, func(d *decoder, n *Node, c *Config) {
		c.Blocks = append(c.Blocks, n)
		if !d.args(n, 1, 1, "vrrp_instance NAME { ... }") {
			return
		}
		s := &vrrpState{in: &VRRPInstance{Pos: n.Pos, Name: n.Args[0], Preempt: true}, node: n}
		decodeBlock(d, vrrpInstanceTable, n, s)
		c.VRRP.Instances = append(c.VRRP.Instances, s.in)
		c.vrrpStates = append(c.vrrpStates, s)
	}, "vrrp_instance").
		add(needBlock, func(d *decoder, n *Node, c *Config) {
			c.Blocks = append(c.Blocks, n)
			if !d.args(n, 1, 1, "vrrp_script NAME { ... }") {
				return
			}
			s := &VRRPScript{Pos: n.Pos, Name: n.Args[0], Interval: time.Second, Rise: 1, Fall: 1}
			decodeBlock(d, vrrpScriptTable, n, s)
			if s.Script == "" {
				// keepalived removes it, and ignores the instances' tracking of it.
				d.warnf(n, "vrrp_script %s has no script; removed, as keepalived does (add script \"/path/to/check\")", s.Name)
				return
			}
			c.VRRP.Scripts = append(c.VRRP.Scripts, s)
		}, "vrrp_script").
		add(needBlock, func(d *decoder, n *Node, c *Config) {
			c.Blocks = append(c.Blocks, n)
			if !d.args(n, 1, 1, "vrrp_sync_group NAME { group { VI_1 VI_2 } }") {
				return
			}
			g := &VRRPSyncGroup{Pos: n.Pos, Name: n.Args[0]}
			decodeBlock(d, vrrpSyncTable, n, g)
			c.VRRP.SyncGroups = append(c.VRRP.SyncGroups, g)
		}, "vrrp_sync_group")
}

func notifyEntries[T any](t *table[T], notify func(*T) *VRRPNotify) *table[T] {
	for _, k := range []string{"notify_master", "notify_backup", "notify_fault", "notify_stop", "notify"} {
		t.add(noBlock, func(d *decoder, n *Node, v *T) {
			if !d.args(n, 1, -1, n.Keyword+` "/path/to/script args" [user [group]]`) {
				return
			}
			// keepalived takes one (quoted) command, then an optional user
			// and group that ulvs ignores (scripts run as ulvs's user).
			cmd := n.Args[0]
			nt := notify(v)
			switch n.Keyword {
			case "notify_master":
				nt.Master = cmd
			case "notify_backup":
				nt.Backup = cmd
			case "notify_fault":
				nt.Fault = cmd
			case "notify_stop":
				nt.Stop = cmd
			default:
				nt.Any = cmd
			}
		}, k)
	}
	return t
}

var vrrpInstanceTable = notifyEntries(newTable("vrrp_instance", func(s *vrrpState, n *Node) { s.in.Extra = append(s.in.Extra, n) }).
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		if !d.args(n, 1, 1, "state MASTER|BACKUP") {
			return
		}
		switch v := strings.ToUpper(n.Args[0]); v {
		case "MASTER", "BACKUP":
			s.in.State = v
		default:
			d.warnf(n, "unknown state %q; defaulting to BACKUP as keepalived does", n.Args[0])
			s.in.State = "BACKUP"
		}
	}, "state").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		if d.args(n, 1, 1, "interface eth0") && d.ifName(n) {
			s.in.Interface = n.Args[0]
		}
	}, "interface").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		if d.args(n, 1, 1, "virtual_router_id 1..255") {
			if v, ok := d.uintArg(n, 0, 1, 255, "virtual_router_id 1..255"); ok {
				s.in.VRID = uint8(v)
			}
		}
	}, "virtual_router_id").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		if d.args(n, 1, 1, "priority 1..255") {
			if v, ok := d.uintArg(n, 0, 1, 255, "priority 1..255 (255 owns the addresses)"); ok {
				s.in.Priority, s.priority = uint8(v), true
			}
		}
	}, "priority").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		if d.args(n, 1, 1, "advert_int SECONDS (v3: down to 0.01)") {
			v, err := parseTimer(n.Args[0])
			if err != nil || v <= 0 {
				d.errorf(n, "write advert_int 1, or for version 3 a fraction such as 0.1", "advert_int %q is not a positive number of seconds", n.Args[0])
				return
			}
			s.in.AdvertInt, s.advert, s.advertArg = v, true, n.Args[0]
		}
	}, "advert_int").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		if d.args(n, 1, 1, "version 2|3") {
			if v, ok := d.uintArg(n, 0, 2, 3, "version 2 or version 3"); ok {
				s.in.Version, s.version = uint8(v), true
			}
		}
	}, "version").
	add(needBlock, decodeAuthentication, "authentication").
	add(needBlock, func(d *decoder, n *Node, s *vrrpState) {
		s.in.VIPs = append(s.in.VIPs, d.vipBlock(n, false, &s.in.Addresses)...)
	}, "virtual_ipaddress").
	add(needBlock, func(d *decoder, n *Node, s *vrrpState) {
		s.in.ExcludedVIPs = append(s.in.ExcludedVIPs, d.vipBlock(n, true, &s.in.Addresses)...)
	}, "virtual_ipaddress_excluded").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		s.in.UnicastSrc = d.vrrpAddr(n, "unicast_src_ip 10.0.0.1")
	}, "unicast_src_ip").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		s.in.McastSrc = d.vrrpAddr(n, "mcast_src_ip 10.0.0.1")
	}, "mcast_src_ip").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		s.in.McastDst = d.vrrpAddr(n, "mcast_dst_ip 224.0.0.18")
		if s.in.McastDst.IsValid() && !s.in.McastDst.IsMulticast() {
			d.errorf(n, "write a multicast address, e.g. mcast_dst_ip 224.0.0.18", "%v is not multicast", s.in.McastDst)
		}
	}, "mcast_dst_ip").
	add(needBlock, func(d *decoder, n *Node, s *vrrpState) {
		for _, c := range n.Children {
			a, err := parseAddr(c.Keyword)
			if err != nil || !a.Is4() {
				d.errorf(c, "write one IPv4 peer address per line, optionally followed by min_ttl N max_ttl N", "unicast_peer: %q is not an IPv4 address", c.Keyword)
				continue
			}
			s.in.UnicastPeers = append(s.in.UnicastPeers, a)
		}
	}, "unicast_peer").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		if v, ok := d.optionalBool(n); ok {
			s.in.CheckUnicastSrc = v
		}
	}, "check_unicast_src").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		d.args(n, 0, 0, "nopreempt")
		s.in.Preempt, s.nopreempt = false, true
	}, "nopreempt").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		d.args(n, 0, 0, "preempt")
		s.in.Preempt = true
	}, "preempt").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		if v, ok := d.vrrpSeconds(n, 1000, "preempt_delay 0..1000 (seconds)"); ok {
			s.in.PreemptDelay = v
		}
	}, "preempt_delay").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		if v, ok := d.vrrpSeconds(n, 3600, "garp_master_delay SECONDS (0: no second burst)"); ok {
			s.in.GARPMasterDelay, s.garpDelay = v, true
		}
	}, "garp_master_delay").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		if d.args(n, 1, 1, "garp_master_repeat N") {
			if v, ok := d.uintArg(n, 0, 0, 255, "garp_master_repeat 0..255"); ok {
				s.in.GARPMasterRepeat, s.garpRepeat = int(v), true
			}
		}
	}, "garp_master_repeat").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		if v, ok := d.vrrpSeconds(n, 86400, "garp_master_refresh SECONDS (0: off)"); ok {
			s.in.GARPMasterRefresh, s.garpRefresh = v, true
		}
	}, "garp_master_refresh").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		if d.args(n, 1, 1, "garp_master_refresh_repeat N") {
			if v, ok := d.uintArg(n, 0, 1, 255, "garp_master_refresh_repeat 1..255"); ok {
				s.in.GARPMasterRefreshRepeat, s.garpRefreshRepeat = int(v), true
			}
		}
	}, "garp_master_refresh_repeat").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		if d.args(n, 1, 1, "garp_lower_prio_repeat N") {
			if v, ok := d.uintArg(n, 0, 0, 255, "garp_lower_prio_repeat 0..255"); ok {
				s.in.GARPLowerPrioRepeat, s.garpLower = int(v), true
			}
		}
	}, "garp_lower_prio_repeat").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		if v, ok := d.optionalBool(n); ok {
			s.in.LowerPrioNoAdvert = v
		}
	}, "lower_prio_no_advert").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		if v, ok := d.optionalBool(n); ok {
			s.in.HigherPrioSendAdvert, s.higherPrio = v, true
		}
	}, "higher_prio_send_advert").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		if v, ok := d.uintKeyword(n, 1, 100, "down_timer_adverts N", "down_timer_adverts 1..100"); ok {
			s.in.DownTimerAdverts = v
		}
	}, "down_timer_adverts").
	add(noBlock, func(d *decoder, n *Node, s *vrrpState) {
		if v, ok := d.optionalBool(n); ok {
			s.in.V3ChecksumAsV2 = v
		}
	}, "v3_checksum_as_v2").
	add(needBlock, func(d *decoder, n *Node, s *vrrpState) {
		s.in.TrackInterfaces = append(s.in.TrackInterfaces, d.trackBlock(n, true)...)
	}, "track_interface").
	add(needBlock, func(d *decoder, n *Node, s *vrrpState) {
		s.in.TrackScripts = append(s.in.TrackScripts, d.trackBlock(n, false)...)
	}, "track_script").
	known(anyBlock, "virtual_routes", "virtual_rules", "track_file", "track_process", "track_bfd", "garp_extra_if",
		"auth_hmac", "static_ipaddress").
	known(noBlock, "use_vmac", "vmac_xmit_base", "use_vmac_addr", "use_ipvlan", "dont_track_primary", "accept",
		"no_accept", "strict_mode", "skip_check_adv_addr", "garp_lower_prio_delay",
		"old_unicast_checksum", "unicast_ttl", "unicast_fault_no_peer", "smtp_alert", "notify_deleted",
		"notify_master_rx_lower_pri", "notify_priority_changes", "track_src_ip", "vrf", "debug",
		"no_virtual_ipaddress", "promote_secondaries", "kernel_rx_buf_size", "linkbeat_use_polling",
		"native_ipv6", "timer_expired_backup", "vrrp_garp_interval", "vrrp_gna_interval", "vrrp_min_garp"),
	func(s *vrrpState) *VRRPNotify { return &s.in.Notify })

func decodeAuthentication(d *decoder, n *Node, s *vrrpState) {
	for _, c := range n.Children {
		switch c.Keyword {
		case "auth_type":
			if !d.args(c, 1, 1, "auth_type PASS") {
				continue
			}
			switch strings.ToUpper(c.Args[0]) {
			case "PASS":
				s.in.AuthType = "PASS"
			case "AH":
				// keepalived runs AH; ulvs cannot, and says what that means
				// rather than refuse a file keepalived runs.
				d.warnf(c, "auth_type AH (IPsec AH) is not supported by ulvs: this instance runs without authentication "+
					"and will not agree with peers that use AH; use auth_type PASS, or no authentication block, on every director")
			default:
				d.errorf(c, "write auth_type PASS", "unknown auth_type %q", c.Args[0])
			}
		case "auth_pass":
			if d.args(c, 1, 1, "auth_pass SECRET (8 characters are used)") {
				p := c.Args[0]
				if len(p) > 8 {
					d.warnf(c, "only the first 8 characters of auth_pass are used, as in keepalived")
					p = p[:8]
				}
				s.in.AuthPass = p
			}
		default:
			d.unknown(c, "authentication", []string{"auth_type", "auth_pass"})
		}
	}
}

// vipBlock reads a virtual_ipaddress block: one address per line, with
// keepalived's options (dev, brd, label, scope, no_track, ...) after it,
// which it appends to addrs (see VirtualAddress).
func (d *decoder) vipBlock(n *Node, excluded bool, addrs *[]VirtualAddress) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range n.Children {
		s := c.Keyword
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			a, err = parseAddr(s)
			if err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			d.errorf(c, "write one address per line: 192.168.1.10/24 [dev eth0] [label eth0:1]", "%q is not an IP address", s)
			continue
		}
		if !p.Addr().Is4() {
			d.warnf(c, "IPv6 virtual addresses are not supported by ulvs's VRRP yet; ignored")
			continue
		}
		va, ok := d.virtualAddress(c, p, excluded)
		if !ok {
			continue
		}
		*addrs = append(*addrs, va)
		out = append(out, p)
	}
	return out
}

func (d *decoder) vrrpAddr(n *Node, usage string) netip.Addr {
	if !d.args(n, 1, 1, usage) {
		return netip.Addr{}
	}
	a, err := parseAddr(n.Args[0])
	if err != nil || !a.Is4() {
		d.errorf(n, "write "+usage, "%q is not an IPv4 address", n.Args[0])
		return netip.Addr{}
	}
	return a
}

func (d *decoder) vrrpSeconds(n *Node, most time.Duration, usage string) (time.Duration, bool) {
	if !d.args(n, 1, 1, usage) {
		return 0, false
	}
	v, err := parseTimer(n.Args[0])
	if err != nil || v > most*time.Second {
		d.errorf(n, "write "+usage, "%q is not a number of seconds up to %d", n.Args[0], most)
		return 0, false
	}
	return v, true
}

// trackBlock reads track_interface / track_script entries: NAME [weight N
// [reverse]].
func (d *decoder) trackBlock(n *Node, iface bool) []VRRPTrack {
	var out []VRRPTrack
	for _, c := range n.Children {
		t := VRRPTrack{Name: c.Keyword}
		for i := 0; i < len(c.Args); i++ {
			switch c.Args[i] {
			case "weight":
				if i+1 >= len(c.Args) {
					d.errorf(c, "write "+c.Keyword+" weight N (-253..253)", "weight needs a value")
					break
				}
				i++
				w, err := parseInt(c.Args[i], -253, 253)
				if err != nil {
					d.errorf(c, "write "+c.Keyword+" weight N (-253..253)", "weight %v", err)
					break
				}
				t.Weight, t.HasWeight = w, true
			case "reverse", "noreverse":
				d.warnf(c, "%s is not supported by ulvs yet; ignored", c.Args[i])
			default:
				d.errorf(c, "write "+c.Keyword+" [weight N]", "unknown option %q", c.Args[i])
			}
		}
		if iface {
			tmp := &Node{Pos: c.Pos, Keyword: c.Keyword, Args: []string{c.Keyword}}
			if !d.ifName(tmp) {
				continue
			}
		}
		out = append(out, t)
	}
	return out
}

func parseInt(s string, lo, hi int) (int, error) {
	neg := strings.HasPrefix(s, "-")
	v, err := parseUint(strings.TrimPrefix(s, "-"), 0, 1<<31)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	n := int(v)
	if neg {
		n = -n
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is outside %d..%d", n, lo, hi)
	}
	return n, nil
}

var vrrpScriptTable = newTable("vrrp_script", func(s *VRRPScript, n *Node) { s.Extra = append(s.Extra, n) }).
	add(noBlock, func(d *decoder, n *Node, s *VRRPScript) {
		if d.args(n, 1, -1, `script "/path/to/check args"`) {
			s.Script = strings.Join(n.Args, " ")
		}
	}, "script").
	add(noBlock, func(d *decoder, n *Node, s *VRRPScript) {
		if v, ok := d.vrrpSeconds(n, 86400, "interval SECONDS"); ok && v > 0 {
			s.Interval = v
		}
	}, "interval").
	add(noBlock, func(d *decoder, n *Node, s *VRRPScript) {
		if v, ok := d.vrrpSeconds(n, 86400, "timeout SECONDS"); ok {
			s.Timeout = v
		}
	}, "timeout").
	add(noBlock, func(d *decoder, n *Node, s *VRRPScript) {
		if d.args(n, 1, 2, "weight N (-253..253) [reverse]") {
			w, err := parseInt(n.Args[0], -253, 253)
			if err != nil {
				d.errorf(n, "write weight N (-253..253)", "weight %v", err)
				return
			}
			s.Weight = w
		}
	}, "weight").
	add(noBlock, func(d *decoder, n *Node, s *VRRPScript) {
		if v, ok := d.uintKeyword(n, 1, 1000, "rise N", "rise 1..1000"); ok {
			s.Rise = v
		}
	}, "rise").
	add(noBlock, func(d *decoder, n *Node, s *VRRPScript) {
		if v, ok := d.uintKeyword(n, 1, 1000, "fall N", "fall 1..1000"); ok {
			s.Fall = v
		}
	}, "fall").
	known(noBlock, "user", "init_fail")

var vrrpSyncTable = notifyEntries(newTable("vrrp_sync_group", func(g *VRRPSyncGroup, n *Node) { g.Extra = append(g.Extra, n) }).
	add(needBlock, func(d *decoder, n *Node, g *VRRPSyncGroup) {
		for _, c := range n.Children {
			g.Group = append(g.Group, c.Keyword)
			g.Group = append(g.Group, c.Args...)
		}
	}, "group").
	known(anyBlock, "track_interface", "track_script", "track_file", "track_process", "track_bfd").
	known(noBlock, "smtp_alert", "global_tracking", "sync_group_tracking_weight", "notify_deleted"),
	func(g *VRRPSyncGroup) *VRRPNotify { return &g.Notify })

// globalVRRP are the global_defs vrrp_* defaults an instance inherits.
type globalVRRP struct {
	version                                  uint8
	garpDelay, garpRefresh                   time.Duration
	garpRepeat, garpRefreshRepeat, garpLower int
	lowerPrioNoAdvert, checkUnicastSrc       bool
	higherPrioSendAdvert                     bool
}

func (d *decoder) globalVRRP(g *GlobalDefs) globalVRRP {
	v := g.VRRP
	lower := v.GarpLowerPrioRepeat
	if lower == 0 {
		lower = -1 // the instance's garp_master_repeat
	}
	return globalVRRP{
		version: uint8(v.Version), garpDelay: v.GarpMasterDelay, garpRefresh: v.GarpMasterRefresh,
		garpRepeat: v.GarpMasterRepeat, garpRefreshRepeat: v.GarpMasterRefreshRepeat, garpLower: lower,
		lowerPrioNoAdvert: v.LowerPrioNoAdvert, checkUnicastSrc: v.CheckUnicastSrc,
		higherPrioSendAdvert: v.HigherPrioSendAdvert,
	}
}

// finishVRRP applies defaults and checks what spans blocks: names, VRIDs,
// scripts and sync group members.
func (d *decoder) finishVRRP(c *Config) {
	g := d.globalVRRP(&c.Global)
	names := map[string]*VRRPInstance{}
	vrids := map[string]*VRRPInstance{}
	scripts := map[string]*VRRPScript{}
	for _, s := range c.VRRP.Scripts {
		if s.Timeout == 0 {
			s.Timeout = s.Interval
		}
		scripts[s.Name] = s
	}
	// An instance that cannot run (no name of its own, no VRID, no
	// interface, a VRID taken) is left out, as keepalived leaves it out;
	// without Options.Strict the error is a warning (decoder.lenient).
	kept := c.VRRP.Instances[:0]
	for _, s := range c.vrrpStates {
		in, n := s.in, s.node
		if first := names[in.Name]; first != nil {
			d.errorf(n, "give each vrrp_instance its own name", "vrrp_instance %s is already defined at %v; left out", in.Name, first.Pos)
			continue
		}
		if in.VRID == 0 {
			d.errorf(n, "add virtual_router_id N (1..255), the same on every director of this address set", "vrrp_instance %s has no virtual_router_id; left out", in.Name)
			continue
		}
		if in.Interface == "" {
			d.errorf(n, "add interface NAME: ulvs sends advertisements and gratuitous ARPs there", "vrrp_instance %s has no interface; left out", in.Name)
			continue
		}
		key := fmt.Sprintf("%s/%d", in.Interface, in.VRID)
		if first := vrids[key]; first != nil {
			d.errorf(n, "give each vrrp_instance on an interface its own virtual_router_id", "virtual_router_id %d on %s is already used by vrrp_instance %s; left out", in.VRID, in.Interface, first.Name)
			continue
		}
		names[in.Name] = in
		vrids[key] = in
		kept = append(kept, in)
		if !s.version {
			in.Version = g.version
		}
		if !s.priority {
			in.Priority = 100
			if in.State == "MASTER" {
				in.Priority = 255 // keepalived: MASTER without priority owns the addresses
			}
		}
		if !s.advert {
			in.AdvertInt = time.Second
		}
		if !in.McastDst.IsValid() {
			in.McastDst = c.Global.VRRP.McastGroup4 // vrrp_mcast_group4, 224.0.0.18 by default
		}
		if in.Version == 2 && in.AdvertInt%time.Second != 0 {
			d.errorf(n, "write a whole number of seconds, or use version 3 for sub-second adverts", "advert_int %s: VRRPv2 carries whole seconds; rounded up", s.advertArg)
			in.AdvertInt = in.AdvertInt.Truncate(time.Second) + time.Second
		}
		if in.Version == 3 && (in.AdvertInt%(10*time.Millisecond) != 0 || in.AdvertInt > 40950*time.Millisecond) {
			d.errorf(n, "write a multiple of 0.01 between 0.01 and 40.95", "advert_int %s: VRRPv3 carries centiseconds; rounded", s.advertArg)
			in.AdvertInt = min(max(in.AdvertInt.Round(10*time.Millisecond), 10*time.Millisecond), 40950*time.Millisecond)
		}
		if in.Version == 3 && in.AuthType != "" {
			d.errorf(n, "remove the authentication block, or use version 2", "VRRPv3 has no authentication; authentication ignored")
			in.AuthType, in.AuthPass = "", ""
		}
		if s.nopreempt && in.State == "MASTER" {
			d.warnf(n, "nopreempt needs state BACKUP (keepalived: \"the initial state must not be MASTER\"); set state BACKUP on every director")
		}
		if len(in.VIPs) > 255 {
			d.errorf(n, "move addresses to virtual_ipaddress_excluded", "%d virtual addresses; an advertisement carries at most 255, the rest are owned but not advertised", len(in.VIPs))
			in.ExcludedVIPs = append(in.VIPs[255:len(in.VIPs):len(in.VIPs)], in.ExcludedVIPs...)
			in.VIPs = in.VIPs[:255]
		}
		if !s.garpDelay {
			in.GARPMasterDelay = g.garpDelay
		}
		if !s.garpRepeat {
			in.GARPMasterRepeat = g.garpRepeat
		}
		if !s.garpRefresh {
			in.GARPMasterRefresh = g.garpRefresh
		}
		if !s.garpRefreshRepeat {
			in.GARPMasterRefreshRepeat = g.garpRefreshRepeat
		}
		if !s.garpLower {
			in.GARPLowerPrioRepeat = g.garpLower
			if in.GARPLowerPrioRepeat < 0 {
				in.GARPLowerPrioRepeat = in.GARPMasterRepeat
			}
		}
		in.LowerPrioNoAdvert = in.LowerPrioNoAdvert || g.lowerPrioNoAdvert
		if !s.higherPrio {
			in.HigherPrioSendAdvert = g.higherPrioSendAdvert
		}
		in.CheckUnicastSrc = in.CheckUnicastSrc || g.checkUnicastSrc
		if in.DownTimerAdverts == 0 {
			in.DownTimerAdverts = 3
		}
		tracked := in.TrackScripts[:0]
		for _, t := range in.TrackScripts {
			sc := scripts[t.Name]
			if sc == nil {
				d.warnf(n, "vrrp_instance %s tracks an undefined script %s; ignored, as keepalived does (define vrrp_script %s { script ... })", in.Name, t.Name, t.Name)
				continue
			}
			if !t.HasWeight {
				t.Weight = sc.Weight
			}
			tracked = append(tracked, t)
		}
		in.TrackScripts = tracked
	}
	inGroup := map[string]string{}
	for _, sg := range c.VRRP.SyncGroups {
		members := sg.Group[:0]
		for _, m := range sg.Group {
			if names[m] == nil {
				d.errs = append(d.errs, &Error{Pos: sg.Pos, Keyword: "vrrp_sync_group",
					Msg: fmt.Sprintf("vrrp_sync_group %s: no vrrp_instance %s; member left out", sg.Name, m), Hint: "fix the name or define the instance"})
				continue
			}
			if other, ok := inGroup[m]; ok {
				d.errs = append(d.errs, &Error{Pos: sg.Pos, Keyword: "vrrp_sync_group",
					Msg: fmt.Sprintf("vrrp_instance %s is already in vrrp_sync_group %s; left out of %s", m, other, sg.Name), Hint: "an instance can belong to one sync group"})
				continue
			}
			inGroup[m] = sg.Name
			members = append(members, m)
		}
		sg.Group = members
	}
	c.VRRP.Instances = kept
	c.vrrpStates = nil
}
