package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/ulvs/ulvs/balancer"
)

// keepalived defaults (check_data.c, check_parser.c, ipvswrapper.h).
const (
	defaultScheduler      = "wlc"
	defaultDelayLoop      = 60 * time.Second
	defaultPersistence    = 360 * time.Second // IPVS_SVC_PERSISTENT_TIMEOUT, for a bare persistence_timeout
	defaultWeight         = 1
	defaultConnectTimeout = 5 * time.Second
	weightLimit           = 65535 // IPVS_WEIGHT_LIMIT
)

// schedulers are the IPVS scheduler names keepalived passes to the kernel.
var schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"}

// checkerBlocks are the health-check blocks of a real_server.
var checkerBlocks = []string{"HTTP_GET", "SSL_GET", "TCP_CHECK", "MISC_CHECK", "SMTP_CHECK", "DNS_CHECK",
	"UDP_CHECK", "PING_CHECK", "FILE_CHECK", "BFD_CHECK"}

var rootTable = newTable("the top level", func(c *Config, n *Node) { c.Blocks = append(c.Blocks, n) }).
	add(needBlock, func(d *decoder, n *Node, c *Config) {
		c.Global.Pos = n.Pos
		decodeBlock(d, globalTable, n, &c.Global)
	}, "global_defs").
	add(needBlock, func(d *decoder, n *Node, c *Config) {
		if vs := d.virtualServer(n); vs != nil {
			c.VirtualServers = append(c.VirtualServers, vs)
		}
	}, "virtual_server").
	add(needBlock, func(d *decoder, n *Node, c *Config) {
		c.ULVS.Pos = n.Pos
		decodeBlock(d, ulvsTable, n, &c.ULVS)
	}, "ulvs").
	// VRRP, groups and the rest of keepalived's top-level blocks: kept for
	// the issues that give them behaviour.
	known(needBlock, "vrrp_instance", "vrrp_script", "vrrp_sync_group", "garp_group", "virtual_server_group",
		"SSL", "static_ipaddress", "static_routes", "static_rules", "track_group", "linkbeat_interfaces",
		"vrrp_track_process", "track_process", "track_file", "vrrp_track_file",
		"interface_up_down_delays").
	add(needBlock, func(d *decoder, n *Node, c *Config) { d.bfdInstance(n, c) }, "bfd_instance").
	// keepalived's top-level process settings (global_parser.c roots).
	known(noBlock, "net_namespace", "net_namespace_ipvs", "namespace_with_ipsets", "use_pid_dir", "instance",
		"child_wait_time", "linkbeat_use_polling")

// decodeLVSTimeouts parses "lvs_timeouts [tcp N] [tcpfin N] [udp N]".
func decodeLVSTimeouts(d *decoder, n *Node, g *GlobalDefs) {
	const usage = "lvs_timeouts tcp 900 tcpfin 120 udp 300 (seconds, any subset)"
	if !d.args(n, 2, -1, usage) {
		return
	}
	for i := 0; i < len(n.Args); i += 2 {
		var dst *time.Duration
		switch n.Args[i] {
		case "tcp":
			dst = &g.LVSTimeouts.TCP
		case "tcpfin":
			dst = &g.LVSTimeouts.TCPFin
		case "udp":
			dst = &g.LVSTimeouts.UDP
		default:
			d.errorf(n, "write "+usage, "unknown timeout %q", n.Args[i])
			return
		}
		if i+1 >= len(n.Args) {
			d.errorf(n, "write "+usage, "no value for %s", n.Args[i])
			return
		}
		v, err := parseUint(n.Args[i+1], 0, lvsMaxTimeout)
		if err != nil {
			d.errorf(n, "write "+usage+"; 0 keeps the default", "%s: %v", n.Args[i], err)
			return
		}
		*dst = time.Duration(v) * time.Second
	}
}

