package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Defaults of the global_defs keywords ulvs types (global_data.c).
const (
	defaultSMTPConnectTimeout = 30 * time.Second
	defaultGarpMasterDelay    = 5 * time.Second
	defaultGarpMasterRepeat   = 5
	defaultVRRPVersion        = 2
)

// VRRPDefaults are the global_defs defaults of every vrrp_instance
// (vrrp_* keywords), typed here and given behaviour by the VRRP stage.
type VRRPDefaults struct {
	McastGroup4             netip.Addr    // vrrp_mcast_group4; 224.0.0.18
	McastGroup6             netip.Addr    // vrrp_mcast_group6; ff02::12
	Version                 int           // vrrp_version 2|3; 2
	GarpMasterDelay         time.Duration // vrrp_garp_master_delay; 5 s
	GarpMasterRepeat        int           // vrrp_garp_master_repeat; 5
	GarpMasterRefresh       time.Duration // vrrp_garp_master_refresh; 0 = off
	GarpMasterRefreshRepeat int           // vrrp_garp_master_refresh_repeat; 1
	GarpLowerPrioDelay      time.Duration // vrrp_garp_lower_prio_delay; GarpMasterDelay when 0
	GarpLowerPrioRepeat     int           // vrrp_garp_lower_prio_repeat; 0 = GarpMasterRepeat
	GarpInterval            time.Duration // vrrp_garp_interval; 0
	GnaInterval             time.Duration // vrrp_gna_interval; 0
	MinGarp                 bool          // vrrp_min_garp
	LowerPrioNoAdvert       bool          // vrrp_lower_prio_no_advert
	HigherPrioSendAdvert    bool          // vrrp_higher_prio_send_advert; on in ulvs (keepalived: off)
	CheckUnicastSrc         bool          // vrrp_check_unicast_src
	SkipCheckAdvAddr        bool          // vrrp_skip_check_adv_addr
	Strict                  bool          // vrrp_strict
	V3ChecksumAsV2          bool          // v3_checksum_as_v2
	MaxAutoPriority         int           // max_auto_priority; 0 = off, -1 = the maximum
}

// globalKept are global_defs keywords of the VRRP part that ulvs keeps
// verbatim in Extra, without a warning, for the VRRP stage.
var globalKept = []string{"min_auto_priority_delay", "dynamic_interfaces", "default_interface", "disable_local_igmp",
	"vrrp_garp_extra_if", "vrrp_notify_priority_changes", "vrrp_startup_delay", "log_unknown_vrids", "vmac_prefix",
	"vmac_addr_prefix", "vrrp_track_process"}

// globalIgnored are the global_defs keywords ulvs accepts with a warning
// that they do nothing, by reason.
var globalIgnored = map[string][]string{
	"ulvs is one process; keepalived's process tuning has no effect": {"process_names", "process_name",
		"vrrp_process_name", "checker_process_name", "lvs_process_name", "bfd_process_name", "vrrp_priority",
		"vrrp_no_swap", "vrrp_rt_priority", "vrrp_cpu_affinity", "vrrp_rlimit_rttime", "vrrp_rlimit_rtime",
		"checker_priority", "checker_no_swap", "checker_rt_priority", "checker_cpu_affinity", "checker_rlimit_rttime",
		"checker_rlimit_rtime", "bfd_priority", "bfd_no_swap", "bfd_rt_priority", "bfd_cpu_affinity",
		"bfd_rlimit_rttime", "bfd_rlimit_rtime", "vrrp_netlink_cmd_rcv_bufs", "vrrp_netlink_cmd_rcv_bufs_force",
		"vrrp_netlink_monitor_rcv_bufs", "vrrp_netlink_monitor_rcv_bufs_force", "process_monitor_rcv_bufs",
		"process_monitor_rcv_bufs_force", "lvs_netlink_cmd_rcv_bufs", "lvs_netlink_cmd_rcv_bufs_force",
		"lvs_netlink_monitor_rcv_bufs", "lvs_netlink_monitor_rcv_bufs_force", "vrrp_rx_bufs_policy",
		"vrrp_rx_bufs_multiplier", "umask", "random_seed"},
	"ulvs has no SNMP agent":                                                           {"snmp_socket", "enable_traps", "enable_snmp_vrrp", "enable_snmp_keepalived", "enable_snmp_rfc", "enable_snmp_rfcv2", "enable_snmp_rfcv3", "enable_snmp_checker"},
	"ulvs has no D-Bus interface":                                                      {"enable_dbus", "dbus_service_name"},
	"ulvs has no notify FIFOs; use the admin API":                                      {"notify_fifo", "notify_fifo_script", "vrrp_notify_fifo", "vrrp_notify_fifo_script", "lvs_notify_fifo", "lvs_notify_fifo_script"},
	"ulvs installs no firewall rules or ipsets":                                        {"vrrp_iptables", "vrrp_ipsets", "nftables", "nftables_priority", "nftables_ifindex", "nftables_ipvs", "nftables_ipvs_priority", "nftables_ipvs_start_fwmark", "nftables_counters"},
	"ulvs runs no startup or shutdown scripts":                                         {"startup_script", "startup_script_timeout", "shutdown_script", "shutdown_script_timeout"},
	"ulvs reloads on SIGHUP only (see docs/operations.md)":                             {"reload_check_config", "reload_time_file", "reload_repeat", "reload_file", "include_check", "tmp_config_directory"},
	"ulvs sends no e-mail and runs no notify scripts at start":                         {"no_email_faults", "no_checker_emails", "rs_init_notifies"},
	"ulvs keeps no per-instance data files":                                            {"data_use_instance"},
	"ulvs does not synchronise connections to a backup director (no IPVS sync daemon)": {"lvs_sync_daemon"},
	"ulvs logs checker results through its own logger":                                 {"checker_log_all_failures"},
}

