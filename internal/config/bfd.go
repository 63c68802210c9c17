package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// keepalived's bfd_instance defaults and limits (bfd.h), except the IPv6
// hop limit: keepalived sends 64, RFC 5881 requires 255 and FRR's bfdd
// drops anything else, so ulvs sends 255 for both families.
const (
	bfdDefaultMinRx      = 10 * time.Millisecond
	bfdDefaultMinTx      = 10 * time.Millisecond
	bfdDefaultIdleTx     = time.Second
	bfdDefaultMultiplier = 5
	bfdDefaultTTL        = 255
	bfdMaxMillis         = (1<<32 - 1) / 1000 // UINT32_MAX microseconds, in ms
	bfdNameMax           = 31                 // BFD_INAME_MAX less the NUL
)

// BFDInstance is one bfd_instance block: a BFD session to a neighbour.
type BFDInstance struct {
	Pos  Pos
	Name string
	// Neighbor is neighbor_ip (or neighbour_ip); Source is source_ip, the
	// zero Addr when unset.
	Neighbor, Source netip.Addr
	// MinRx, MinTx and IdleTx are min_rx, min_tx and idle_tx (10 ms,
	// 10 ms, 1 s); Multiplier is multiplier (5).
	MinRx, MinTx, IdleTx time.Duration
	Multiplier           uint8
	Passive              bool
	// TTL is ttl or hoplimit (255); MaxHops is max_hops (0; 255, or -1 as
	// keepalived also accepts, turns the receive TTL check off).
	TTL      uint8
	MaxHops  int
	Multihop bool
	// Weight and WeightReverse are for track_bfd in VRRP, which ulvs does
	// not run (a warning says so).
	Weight        int
	WeightReverse bool
	// VRRPOnly and CheckerOnly are the vrrp and checker keywords: which of
	// keepalived's processes hear the session; BFD_CHECK needs a session
	// the checkers hear.
	VRRPOnly, CheckerOnly bool
}

// BFDCheck is the BFD_CHECK specific part of a Check: the bfd_instance
// whose session state is the checker's verdict.
type BFDCheck struct {
	Name string
}

var bfdTable = newTable("bfd_instance", func(*BFDInstance, *Node) {}).
	add(noBlock, func(d *decoder, n *Node, b *BFDInstance) {
		if d.args(n, 1, 1, n.Keyword+" 192.0.2.1") {
			a, err := parseAddr(n.Args[0])
			if err != nil {
				d.errorf(n, "write "+n.Keyword+" followed by the peer's IPv4 or IPv6 address", "%v", err)
				return
			}
			b.Neighbor = a
		}
	}, "neighbor_ip", "neighbour_ip").
	add(noBlock, func(d *decoder, n *Node, b *BFDInstance) {
		if d.args(n, 1, 1, "source_ip 192.0.2.2") {
			a, err := parseAddr(n.Args[0])
			if err != nil {
				d.errorf(n, "write source_ip followed by one of this host's addresses", "%v", err)
				return
			}
			b.Source = a
		}
	}, "source_ip").
	add(noBlock, func(d *decoder, n *Node, b *BFDInstance) { d.bfdMillis(n, 1, &b.MinRx) }, "min_rx").
	add(noBlock, func(d *decoder, n *Node, b *BFDInstance) { d.bfdMillis(n, 1, &b.MinTx) }, "min_tx").
	add(noBlock, func(d *decoder, n *Node, b *BFDInstance) { d.bfdMillis(n, 1000, &b.IdleTx) }, "idle_tx").
	add(noBlock, func(d *decoder, n *Node, b *BFDInstance) {
		if v, ok := d.uintKeyword(n, 1, 255, "multiplier N", "multiplier N (1..255)"); ok {
			b.Multiplier = uint8(v)
		}
	}, "multiplier").
	add(noBlock, func(d *decoder, n *Node, b *BFDInstance) {
		if d.args(n, 0, 0, "passive") {
			b.Passive = true
		}
	}, "passive").
	add(noBlock, func(d *decoder, n *Node, b *BFDInstance) {
		if v, ok := d.uintKeyword(n, 1, 255, n.Keyword+" N", n.Keyword+" N (1..255)"); ok {
			b.TTL = uint8(v)
		}
	}, "ttl", "hoplimit").
	add(noBlock, func(d *decoder, n *Node, b *BFDInstance) {
		if !d.args(n, 1, 1, "max_hops N") {
			return
		}
		v, err := strconv.Atoi(n.Args[0])
		if err != nil || v < -1 || v > 255 {
			d.errorf(n, "write max_hops N (-1..255; 255 or -1 turns the TTL check off)", "%q is not a number in -1..255", n.Args[0])
			return
		}
		if v < 0 {
			v = 255 // keepalived stores -1 in a uint8
		}
		b.MaxHops = v
	}, "max_hops").
	add(noBlock, func(d *decoder, n *Node, b *BFDInstance) {
		if v, ok := d.optionalBool(n); ok {
			b.Multihop = v
		}
	}, "multihop").
	add(noBlock, func(d *decoder, n *Node, b *BFDInstance) {
		const usage = "weight N [reverse] (N in -253..253)"
		if !d.args(n, 1, 2, usage) {
			return
		}
		v, err := strconv.Atoi(n.Args[0])
		if err != nil || v < -253 || v > 253 {
			d.errorf(n, "write "+usage, "%q is not a number in -253..253", n.Args[0])
			return
		}
		if len(n.Args) == 2 && n.Args[1] != "reverse" {
			d.errorf(n, "write "+usage, "unknown weight option %q", n.Args[1])
			return
		}
		b.Weight, b.WeightReverse = v, len(n.Args) == 2
	}, "weight").
	add(noBlock, func(d *decoder, n *Node, b *BFDInstance) { b.VRRPOnly = true }, "vrrp").
	add(noBlock, func(d *decoder, n *Node, b *BFDInstance) { b.CheckerOnly = true }, "checker")