var ulvsTable = newTable("the ulvs block", func(*ULVS, *Node) {}).
	add(noBlock, func(d *decoder, n *Node, u *ULVS) {
		if d.args(n, 1, 1, n.Keyword+" eth0") && d.ifName(n) {
			u.InterfaceClients = n.Args[0]
		}
	}, "interface_clients").
	add(noBlock, func(d *decoder, n *Node, u *ULVS) {
		if d.args(n, 1, 1, n.Keyword+" eth1") && d.ifName(n) {
			u.InterfaceReals = n.Args[0]
		}
	}, "interface_reals").
	add(noBlock, func(d *decoder, n *Node, u *ULVS) {
		if !d.args(n, 1, 1, "workers N (1..1024) or workers auto") {
			return
		}
		if n.Args[0] == "auto" {
			u.Workers = 0
			return
		}
		if v, ok := d.uintArg(n, 0, 1, 1024, "workers N (1..1024) or workers auto"); ok {
			u.Workers = int(v)
		}
	}, "workers").
	add(noBlock, func(d *decoder, n *Node, u *ULVS) {
		if v, ok := d.uintKeyword(n, 1024, 1<<30, "max_conns N (1024..1073741824)", "max_conns N (1024..1073741824)"); ok {
			u.MaxConns = v
		}
	}, "max_conns").
	add(noBlock, func(d *decoder, n *Node, u *ULVS) {
		if v, ok := d.uintKeyword(n, 64, 65536, "tx_ring_frames N (64..65536)", "tx_ring_frames N (64..65536)"); ok {
			u.TxRingFrames = v
		}
	}, "tx_ring_frames").
	add(noBlock, func(d *decoder, n *Node, u *ULVS) {
		if !d.args(n, 1, 1, "admin_socket /run/ulvs.sock") {
			return
		}
		p := n.Args[0]
		if !strings.HasPrefix(p, "/") || len(p) > 107 {
			d.errorf(n, "write an absolute path shorter than 108 bytes, e.g. admin_socket /run/ulvs.sock",
				"%q is not a usable unix socket path", p)
			return
		}
		u.AdminSocket = p
	}, "admin_socket").
	add(noBlock, func(d *decoder, n *Node, u *ULVS) {
		if !d.args(n, 1, 1, "io ring|plain") {
			return
		}
		switch n.Args[0] {
		case "ring":
			u.IO = IORing
		case "plain":
			u.IO = IOPlain
		default:
			d.errorf(n, "write io ring (AF_PACKET rings, the default) or io plain", "unknown io mode %q", n.Args[0])
		}
	}, "io").
	add(noBlock, func(d *decoder, n *Node, u *ULVS) {
		const usage = "metrics_listen 127.0.0.1:9117 (host:port, host may be empty for every address)"
		if !d.args(n, 1, 1, usage) {
			return
		}
		if _, err := netip.ParseAddrPort(n.Args[0]); err != nil {
			host, port, herr := net.SplitHostPort(n.Args[0])
			if herr != nil || host != "" {
				d.errorf(n, "write "+usage, "%q is not an address and port", n.Args[0])
				return
			}
			if _, perr := parsePort(port); perr != nil {
				d.errorf(n, "write "+usage, "%q: %v", n.Args[0], perr)
				return
			}
		}
		u.MetricsListen = n.Args[0]
	}, "metrics_listen").
	add(noBlock, func(d *decoder, n *Node, u *ULVS) {
		if v, ok := d.optionalBool(n); ok {
			u.KeepNodestConn = !v
		}
	}, "expire_nodest_conn").
	add(noBlock, func(d *decoder, n *Node, u *ULVS) {
		if v, ok := d.optionalBool(n); ok {
			u.SloppyTCP = v
		}
	}, "sloppy_tcp").
	add(noBlock, func(d *decoder, n *Node, u *ULVS) {
		if v, ok := d.optionalBool(n); ok {
			u.TxZeroCopy = v
		}
	}, "tx_zero_copy")

func (d *decoder) ifName(n *Node) bool {
	s := n.Args[0]
	if s == "" || len(s) > 15 || strings.ContainsAny(s, "/ \t") || s == "." || s == ".." {
		d.errorf(n, "write a Linux interface name of at most 15 characters, e.g. eth0", "%q is not an interface name", s)
		return false
	}
	return true
}

// decodeRoot decodes the whole tree and applies the ulvs defaults.
func (d *decoder) decodeRoot(root *Node) *Config {
	cfg := &Config{Global: defaultGlobalDefs()}
	decodeBlock(d, rootTable, root, cfg)
	d.finishVRRP(cfg)
	d.finishLVSSync(cfg)
	d.warnTrackBFD(cfg)
	d.decodeHealth(cfg)
	if cfg.ULVS.AdminSocket == "" {
		cfg.ULVS.AdminSocket = DefaultAdminSocket
	}
	cfg.VirtualServers = d.resolveGroups(cfg)
	d.checkBGP(cfg)
	seen := map[string]*VirtualServer{}
	kept := cfg.VirtualServers[:0]
	for _, vs := range cfg.VirtualServers {
		key := vs.identity()
		if first, ok := seen[key]; ok {
			d.errs = append(d.errs, &Error{Pos: vs.Pos, Keyword: "virtual_server",
				Msg:  fmt.Sprintf("%s is already defined at %v; this block is left out", key, first.Pos),
				Hint: "merge the two blocks into one"})
			continue
		}
		seen[key] = vs
		kept = append(kept, vs)
	}
	cfg.VirtualServers = kept
	return cfg
}

