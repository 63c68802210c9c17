package config

import (
	"fmt"
	"net/netip"
	"strconv"
)

// LVSSyncDaemon is global_defs' lvs_sync_daemon line, with keepalived's
// defaults filled in (global_parser.c lvs_syncd_handler; the kernel's
// start_sync_thread for port, ttl and group).
type LVSSyncDaemon struct {
	Pos       Pos
	Interface string // the interface sync messages go out and come in on
	Instance  string // the vrrp_instance whose state makes this director send or receive
	// SyncID is 0..255; when not given, the instance's virtual_router_id,
	// as keepalived.
	SyncID int
	MaxLen int        // message size; 0: the interface MTU less the IPv4 and UDP headers
	Port   uint16     // 8848
	TTL    uint8      // 1
	Group  netip.Addr // 224.0.0.81
}

// The typed decoder replaces the plain "accepted but ignored" entry of
// globalIgnored (registered later wins); that entry goes when the sync
// daemon runs and the warning with it.
func init() { globalTable.add(noBlock, decodeLVSSyncDaemon, "lvs_sync_daemon") }

// ifNameMax is IP_VS_IFNAME_MAXLEN: names must be shorter.
const ifNameMax = 16

const syncUsage = "lvs_sync_daemon INTERFACE VRRP_INSTANCE [id SYNC_ID] [maxlen LEN] [port PORT] [ttl TTL] [group ADDR]"

// decodeLVSSyncDaemon types the line; the sync daemon is not wired to the
// connection tracker yet, so it still warns that the line does nothing.
func decodeLVSSyncDaemon(d *decoder, n *Node, g *GlobalDefs) {
	g.Extra = append(g.Extra, n)
	if g.LVSSyncDaemon != nil {
		d.warnf(n, "lvs_sync_daemon already given at line %d; this one is ignored", g.LVSSyncDaemon.Pos.Line)
		return
	}
	if !d.args(n, 2, -1, syncUsage) {
		return
	}
	s := &LVSSyncDaemon{Pos: n.Pos, Interface: n.Args[0], Instance: n.Args[1], SyncID: -1,
		Port: 8848, TTL: 1, Group: netip.AddrFrom4([4]byte{224, 0, 0, 81})}
	for i, what := range []string{"interface", "VRRP instance"} {
		if len(n.Args[i]) >= ifNameMax {
			d.errorf(n, "use a name of at most 15 characters", "%s name %q is too long for IPVS", what, n.Args[i])
			return
		}
	}
	i := 2
	// The syncid alone after the instance is keepalived's older form.
	if len(n.Args) > 2 && n.Args[2] != "" && n.Args[2][0] >= '0' && n.Args[2][0] <= '9' {
		d.warnf(n, "write \"id %s\": a bare sync ID is keepalived's older form", n.Args[2])
		v, ok := d.uintArg(n, 2, 0, 255, syncUsage)
		if !ok {
			return
		}
		s.SyncID, i = int(v), 3
	}
	for ; i < len(n.Args); i += 2 {
		opt := n.Args[i]
		if i+1 >= len(n.Args) {
			d.errorf(n, "write "+syncUsage, "%s needs a value", opt)
			return
		}
		var v uint64
		var ok bool
		switch opt {
		case "id":
			v, ok = d.uintArg(n, i+1, 0, 255, "id 0..255")
			s.SyncID = int(v)
		case "maxlen":
			v, ok = d.uintArg(n, i+1, 0, 65535-20-8, "maxlen 0..65507 (bytes of a sync message)")
			s.MaxLen = int(v)
		case "port":
			v, ok = d.uintArg(n, i+1, 0, 65535, "port 8848")
			s.Port = uint16(v)
			if v == 0 {
				s.Port = 8848 // the kernel's choice for 0
			}
		case "ttl":
			v, ok = d.uintArg(n, i+1, 0, 255, "ttl 1")
			s.TTL = uint8(v)
			if v == 0 {
				s.TTL = 1 // the kernel's choice for 0
			}
		case "group":
			a, err := netip.ParseAddr(n.Args[i+1])
			if ok = err == nil && a.IsMulticast() && a.Zone() == ""; !ok {
				d.errorf(n, "write group 224.0.0.81 (a multicast address)", "%q is not a multicast address", n.Args[i+1])
			}
			s.Group = a
		default:
			d.errorf(n, "write "+syncUsage, "unknown option %s", strconv.Quote(opt))
			return
		}
		if !ok {
			return
		}
	}
	g.LVSSyncDaemon = s
	d.ignored(n, "ulvs does not synchronise connections to a backup director yet (the line is checked, the sync daemon does not run)")
}

// finishLVSSync checks, once the VRRP instances are known, that the
// sync daemon's instance exists, and gives the sync ID its default.
func (d *decoder) finishLVSSync(c *Config) {
	s := c.Global.LVSSyncDaemon
	if s == nil {
		return
	}
	for _, in := range c.VRRP.Instances {
		if in.Name == s.Instance {
			if s.SyncID < 0 {
				s.SyncID = int(in.VRID)
			}
			return
		}
	}
	// Left out, as keepalived leaves it (an error with --strict).
	c.Global.LVSSyncDaemon = nil
	d.errs = append(d.errs, &Error{Pos: s.Pos, Keyword: "lvs_sync_daemon",
		Msg:  fmt.Sprintf("no vrrp_instance %s: its state decides whether this director sends or receives", s.Instance),
		Hint: "fix the name or define the instance"})
}