// globalTable is the global_defs keyword table.
var globalTable = func() *table[GlobalDefs] {
	t := newTable("global_defs", func(g *GlobalDefs, n *Node) { g.Extra = append(g.Extra, n) }).
		add(noBlock, func(d *decoder, n *Node, g *GlobalDefs) {
			if d.args(n, 1, 1, "router_id NAME") {
				g.RouterID = n.Args[0]
			}
		}, "router_id").
		add(noBlock, decodeLVSTimeouts, "lvs_timeouts").
		add(anyBlock, func(d *decoder, n *Node, g *GlobalDefs) {
			// keepalived reads every word of the block as a recipient and
			// validates none ("acassen" in its samples is a local user for
			// the SMTP server to resolve), so neither does ulvs.
			if !n.Block {
				d.warnf(n, "needs a { } block of addresses (notification_email { admin@example.com }); ignored")
				return
			}
			if len(n.Children) == 0 {
				d.warnf(n, "empty notification_email block")
			}
			for _, c := range n.Children {
				if c.Block {
					d.warnf(c, "a { } block inside notification_email is not an address; ignored")
					continue
				}
				g.NotificationEmail = append(g.NotificationEmail, c.Keyword)
				g.NotificationEmail = append(g.NotificationEmail, c.Args...)
			}
		}, "notification_email").
		add(noBlock, func(d *decoder, n *Node, g *GlobalDefs) {
			if d.args(n, 1, 1, "notification_email_from lb@example.com") {
				g.NotificationEmailFrom = n.Args[0]
			}
		}, "notification_email_from").
		add(noBlock, func(d *decoder, n *Node, g *GlobalDefs) {
			const usage = "smtp_server IP [PORT] or smtp_server HOSTNAME [PORT]"
			if !d.args(n, 1, 2, usage) {
				return
			}
			if len(n.Args) == 2 {
				if _, err := parsePort(n.Args[1]); err != nil {
					d.errorf(n, "write "+usage, "%v", err)
					return
				}
			}
			g.SMTPServer = strings.Join(n.Args, " ")
		}, "smtp_server").
		add(noBlock, func(d *decoder, n *Node, g *GlobalDefs) {
			if d.args(n, 1, 1, "smtp_helo_name NAME") {
				g.SMTPHeloName = n.Args[0]
			}
		}, "smtp_helo_name").
		add(noBlock, func(d *decoder, n *Node, g *GlobalDefs) {
			if v, ok := d.timerArg(n, "smtp_connect_timeout 30 (seconds)"); ok {
				g.SMTPConnectTimeout = v
			}
		}, "smtp_connect_timeout").
		add(noBlock, func(d *decoder, n *Node, g *GlobalDefs) {
			if v, ok := d.optionalBool(n); ok && v {
				d.email(n, g)
			}
		}, "smtp_alert", "smtp_alert_vrrp", "smtp_alert_checker").
		add(noBlock, func(d *decoder, n *Node, g *GlobalDefs) {
			if d.args(n, 1, 2, "script_user USER [GROUP]") {
				g.ScriptUser = n.Args[0]
				if len(n.Args) > 1 {
					g.ScriptGroup = n.Args[1]
				}
			}
		}, "script_user").
		add(noBlock, func(d *decoder, n *Node, g *GlobalDefs) {
			d.args(n, 0, 0, n.Keyword)
			g.EnableScriptSecurity = true
		}, "enable_script_security").
		add(noBlock, func(d *decoder, n *Node, g *GlobalDefs) {
			// ulvs starts with an empty table: the flush has already happened.
			d.args(n, 0, 0, n.Keyword)
			g.LVSFlush = true
		}, "lvs_flush").
		add(noBlock, func(d *decoder, n *Node, g *GlobalDefs) {
			// The table lives in the ulvs process and goes with it.
			if len(n.Args) > 0 && n.Args[0] != "VS" && n.Args[0] != "ALL" {
				d.errorf(n, "write "+n.Keyword+", "+n.Keyword+" VS or "+n.Keyword+" ALL", "unknown flush mode %q", n.Args[0])
				return
			}
			d.args(n, 0, 1, n.Keyword+" [VS|ALL]")
			g.LVSFlushOnStop = true
		}, "lvs_flush_on_stop", "lvs_flush_onstop").
		add(noBlock, func(d *decoder, n *Node, g *GlobalDefs) { d.mcastGroup(n, &g.VRRP.McastGroup4, true) }, "vrrp_mcast_group4").
		add(noBlock, func(d *decoder, n *Node, g *GlobalDefs) { d.mcastGroup(n, &g.VRRP.McastGroup6, false) }, "vrrp_mcast_group6").
		add(noBlock, func(d *decoder, n *Node, g *GlobalDefs) {
			if v, ok := d.uintKeyword(n, 2, 3, "vrrp_version 2|3", "vrrp_version 2 or vrrp_version 3"); ok {
				g.VRRP.Version = v
			}
		}, "vrrp_version").
		add(noBlock, func(d *decoder, n *Node, g *GlobalDefs) {
			dst := map[string]*time.Duration{
				"vrrp_garp_master_delay": &g.VRRP.GarpMasterDelay, "vrrp_garp_master_refresh": &g.VRRP.GarpMasterRefresh,
				"vrrp_garp_lower_prio_delay": &g.VRRP.GarpLowerPrioDelay, "vrrp_garp_interval": &g.VRRP.GarpInterval,
				"vrrp_gna_interval": &g.VRRP.GnaInterval, "vrrp_vmac_garp_intvl": nil,
			}[n.Keyword]
			usage := n.Keyword + " SECONDS (fractions allowed; 0 is off)"
			if !d.args(n, 1, -1, usage) {
				return
			}
			v, err := parseTimer(n.Args[0])
			if err != nil {
				d.errorf(n, "write "+usage, "%v", err)
				return
			}
			if dst == nil { // vrrp_vmac_garp_intvl SECONDS [all]: a VMAC option of the VRRP stage
				g.Extra = append(g.Extra, n)
				return
			}
			*dst = v
		}, "vrrp_garp_master_delay", "vrrp_garp_master_refresh", "vrrp_garp_lower_prio_delay", "vrrp_garp_interval",
			"vrrp_gna_interval", "vrrp_vmac_garp_intvl").
		add(noBlock, func(d *decoder, n *Node, g *GlobalDefs) {
			dst := map[string]*int{
				"vrrp_garp_master_repeat": &g.VRRP.GarpMasterRepeat, "vrrp_garp_master_refresh_repeat": &g.VRRP.GarpMasterRefreshRepeat,
				"vrrp_garp_lower_prio_repeat": &g.VRRP.GarpLowerPrioRepeat,
			}[n.Keyword]
			usage := n.Keyword + " N (0..65535)"
			if d.args(n, 1, 1, usage) {
				if v, ok := d.uintArg(n, 0, 0, 65535, usage); ok {
					*dst = int(v)
				}
			}
		}, "vrrp_garp_master_repeat", "vrrp_garp_master_refresh_repeat", "vrrp_garp_lower_prio_repeat").
		add(noBlock, func(d *decoder, n *Node, g *GlobalDefs) {
			dst := map[string]*bool{
				"vrrp_min_garp": &g.VRRP.MinGarp, "vrrp_lower_prio_no_advert": &g.VRRP.LowerPrioNoAdvert,
				"vrrp_higher_prio_send_advert": &g.VRRP.HigherPrioSendAdvert, "vrrp_check_unicast_src": &g.VRRP.CheckUnicastSrc,
				"vrrp_skip_check_adv_addr": &g.VRRP.SkipCheckAdvAddr, "vrrp_strict": &g.VRRP.Strict,
				"v3_checksum_as_v2": &g.VRRP.V3ChecksumAsV2,
			}[n.Keyword]
			if v, ok := d.optionalBool(n); ok {
				*dst = v
			}
		}, "vrrp_min_garp", "vrrp_lower_prio_no_advert", "vrrp_higher_prio_send_advert", "vrrp_check_unicast_src",
			"vrrp_skip_check_adv_addr", "vrrp_strict", "v3_checksum_as_v2").
		add(noBlock, func(d *decoder, n *Node, g *GlobalDefs) {
			if len(n.Args) == 0 {
				g.VRRP.MaxAutoPriority = -1
				return
			}
			const usage = "max_auto_priority [PRIORITY] (0..99; alone for the maximum)"
			if d.args(n, 0, 1, usage) {
				if v, ok := d.uintArg(n, 0, 0, 99, usage); ok {
					g.VRRP.MaxAutoPriority = int(v)
				}
			}
		}, "max_auto_priority").
		known(noBlock, globalKept...)
	for why, names := range globalIgnored {
		t.add(noBlock, func(d *decoder, n *Node, g *GlobalDefs) {
			d.ignored(n, why)
			g.Extra = append(g.Extra, n)
		}, names...)
	}
	// Typed and validated, but no stage acts on them yet: say so too.
	wrapped := map[*entry[GlobalDefs]]bool{}
	for name := range globalTypedUnused {
		e := t.entries[name]
		if wrapped[e] {
			continue
		}
		wrapped[e] = true
		apply := e.apply
		e.apply = func(d *decoder, n *Node, g *GlobalDefs) {
			errs := len(d.errs)
			apply(d, n, g)
			if why, ok := globalTypedUnused[n.Keyword]; ok && len(d.errs) == errs {
				d.ignored(n, why)
			}
		}
	}
	return t
}()