// identity is what makes two virtual servers the same IPVS service.
func (vs *VirtualServer) identity() string {
	switch {
	case vs.FWMark != 0:
		return fmt.Sprintf("fwmark %d", vs.FWMark)
	case vs.Group != "":
		return fmt.Sprintf("%v group %s", vs.Protocol, vs.Group)
	}
	return fmt.Sprintf("%v %v", vs.Protocol, netip.AddrPortFrom(vs.Addr, vs.Port))
}

// vsState carries what was explicitly set while a virtual_server block is
// decoded, so that defaults apply afterwards regardless of order.
type vsState struct {
	vs                  *VirtualServer
	protoSet, methodSet bool
	ops                 bool
	shFlags, mhFlags    []*Node

	sorry          *SorryServer
	sorryMethod    balancer.Method
	sorryTunnel    Tunnel
	sorryMethodSet bool
}

var vsTable = newTable("virtual_server", func(s *vsState, n *Node) { s.vs.Extra = append(s.vs.Extra, n) }).
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		if v, ok := d.timerArg(n, "delay_loop 6 (seconds, fractions allowed)"); ok {
			s.vs.DelayLoop = v
		}
	}, "delay_loop").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		if !d.args(n, 1, 1, n.Keyword+" wlc") {
			return
		}
		for _, name := range schedulers {
			if n.Args[0] == name {
				s.vs.Scheduler = name
				return
			}
		}
		d.errorf(n, "write one of "+strings.Join(schedulers, " "), "unknown scheduler %q", n.Args[0])
	}, "lb_algo", "lvs_sched").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		if m, t, ok := d.method(n); ok {
			s.vs.Method, s.vs.Tunnel, s.methodSet = m, t, true
		}
	}, "lb_kind", "lvs_method").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		if !d.args(n, 1, 1, "protocol TCP|UDP|SCTP") {
			return
		}
		switch strings.ToUpper(n.Args[0]) {
		case "TCP":
			s.vs.Protocol = balancer.TCP
		case "UDP":
			s.vs.Protocol = balancer.UDP
		case "SCTP":
			s.vs.Protocol = balancer.SCTP
		default:
			d.errorf(n, "write protocol TCP, protocol UDP or protocol SCTP", "unknown protocol %q", n.Args[0])
			return
		}
		s.protoSet = true
	}, "protocol").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		if len(n.Args) == 0 {
			s.vs.Persistence = defaultPersistence
			return
		}
		d.args(n, 0, 1, "persistence_timeout SECONDS")
		if v, ok := d.uintArg(n, 0, 1, lvsMaxTimeout, "persistence_timeout 300 (1..2678400 seconds), or the bare keyword for 360"); ok {
			s.vs.Persistence = time.Duration(v) * time.Second
		}
	}, "persistence_timeout").
	add(noBlock, decodeGranularity, "persistence_granularity").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		if !d.args(n, 1, 1, "weight 1 (1..65535)") {
			return
		}
		if v, ok := d.uintArg(n, 0, 1, weightLimit, "weight 1 (1..65535)"); ok {
			s.vs.Weight = uint32(v)
		}
	}, "weight").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		d.args(n, 0, 0, "inhibit_on_failure")
		s.vs.InhibitOnFailure = true
	}, "inhibit_on_failure").
	add(noBlock, func(d *decoder, n *Node, s *vsState) { d.args(n, 0, 0, n.Keyword); s.ops = true }, "ops").
	add(noBlock, func(d *decoder, n *Node, s *vsState) { d.args(n, 0, 0, n.Keyword) }, "hashed").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		d.args(n, 0, 0, n.Keyword)
		s.vs.Flags |= balancer.FlagSchedFallback
	}, "flag-1").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		d.args(n, 0, 0, n.Keyword)
		s.vs.Flags |= balancer.FlagSchedPort
	}, "flag-2").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		d.args(n, 0, 0, n.Keyword)
		d.warnf(n, "IP_VS_SVC_F_SCHED3 has no meaning for any IPVS scheduler; ignored")
	}, "flag-3").
	add(noBlock, func(d *decoder, n *Node, s *vsState) { d.args(n, 0, 0, n.Keyword); s.shFlags = append(s.shFlags, n) },
		"sh-port", "sh-fallback").
	add(noBlock, func(d *decoder, n *Node, s *vsState) { d.args(n, 0, 0, n.Keyword); s.mhFlags = append(s.mhFlags, n) },
		"mh-port", "mh-fallback").
	add(anyBlock, func(d *decoder, n *Node, s *vsState) {
		if rs := d.realServer(n); rs != nil {
			s.vs.Reals = append(s.vs.Reals, rs)
		}
	}, "real_server").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		if d.args(n, 1, 1, "quorum 1 (total weight of healthy real servers)") {
			if v, ok := d.uintArg(n, 0, 1, 1<<32-1, "quorum 1 (1..4294967295)"); ok {
				s.vs.Quorum = uint32(v)
			}
		}
	}, "quorum").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		if d.args(n, 1, 1, "hysteresis 0") {
			if v, ok := d.uintArg(n, 0, 0, 1<<32-1, "hysteresis 0 (0..4294967295)"); ok {
				s.vs.Hysteresis = uint32(v)
			}
		}
	}, "hysteresis").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		if d.args(n, 1, -1, n.Keyword+" \"/path/to/script args\" [user [group]]") {
			if n.Keyword == "quorum_up" {
				s.vs.QuorumUp = n.Args[0]
			} else {
				s.vs.QuorumDown = n.Args[0]
			}
		}
	}, "quorum_up", "quorum_down").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		if v, ok := d.optionalBool(n); ok {
			if n.Keyword == "alpha" {
				s.vs.Alpha = v
			} else {
				s.vs.Omega = v
			}
		}
	}, "alpha", "omega").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		const usage = "sorry_server IP [PORT]"
		if !d.args(n, 1, 2, usage) {
			return
		}
		a, err := parseAddr(n.Args[0])
		if err != nil {
			d.errorf(n, "write "+usage, "%v", err)
			return
		}
		ss := &SorryServer{Pos: n.Pos, Addr: a}
		if len(n.Args) == 2 {
			if ss.Port, err = parsePort(n.Args[1]); err != nil {
				d.errorf(n, "write "+usage, "%v", err)
				return
			}
		}
		s.sorry = ss
	}, "sorry_server").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		if v, ok := d.optionalBool(n); ok {
			s.vs.SorryInhibit = v
		}
	}, "sorry_server_inhibit").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		if m, t, ok := d.method(n); ok {
			s.sorryMethod, s.sorryTunnel, s.sorryMethodSet = m, t, true
		}
	}, "sorry_server_lvs_method").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		if !d.args(n, 1, 1, "ip_family inet|inet6") {
			return
		}
		switch n.Args[0] {
		case "inet":
			s.vs.Family = 4
		case "inet6":
			s.vs.Family = 6
		default:
			d.errorf(n, "write ip_family inet or ip_family inet6", "unknown address family %q", n.Args[0])
			return
		}
		if s.vs.Addr.IsValid() && (s.vs.Family == 4) != s.vs.Addr.Is4() {
			d.errorf(n, "remove ip_family, or make it match the virtual server's address", "ip_family %s conflicts with %v", n.Args[0], s.vs.Addr)
			s.vs.Family = 0
		}
	}, "ip_family").
	add(noBlock, func(d *decoder, n *Node, s *vsState) { d.checkDefault(n, &s.vs.Checks) },
		"connect_timeout", "retry", "delay_before_retry", "warmup").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		if v, ok := d.optionalBool(n); ok {
			s.vs.HASuspend = v
			if v {
				d.ignored(n, "checkers run whether or not VRRP owns the address")
			}
		}
	}, "ha_suspend").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		if d.args(n, 1, -1, n.Keyword+" www.example.com") {
			s.vs.Virtualhost = n.Args[0]
		}
	}, "virtualhost").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		if d.ignored(n, "ulvs has no IPVS persistence engines (SIP Call-ID); persistence uses the client address") {
			s.vs.Extra = append(s.vs.Extra, n)
		}
	}, "persistence_engine").
	add(noBlock, func(d *decoder, n *Node, s *vsState) { d.alertSwitch(n, &s.vs.SMTPAlert) }, "smtp_alert").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		if d.ignored(n, "ulvs has no SNMP agent") {
			s.vs.Extra = append(s.vs.Extra, n)
		}
	}, "snmp_name").
	add(noBlock, func(d *decoder, n *Node, s *vsState) {
		if d.ignored(n, "nat_mask was removed from keepalived and has no effect") {
			s.vs.Extra = append(s.vs.Extra, n)
		}
	}, "nat_mask")