// bfdMillis parses keepalived's BFD interval: milliseconds with up to
// three decimals (microsecond resolution), at least lo ms.
func (d *decoder) bfdMillis(n *Node, lo uint64, dst *time.Duration) {
	usage := fmt.Sprintf("%s MS (milliseconds, %d..%d, up to 3 decimals)", n.Keyword, lo, uint64(bfdMaxMillis))
	if !d.args(n, 1, 1, usage) {
		return
	}
	whole, frac, hasFrac := strings.Cut(n.Args[0], ".")
	ms, err := strconv.ParseUint(whole, 10, 64)
	bad := err != nil || (hasFrac && (frac == "" || len(frac) > 3 || strings.Trim(frac, "0123456789") != ""))
	us := ms * 1000
	if !bad && hasFrac {
		f, _ := strconv.ParseUint((frac + "00")[:3], 10, 64)
		us += f
	}
	if bad || us < lo*1000 || ms > bfdMaxMillis {
		d.errorf(n, "write "+usage, "%q is not a valid interval", n.Args[0])
		return
	}
	*dst = time.Duration(us) * time.Microsecond
}

// bfdInstance decodes one bfd_instance block.
func (d *decoder) bfdInstance(n *Node, cfg *Config) {
	if !d.args(n, 1, 1, "bfd_instance NAME { neighbor_ip ADDRESS ... }") {
		return
	}
	b := &BFDInstance{Pos: n.Pos, Name: n.Args[0], MinRx: bfdDefaultMinRx, MinTx: bfdDefaultMinTx,
		IdleTx: bfdDefaultIdleTx, Multiplier: bfdDefaultMultiplier}
	if len(b.Name) > bfdNameMax {
		d.errorf(n, fmt.Sprintf("use a name of at most %d characters", bfdNameMax), "bfd_instance name %q is too long", b.Name)
		return
	}
	for _, o := range cfg.BFD {
		if o.Name == b.Name {
			d.errorf(n, "give each bfd_instance its own name", "bfd_instance %s is already defined at %v", b.Name, o.Pos)
			return
		}
	}
	errsBefore := len(d.errs)
	decodeBlock(d, bfdTable, n, b)
	if len(d.errs) > errsBefore {
		return
	}
	switch {
	case !b.Neighbor.IsValid():
		d.errorf(n, "add neighbor_ip ADDRESS to the block", "bfd_instance %s has no neighbor_ip", b.Name)
		return
	case b.Source.IsValid() && b.Source.Is4() != b.Neighbor.Is4():
		d.errorf(n, "use a source_ip of the neighbour's address family", "bfd_instance %s: source_ip %v and neighbor_ip %v differ in family",
			b.Name, b.Source, b.Neighbor)
		return
	}
	for _, o := range cfg.BFD {
		if o.Neighbor == b.Neighbor && o.Source == b.Source && o.Multihop == b.Multihop {
			d.errorf(n, "one session per neighbour and source: merge the blocks, or set different source_ip",
				"bfd_instance %s has the same neighbour as %s (%v)", b.Name, o.Name, o.Pos)
			return
		}
	}
	if b.TTL == 0 {
		b.TTL = bfdDefaultTTL
	}
	if b.MaxHops != 255 && b.MaxHops > int(b.TTL) {
		d.warnf(n, "bfd_instance %s: max_hops %d exceeds ttl %d; using %d", b.Name, b.MaxHops, b.TTL, b.TTL)
		b.MaxHops = int(b.TTL)
	}
	cfg.BFD = append(cfg.BFD, b)
}