// globalTypedUnused are global_defs keywords ulvs parses into GlobalDefs
// but does not act on yet, with the reason the warning gives.
var globalTypedUnused = map[string]string{
	"vrrp_garp_interval":         "ulvs's VRRP sends its gratuitous ARPs back to back",
	"vrrp_gna_interval":          "ulvs's VRRP has no IPv6 addresses to announce",
	"vrrp_min_garp":              "ulvs's VRRP sends the garp_master_repeat bursts as configured",
	"vrrp_garp_lower_prio_delay": "ulvs's VRRP re-announces at once on a lower priority advertisement",
	"vrrp_skip_check_adv_addr":   "ulvs's VRRP does not compare the addresses in advertisements",
	"vrrp_strict":                "ulvs's VRRP does not enforce RFC strict mode",
	"max_auto_priority":          "ulvs is one process with no realtime scheduling to raise",
	"enable_script_security":     "ulvs runs scripts as script_user without checking who can write them",
}

// email reports, once per file, that alerts were turned on although ulvs
// sends no e-mail.
func (d *decoder) email(n *Node, g *GlobalDefs) {
	if !g.emailWarned {
		g.emailWarned = true
		d.warnf(n, "accepted but ignored: ulvs sends no e-mail alerts; later smtp_alert lines are not reported")
	}
}