// ignored reports a keyword ulvs accepts but does not act on, saying why.
func (d *decoder) ignored(n *Node, why string) bool {
	d.warnf(n, "accepted but ignored: %s", why)
	return true
}

// checkDefault parses connect_timeout, retry, delay_before_retry and
// warmup, the checker defaults of a virtual_server or real_server.
func (d *decoder) checkDefault(n *Node, c *CheckDefaults) {
	switch n.Keyword {
	case "retry":
		const usage = "retry 3 (1..4294967295)"
		if d.args(n, 1, 1, usage) {
			if v, ok := d.uintArg(n, 0, 1, 1<<32-1, usage); ok {
				c.Retry = uint32(v)
			}
		}
	case "connect_timeout":
		if v, ok := d.timerArg(n, "connect_timeout 5 (seconds, fractions allowed)"); ok {
			c.ConnectTimeout = v
		}
	case "delay_before_retry":
		if v, ok := d.timerArg(n, "delay_before_retry 3 (seconds, fractions allowed)"); ok {
			c.DelayBeforeRetry = v
		}
	case "warmup":
		const usage = "warmup 5 (seconds, fractions allowed; 0 starts checks at once)"
		if !d.args(n, 1, 1, usage) {
			return
		}
		v, err := parseTimer(n.Args[0])
		if err != nil {
			d.errorf(n, "write "+usage, "%v", err)
			return
		}
		c.Warmup, c.WarmupSet = v, true
	}
}