var bfdCheckTable = newTable("BFD_CHECK", func(*bfdCheckState, *Node) {}).
	add(noBlock, func(d *decoder, n *Node, s *bfdCheckState) {
		if !d.args(n, 1, 1, "name BFD_INSTANCE") {
			return
		}
		if s.name != "" {
			d.errorf(n, "a BFD_CHECK follows one bfd_instance; add another BFD_CHECK block for another", "name is already %s", s.name)
			return
		}
		s.name = n.Args[0]
	}, "name").
	add(noBlock, func(d *decoder, n *Node, s *bfdCheckState) {
		if v, ok := d.optionalBool(n); ok {
			s.alpha = v
		}
	}, "alpha")

type bfdCheckState struct {
	name  string
	alpha bool
}

// bfdCheck decodes a BFD_CHECK block of rs. The checker has no timers:
// its verdict is the session state, Up or not, as it changes.
func (d *decoder) bfdCheck(n *Node, rs *RealServer, cfg *Config, taken []*Check) *Check {
	s := &bfdCheckState{alpha: rs.Alpha}
	errsBefore := len(d.errs)
	decodeBlock(d, bfdCheckTable, n, s)
	if len(d.errs) > errsBefore {
		return nil
	}
	if s.name == "" {
		d.errorf(n, "add name BFD_INSTANCE to the block", "BFD_CHECK has no name")
		return nil
	}
	var inst *BFDInstance
	for _, b := range cfg.BFD {
		if b.Name == s.name && !b.VRRPOnly {
			inst = b
		}
	}
	if inst == nil {
		d.errorf(n, "define bfd_instance "+s.name+" { neighbor_ip ... } (without the vrrp keyword)",
			"BFD_CHECK: no bfd_instance %s for the checkers", s.name)
		return nil
	}
	for _, c := range taken {
		if c.BFD != nil && c.BFD.Name == s.name {
			d.errorf(n, "remove the second BFD_CHECK", "the real server already follows bfd_instance %s", s.name)
			return nil
		}
	}
	return &Check{Pos: n.Pos, Kind: CheckBFD, Alpha: s.alpha, Target: netip.AddrPortFrom(inst.Neighbor, 0),
		BFD: &BFDCheck{Name: s.name}}
}

// warnTrackBFD names the track_bfd blocks of VRRP, which ulvs accepts but
// does not run.
func (d *decoder) warnTrackBFD(cfg *Config) {
	for _, in := range cfg.VRRP.Instances {
		for _, n := range in.Extra {
			if n.Keyword == "track_bfd" {
				d.warnf(n, "vrrp_instance %s: track_bfd is not run by ulvs; the priority ignores BFD sessions (use track_script)", in.Name)
			}
		}
	}
	for _, g := range cfg.VRRP.SyncGroups {
		for _, n := range g.Extra {
			if n.Keyword == "track_bfd" {
				d.warnf(n, "vrrp_sync_group %s: track_bfd is not run by ulvs; ignored", g.Name)
			}
		}
	}
}