func (d *decoder) mcastGroup(n *Node, dst *netip.Addr, v4 bool) {
	usage := n.Keyword + " 224.0.0.18"
	if !v4 {
		usage = n.Keyword + " ff02::12"
	}
	if !d.args(n, 1, 1, usage) {
		return
	}
	a, err := parseAddr(n.Args[0])
	if err == nil && (!a.IsMulticast() || a.Is4() != v4) {
		err = fmt.Errorf("%v is not an IPv%s multicast address", a, map[bool]string{true: "4", false: "6"}[v4])
	}
	if err != nil {
		d.errorf(n, "write "+usage, "%v", err)
		return
	}
	*dst = a
}

// defaultGlobalDefs returns global_defs with keepalived's defaults.
func defaultGlobalDefs() GlobalDefs {
	return GlobalDefs{
		SMTPConnectTimeout: defaultSMTPConnectTimeout,
		VRRP: VRRPDefaults{
			McastGroup4:             netip.MustParseAddr("224.0.0.18"),
			McastGroup6:             netip.MustParseAddr("ff02::12"),
			Version:                 defaultVRRPVersion,
			GarpMasterDelay:         defaultGarpMasterDelay,
			GarpMasterRepeat:        defaultGarpMasterRepeat,
			GarpMasterRefreshRepeat: 1,
			// On in ulvs (off in keepalived): without it a peer that
			// steps down silently leaves stale ARP caches after a split
			// brain heals (keepalived issues #160/#166); see docs/vrrp.md.
			HigherPrioSendAdvert: true,
		},
	}
}