// decodeGranularity parses persistence_granularity: an IPv4 netmask, or an
// IPv6 prefix length. Like keepalived it makes the service persistent
// (360 s) if persistence_timeout is not set.
func decodeGranularity(d *decoder, n *Node, s *vsState) {
	const usage = "persistence_granularity 255.255.255.0 (IPv4) or persistence_granularity 64 (IPv6 prefix length)"
	if !d.args(n, 1, 1, usage) {
		return
	}
	v6 := s.vs.Addr.Is6() || (!s.vs.Addr.IsValid() && !strings.Contains(n.Args[0], "."))
	if v6 {
		v, ok := d.uintArg(n, 0, 1, 128, usage)
		if !ok {
			return
		}
		s.vs.PersistenceMaskBits, s.vs.granularityV6 = int(v), true
	} else {
		b, err := maskBits(n.Args[0])
		if err != nil {
			d.errorf(n, "write a contiguous netmask such as 255.255.255.0", "%v", err)
			return
		}
		s.vs.PersistenceMaskBits = b
	}
	if s.vs.Persistence == 0 {
		s.vs.Persistence = defaultPersistence
	}
}

func (d *decoder) timerArg(n *Node, usage string) (time.Duration, bool) {
	if !d.args(n, 1, 1, usage) {
		return 0, false
	}
	v, err := parseTimer(n.Args[0])
	if err == nil && v <= 0 {
		err = fmt.Errorf("must be more than 0")
	}
	if err != nil {
		d.errorf(n, "write "+usage, "%v", err)
		return 0, false
	}
	return v, true
}

// method parses "lb_kind|lvs_method NAT|DR|TUN [type ipip|gue port N|gre]
// [nocsum|csum|remcsum]" with keepalived's consistency rules.
func (d *decoder) method(n *Node) (balancer.Method, Tunnel, bool) {
	usage := n.Keyword + " NAT|DR|TUN, for TUN optionally: type ipip | type gue port N | type gre, then nocsum|csum|remcsum"
	var t Tunnel
	if !d.args(n, 1, -1, usage) {
		return 0, t, false
	}
	var m balancer.Method
	switch n.Args[0] {
	case "NAT":
		m = balancer.NAT
	case "DR":
		m = balancer.DR
	case "TUN":
		m = balancer.TUN
	default:
		hint := "write " + usage
		if up := strings.ToUpper(n.Args[0]); up == "NAT" || up == "DR" || up == "TUN" {
			hint = fmt.Sprintf("write %s %s: keepalived compares the method case-sensitively", n.Keyword, up)
		}
		d.errorf(n, hint, "unknown forwarding method %q", n.Args[0])
		return 0, t, false
	}
	opts := n.Args[1:]
	if len(opts) > 0 && m != balancer.TUN {
		d.warnf(n, "tunnel options %q only apply to TUN; ignored", strings.Join(opts, " "))
		return m, t, true
	}
	csumSet := false
	for i := 0; i < len(opts); i++ {
		switch opts[i] {
		case "type":
			if i+1 >= len(opts) {
				d.errorf(n, "write "+usage, "missing tunnel type after \"type\"")
				return 0, t, false
			}
			i++
			switch opts[i] {
			case "ipip":
				t.Type = TunnelIPIP
			case "gue":
				t.Type = TunnelGUE
			case "gre":
				t.Type = TunnelGRE
			default:
				d.errorf(n, "write type ipip, type gue port N or type gre", "unknown tunnel type %q", opts[i])
				return 0, t, false
			}
		case "port":
			if i+1 >= len(opts) {
				d.errorf(n, "write "+usage, "missing port after \"port\"")
				return 0, t, false
			}
			i++
			v, err := parseUint(opts[i], 1, 65535)
			if err != nil {
				d.errorf(n, "write type gue port 6080", "gue tunnel port: %v", err)
				return 0, t, false
			}
			t.Port = uint16(v)
		case "nocsum":
			t.Checksum, csumSet = TunnelNoCsum, true
		case "csum":
			t.Checksum, csumSet = TunnelCsum, true
		case "remcsum":
			t.Checksum, csumSet = TunnelRemCsum, true
		default:
			d.errorf(n, "write "+usage, "unknown tunnel option %q", opts[i])
			return 0, t, false
		}
	}
	switch {
	case (t.Type == TunnelGUE) != (t.Port != 0):
		d.errorf(n, "write type gue port N; other tunnel types take no port", "gue tunnels require a port, other types cannot have one")
		return 0, t, false
	case t.Type == TunnelIPIP && csumSet && t.Checksum != TunnelNoCsum:
		d.errorf(n, "remove the checksum option or use type gue/gre", "ipip tunnels have no checksum option")
		return 0, t, false
	case t.Type == TunnelGRE && t.Checksum == TunnelRemCsum:
		d.errorf(n, "write csum or nocsum", "gre tunnels do not support remcsum")
		return 0, t, false
	}
	return m, t, true
}

// virtualServer decodes one virtual_server block and applies keepalived's
// defaults and corrections (validate_check_config). It returns nil when
// the service is dropped.
func (d *decoder) virtualServer(n *Node) *VirtualServer {
	const usage = "virtual_server IP PORT, virtual_server fwmark N or virtual_server group NAME"
	vs := &VirtualServer{Pos: n.Pos, DelayLoop: defaultDelayLoop, Weight: defaultWeight,
		Checks: CheckDefaults{ConnectTimeout: defaultConnectTimeout}}
	if !d.args(n, 1, -1, usage) {
		return nil
	}
	switch n.Args[0] {
	case "fwmark":
		if !d.args(n, 2, 3, "virtual_server fwmark N [inet|inet6]") {
			return nil
		}
		v, ok := d.uintArg(n, 1, 1, 1<<32-1, "virtual_server fwmark N (1..4294967295)")
		if !ok {
			return nil
		}
		vs.FWMark = uint32(v)
	case "group":
		if !d.args(n, 2, 2, "virtual_server group NAME") {
			return nil
		}
		vs.Group = n.Args[1]
	default:
		d.args(n, 1, 2, usage)
		a, err := parseAddr(n.Args[0])
		if err != nil {
			d.errorf(n, "write "+usage, "%v", err)
			return nil
		}
		vs.Addr = a
		if len(n.Args) >= 2 {
			p, err := parsePort(n.Args[1])
			if err != nil {
				d.errorf(n, "write "+usage, "%v", err)
				return nil
			}
			vs.Port = p
		}
	}
	s := &vsState{vs: vs}
	errsBefore := len(d.errs)
	decodeBlock(d, vsTable, n, s)
	if d.strict && len(d.errs) > errsBefore {
		return nil // the load fails: spare the follow-on messages
	}
	d.finishVirtualServer(n, s)
	if len(vs.Reals) == 0 {
		d.warnf(n, "%s has no real servers; ignored, as keepalived does", vs.identity())
		return nil
	}
	return vs
}

func (d *decoder) finishVirtualServer(n *Node, s *vsState) {
	vs := s.vs
	if vs.Quorum == 0 {
		vs.Quorum = 1
	}
	if vs.Hysteresis >= vs.Quorum && vs.Hysteresis != 0 {
		d.warnf(n, "hysteresis %d is not below quorum %d; keepalived would never gain quorum; lower it", vs.Hysteresis, vs.Quorum)
	}
	if s.sorry != nil {
		s.sorry.Method, s.sorry.Tunnel = vs.Method, vs.Tunnel
		if s.sorryMethodSet {
			s.sorry.Method, s.sorry.Tunnel = s.sorryMethod, s.sorryTunnel
		}
		if s.sorry.Port == 0 {
			s.sorry.Port = vs.Port
		}
		vs.Sorry = s.sorry
	} else if vs.SorryInhibit || s.sorryMethodSet {
		d.warnf(n, "sorry_server_inhibit and sorry_server_lvs_method do nothing without a sorry_server")
	}
	if vs.Scheduler == "" {
		d.warnf(n, "no lb_algo set; using %s, keepalived's default", defaultScheduler)
		vs.Scheduler = defaultScheduler
	}
	for _, f := range s.shFlags {
		d.schedFlag(f, vs, "sh")
	}
	for _, f := range s.mhFlags {
		d.schedFlag(f, vs, "mh")
	}
	vs.protoSet, vs.ops = s.protoSet, s.ops
	switch {
	case vs.Group != "":
		// Protocol, ops and the zero-port rule depend on the group's
		// entries: see finishGroupServer.
	case vs.FWMark != 0:
		if s.protoSet {
			d.warnf(n, "protocol is ignored for a fwmark service")
			vs.Protocol = 0
		}
		if vs.HASuspend {
			d.warnf(n, "ha_suspend cannot be used with fwmarks; cleared, as keepalived does")
			vs.HASuspend = false
		}
	default:
		if !s.protoSet {
			d.warnf(n, "no protocol set; defaulting to UDP as keepalived does (write protocol TCP for TCP services)")
			vs.Protocol = balancer.UDP
		}
		if s.ops && vs.Protocol != balancer.UDP {
			d.warnf(n, "ops (one-packet scheduling) requires UDP; ignored")
			s.ops = false
		}
		if vs.Port == 0 && vs.Persistence == 0 {
			d.warnf(n, "a zero port is valid only for persistent services; setting persistence_timeout 360 as keepalived does")
			vs.Persistence = defaultPersistence
		}
	}
	if s.ops && vs.Group == "" {
		vs.Flags |= balancer.FlagOnePacket
	}
	if !s.methodSet {
		for _, rs := range vs.Reals {
			if !rs.methodSet {
				d.warnf(n, "no lb_kind set; using NAT, keepalived's default")
				break
			}
		}
	}

	kept := vs.Reals[:0]
	seen := map[netip.AddrPort]*RealServer{}
	for _, rs := range vs.Reals {
		rsNode := &Node{Pos: rs.Pos, Keyword: "real_server"}
		if !rs.methodSet {
			rs.Method, rs.Tunnel = vs.Method, vs.Tunnel
		}
		if !rs.weightSet {
			rs.Weight = vs.Weight
		}
		if !rs.inhibitSet {
			rs.InhibitOnFailure = vs.InhibitOnFailure
		}
		if !rs.alphaSet {
			rs.Alpha = vs.Alpha
		}
		if rs.DelayLoop == 0 {
			rs.DelayLoop = vs.DelayLoop
		}
		if rs.Virtualhost == "" {
			rs.Virtualhost = vs.Virtualhost
		}
		rs.Checks.inherit(vs.Checks)
		if vs.Addr.IsValid() && rs.Method != balancer.TUN && rs.Addr.Is4() != vs.Addr.Is4() {
			d.warnf(rsNode, "address family of %v does not match virtual server %v; real server skipped", rs.Addr, vs.Addr)
			continue
		}
		switch {
		case rs.Method == balancer.NAT:
			if vs.FWMark == 0 && !rs.portSet {
				rs.Port = vs.Port
			}
		case vs.FWMark != 0:
			if rs.Port != 0 {
				d.warnf(rsNode, "a fwmark service's %v real server cannot change the port; port cleared", rs.Method)
				rs.Port = 0
			}
		case vs.Group != "":
			// The group's ports are checked where the group is expanded.
		case !rs.portSet:
			rs.Port = vs.Port
		case rs.Port != vs.Port:
			d.warnf(rsNode, "%v forwarding cannot change the port: real server port %d reset to the virtual server's %d",
				rs.Method, rs.Port, vs.Port)
			rs.Port = vs.Port
		}
		key := netip.AddrPortFrom(rs.Addr, rs.Port)
		if first, ok := seen[key]; ok {
			d.warnf(rsNode, "real server %v duplicates the one at %v; removed, as keepalived does", key, first.Pos)
			continue
		}
		seen[key] = rs
		kept = append(kept, rs)
	}
	vs.Reals = kept
}

// schedFlag applies sh-port/sh-fallback/mh-port/mh-fallback, which
// keepalived honours only for their own scheduler.
func (d *decoder) schedFlag(n *Node, vs *VirtualServer, sched string) {
	if vs.Scheduler != sched {
		d.warnf(n, "only applies to the %s scheduler (this service uses %s); ignored", sched, vs.Scheduler)
		return
	}
	if strings.HasSuffix(n.Keyword, "-port") {
		vs.Flags |= balancer.FlagSchedPort
	} else {
		vs.Flags |= balancer.FlagSchedFallback
	}
}

var rsTable = newTable("real_server", func(rs *RealServer, n *Node) { rs.Extra = append(rs.Extra, n) }).
	add(noBlock, func(d *decoder, n *Node, rs *RealServer) {
		if !d.args(n, 1, 1, "weight 1 (0..65535)") {
			return
		}
		if v, ok := d.uintArg(n, 0, 0, weightLimit, "weight 1 (0..65535; 0 quiesces the server)"); ok {
			rs.Weight, rs.weightSet = uint32(v), true
		}
	}, "weight").
	add(noBlock, func(d *decoder, n *Node, rs *RealServer) {
		if m, t, ok := d.method(n); ok {
			rs.Method, rs.Tunnel, rs.methodSet = m, t, true
		}
	}, "lvs_method").
	add(noBlock, func(d *decoder, n *Node, rs *RealServer) {
		if d.args(n, 1, 1, "uthreshold N") {
			if v, ok := d.uintArg(n, 0, 0, 1<<32-1, "uthreshold N (connections; 0 = no limit)"); ok {
				rs.UpperThreshold = uint32(v)
			}
		}
	}, "uthreshold").
	add(noBlock, func(d *decoder, n *Node, rs *RealServer) {
		if d.args(n, 1, 1, "lthreshold N") {
			if v, ok := d.uintArg(n, 0, 0, 1<<32-1, "lthreshold N (connections)"); ok {
				rs.LowerThreshold = uint32(v)
			}
		}
	}, "lthreshold").
	add(noBlock, func(d *decoder, n *Node, rs *RealServer) {
		if v, ok := d.optionalBool(n); ok {
			rs.InhibitOnFailure, rs.inhibitSet = v, true
		}
	}, "inhibit_on_failure").
	add(needBlock, func(d *decoder, n *Node, rs *RealServer) { rs.Checkers = append(rs.Checkers, n) }, checkerBlocks...).
	add(noBlock, func(d *decoder, n *Node, rs *RealServer) {
		if d.args(n, 1, -1, n.Keyword+" \"/path/to/script args\" [user [group]]") {
			if n.Keyword == "notify_up" {
				rs.NotifyUp = n.Args[0]
			} else {
				rs.NotifyDown = n.Args[0]
			}
		}
	}, "notify_up", "notify_down").
	add(noBlock, func(d *decoder, n *Node, rs *RealServer) {
		if v, ok := d.optionalBool(n); ok {
			rs.Alpha, rs.alphaSet = v, true
		}
	}, "alpha").
	add(noBlock, func(d *decoder, n *Node, rs *RealServer) { d.checkDefault(n, &rs.Checks) },
		"connect_timeout", "retry", "delay_before_retry", "warmup").
	add(noBlock, func(d *decoder, n *Node, rs *RealServer) {
		if v, ok := d.timerArg(n, "delay_loop 6 (seconds, fractions allowed)"); ok {
			rs.DelayLoop = v
		}
	}, "delay_loop").
	add(noBlock, func(d *decoder, n *Node, rs *RealServer) {
		if d.args(n, 1, -1, n.Keyword+" www.example.com") {
			rs.Virtualhost = n.Args[0]
		}
	}, "virtualhost").
	add(noBlock, func(d *decoder, n *Node, rs *RealServer) { d.alertSwitch(n, &rs.SMTPAlert) }, "smtp_alert").
	add(noBlock, func(d *decoder, n *Node, rs *RealServer) {
		if d.ignored(n, "ulvs has no SNMP agent") {
			rs.Extra = append(rs.Extra, n)
		}
	}, "snmp_name")

// realServer decodes "real_server IP [PORT] { ... }".
func (d *decoder) realServer(n *Node) *RealServer {
	const usage = "real_server IP [PORT] { ... }"
	if !d.args(n, 1, 2, usage) {
		return nil
	}
	a, err := parseAddr(n.Args[0])
	if err != nil {
		d.errorf(n, "write "+usage, "%v", err)
		return nil
	}
	rs := &RealServer{Pos: n.Pos, Addr: a}
	if len(n.Args) == 2 {
		p, err := parsePort(n.Args[1])
		if err != nil {
			d.errorf(n, "write "+usage, "%v", err)
			return nil
		}
		rs.Port, rs.portSet = p, true
	}
	decodeBlock(d, rsTable, n, rs)
	return rs
}
