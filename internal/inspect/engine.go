// Package inspect explains what the ulvs data plane does with a packet: it
// runs each frame through the very packet loop `ulvs run` uses (parser,
// balancer, connection table, NAT/DR/TUN rewriters), over in-memory
// sockets, and records the decision and the frame before and after as
// field trees an independent decoder (gopacket) reads. The records render
// as text (Printer), JSON, or a pcapng file with a comment on every packet
// (PcapngWriter); `ulvs trace` is meant to stream the same Rewrite records
// from a running director.
package inspect

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/balancer/conntrack"
	"github.com/ulvs/ulvs/forward"
	"github.com/ulvs/ulvs/forward/afpacket"
	"github.com/ulvs/ulvs/forward/afpacket/afpackettest"
	"github.com/ulvs/ulvs/forward/neigh"
)

// The interfaces of the modelled director.
const (
	IfaceClient = "client"      // where clients reach the VIPs
	IfaceReals  = "real-server" // towards the real servers
)

// The director's MAC addresses in the model: locally administered and
// easy to tell apart in a dump.
var (
	DirectorClientMAC = [6]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	DirectorRealsMAC  = [6]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
)

// Options configure an Engine.
type Options struct {
	// Services are the virtual services, as config.Config.Services or
	// ServicesFor return them.
	Services []balancer.ServiceConfig
	// Modes lists the forwarding methods to show: each gets its own
	// director (table, connections, loop) with every real server switched
	// to that method. Empty means one director with the methods as
	// configured.
	Modes []balancer.Method
	// ClientAddr is the director's address on the client side, the source
	// of the ICMP errors it sends; zero means the first VIP's /24 with host
	// part 1.
	ClientAddr netip.Addr
	// RealsAddr is the director's address on the real-server side, the
	// outer source of TUN packets; zero means the first real server's /24
	// with host part 1.
	RealsAddr netip.Addr
	// MTU is the real-server-side MTU; zero means 1500.
	MTU int
}

// Rewrite is what one director did with one frame: the decision, the
// frame as received and the frames sent because of it (none for a drop).
// Printer, the JSON encoding and PcapngWriter all render Rewrites.
type Rewrite struct {
	// Packet is the 1-based number of the input frame.
	Packet int `json:"packet"`
	// Mode is the forwarding method forced on every real server (NAT, DR,
	// TUN), or "config" when the configured methods were used.
	Mode string `json:"mode"`
	// Time is the frame's capture time (zero for described packets).
	Time     time.Time `json:"time,omitzero"`
	Decision Decision  `json:"decision"`
	// Drop is the reason the director sent nothing, as its counters name
	// it ("ttl_expired", "balancer:tcp_not_syn", ...); empty when it sent
	// the frame on. An ICMP error sent in reply accompanies some drops.
	Drop   string  `json:"drop,omitempty"`
	Before Frame   `json:"before"`
	After  []Frame `json:"after"`
}

// Decision is why the director did what it did.
type Decision struct {
	// Kind says which path the frame took: "new connection", "existing
	// connection", "NAT reply", "ICMP error", "ARP", "not ours".
	Kind      string `json:"kind"`
	Service   string `json:"service,omitempty"`
	Scheduler string `json:"scheduler,omitempty"`
	// Real is the real server the frame went (or would have gone) to.
	Real   string `json:"real,omitempty"`
	Method string `json:"method,omitempty"`
	// Why explains the choice of Real.
	Why        string      `json:"why,omitempty"`
	Candidates []Candidate `json:"candidates,omitempty"`
	// StateBefore and StateAfter are the connection entry's state ("none"
	// when there is no entry), as ipvsadm -Lnc shows it.
	StateBefore string `json:"state_before,omitempty"`
	StateAfter  string `json:"state_after,omitempty"`
	// Persistence describes the persistence template, when the service
	// has one.
	Persistence string `json:"persistence,omitempty"`
	// Change names the rewrite in one line.
	Change string `json:"change,omitempty"`
}

// Candidate is a real server of the service as the scheduler saw it.
type Candidate struct {
	Real      string `json:"real"`
	Method    string `json:"method"`
	Weight    uint32 `json:"weight"`
	Active    int32  `json:"active"`
	Inactive  int32  `json:"inactive"`
	Available bool   `json:"available"`
	Chosen    bool   `json:"chosen,omitempty"`
}

// Input is one frame to inspect.
type Input struct {
	Frame []byte
	Time  time.Time // zero for a described packet
}

// Engine runs frames through one packet loop per mode.
type Engine struct {
	lanes []*lane
	base  time.Time
	n     int
}

// lane is one modelled director.
type lane struct {
	mode          string
	tab           atomic.Pointer[balancer.Table]
	dir           *conntrack.Tracker
	loop          *forward.Loop
	client, reals *forward.Port
	now           conntrack.Tick
	sent          []sentFrame
}

type sentFrame struct {
	iface string
	data  []byte
}

// New builds the directors.
func New(o Options) (*Engine, error) {
	if len(o.Services) == 0 {
		return nil, fmt.Errorf("inspect: no virtual service; give a keepalived.conf with -f, or --real ADDR:PORT")
	}
	if o.MTU == 0 {
		o.MTU = 1500
	}
	if !o.ClientAddr.IsValid() {
		o.ClientAddr = hostOne(o.Services[0].Key.Addr)
	}
	if !o.RealsAddr.IsValid() {
		for _, s := range o.Services {
			if len(s.Reals) > 0 {
				o.RealsAddr = hostOne(s.Reals[0].Addr)
				break
			}
		}
		if !o.RealsAddr.IsValid() {
			o.RealsAddr = o.ClientAddr
		}
	}
	if !o.ClientAddr.Is4() || !o.RealsAddr.Is4() {
		return nil, fmt.Errorf("inspect: the director's addresses must be IPv4 (got %v and %v)", o.ClientAddr, o.RealsAddr)
	}
	e := &Engine{}
	modes := o.Modes
	if len(modes) == 0 {
		modes = []balancer.Method{255}
	}
	for _, m := range modes {
		l, err := newLane(m, o)
		if err != nil {
			return nil, err
		}
		e.lanes = append(e.lanes, l)
	}
	return e, nil
}

// hostOne returns a's /24 with host part 1, or .254 when a is .1 itself.
func hostOne(a netip.Addr) netip.Addr {
	if !a.Is4() {
		return netip.AddrFrom4([4]byte{192, 0, 2, 1})
	}
	b := a.As4()
	if b[3] == 1 {
		b[3] = 254
	} else {
		b[3] = 1
	}
	return netip.AddrFrom4(b)
}

func newLane(m balancer.Method, o Options) (*lane, error) {
	l := &lane{mode: "config", now: 1000}
	svcs := slices.Clone(o.Services)
	if m != 255 {
		l.mode = m.String()
		for i := range svcs {
			svcs[i].Reals = slices.Clone(svcs[i].Reals)
			for j := range svcs[i].Reals {
				svcs[i].Reals[j].Method = m
			}
		}
	}
	tab, err := balancer.NewTable(nil, svcs)
	if err != nil {
		return nil, err
	}
	l.tab.Store(tab)
	if l.dir, err = conntrack.New(conntrack.Config{MaxConns: 1 << 12}); err != nil {
		return nil, err
	}
	all := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	l.client = &forward.Port{Name: IfaceClient, Index: 1, MAC: DirectorClientMAC, MTU: 1500, Addr: o.ClientAddr.As4(),
		Prefixes: all, Neigh: neigh.New(neigh.Config{})}
	l.reals = &forward.Port{Name: IfaceReals, Index: 2, MAC: DirectorRealsMAC, MTU: o.MTU, Addr: o.RealsAddr.As4(),
		Prefixes: all, Neigh: neigh.New(neigh.Config{})}
	vips := new(neigh.VIPSet)
	for _, s := range tab.Services() {
		if s.Key.Addr.Is4() {
			vips.Claim(s.Key.Addr.As4())
		}
		for _, r := range s.Reals {
			if r.Addr.Is4() {
				l.reals.Neigh.SetStatic(r.Addr.As4(), SynthMAC(r.Addr))
			}
		}
	}
	l.loop, err = forward.NewLoop(forward.LoopConfig{
		Client: l.client, Reals: l.reals, Table: &l.tab, Tracker: l.dir, VIPs: vips, Workers: 1,
		Clock: func() conntrack.Tick { return l.now },
		Open: func(ifname string, _ *afpacket.Config) (afpacket.Conn, error) {
			// The loop never calls Receive: frames come in through
			// Loop.Step. What it transmits is recorded in order across
			// both interfaces.
			c := afpackettest.NewSized(ifname, 16384)
			c.OnCommit = func(frame []byte) {
				l.sent = append(l.sent, sentFrame{iface: ifname, data: append([]byte(nil), frame...)})
			}
			return c, nil
		},
	})
	return l, err
}

// Table returns the table of the first director, for callers that want
// to know the services (all directors differ only in methods).
func (e *Engine) Table() *balancer.Table { return e.lanes[0].tab.Load() }

// Inspect runs one frame through every director and returns one Rewrite
// per director, in the order of Options.Modes.
func (e *Engine) Inspect(in Input) []Rewrite {
	e.n++
	now := conntrack.Tick(1000 + e.n - 1)
	if !in.Time.IsZero() {
		if e.base.IsZero() {
			e.base = in.Time
		}
		now = 1000 + conntrack.Ticks(in.Time.Sub(e.base))
	}
	out := make([]Rewrite, 0, len(e.lanes))
	for _, l := range e.lanes {
		l.now = now
		rw := l.inspect(in.Frame)
		rw.Packet, rw.Time = e.n, in.Time
		out = append(out, rw)
	}
	return out
}

// side tells where a frame arrives: from a configured real server's
// address (and not to a VIP), on the real-server side; otherwise on the
// client side.
func (l *lane) side(p *forward.Parsed) *forward.Port {
	if p.ARP || p.L4 == 0 {
		return l.client
	}
	tab := l.tab.Load()
	if p.HasPorts && tab.LookupV4(balancer.Protocol(p.Proto), p.Dst, p.DstPort) != nil {
		return l.client
	}
	src := netip.AddrFrom4(p.Src)
	for _, s := range tab.Services() {
		for _, r := range s.Reals {
			if r.Addr == src {
				return l.reals
			}
		}
	}
	return l.client
}

func (l *lane) inspect(frame []byte) Rewrite {
	rw := Rewrite{Mode: l.mode}
	var p forward.Parsed
	work := append([]byte(nil), frame...)
	decodeErr := p.Decode(work)
	port := l.side(&p)
	rw.Before = decodeFrame(frame, port.Name, "in")

	// The frame's sender is a known neighbour, as it would be on a link
	// where it just sent a frame to the director.
	if decodeErr == forward.DropNone && !p.ARP && len(frame) >= 12 {
		var mac [6]byte
		copy(mac[:], frame[6:12])
		port.Neigh.SetStatic(p.Src, mac)
	}

	d := &rw.Decision
	key, keyed := l.connTuple(&p, port)
	var peekReal *balancer.RealServer
	var svc *balancer.Service
	tab := l.tab.Load()
	if keyed {
		d.StateBefore = l.state(key, port)
		if port == l.client && !p.ICMPRelated {
			svc = tab.LookupV4(key.Proto, key.Dst, key.DstPort)
			if svc != nil {
				flow := balancer.Flow{Proto: key.Proto, Src: netip.AddrFrom4(key.Src), Dst: netip.AddrFrom4(key.Dst), SrcPort: key.SrcPort, DstPort: key.DstPort}
				_, peekReal, _ = tab.Peek(&flow)
				d.Candidates = candidates(svc)
			}
		}
	}
	tmplBefore := l.templates()

	s0 := l.loop.Stats()
	sent0 := len(l.sent)
	l.loop.Step(port, afpacket.Frame{Data: work, Len: uint32(len(work))})
	s1 := l.loop.Stats()

	rw.Drop = dropOf(&s0, &s1)
	generated := s1.ICMPSent > s0.ICMPSent || s1.ARPReplies > s0.ARPReplies
	for _, sf := range l.sent[sent0:] {
		f := decodeFrame(sf.data, sf.iface, "out")
		if generated {
			f.Generated = true
		} else {
			diff(&rw.Before, &f)
		}
		rw.After = append(rw.After, f)
	}
	l.sent = l.sent[:0]

	switch {
	case p.ARP:
		d.Kind = "ARP"
		if generated {
			d.Why = "an ARP request for a VIP: the director answers with its client-side MAC"
		} else {
			d.Why = "not a request for a VIP: left to the kernel"
		}
	case decodeErr != forward.DropNone && decodeErr != forward.DropFragment:
		d.Kind = "malformed"
		d.Why = "the parser refused the frame before any balancing"
	case !keyed:
		d.Kind = "not ours"
		d.Why = "no ports to look a service or connection up by (only TCP, UDP and ICMP errors about them are balanced)"
	default:
		l.explain(&rw, &p, port, key, svc, peekReal, tmplBefore)
	}
	if rw.Drop == "" && len(rw.After) > 0 && !generated {
		d.Change = changeSummary(&rw.Before, &rw.After[0])
	} else if generated && p.ARP {
		d.Change = "ARP reply built by the director"
	} else if generated {
		d.Change = "ICMP error built by the director and sent back to the client"
	}
	return rw
}

// connTuple is the client -> VIP tuple of the connection a frame belongs
// to, as the loop looks it up.
func (l *lane) connTuple(p *forward.Parsed, port *forward.Port) (conntrack.Tuple4, bool) {
	if p.ICMPRelated {
		q := &p.Inner
		if !q.HasPorts {
			return conntrack.Tuple4{}, false
		}
		t := conntrack.Tuple4{Proto: balancer.Protocol(q.Proto), Src: q.Src, Dst: q.Dst, SrcPort: q.SrcPort, DstPort: q.DstPort}
		if port == l.client {
			// The quote went VIP -> client: reverse it.
			t.Src, t.Dst, t.SrcPort, t.DstPort = q.Dst, q.Src, q.DstPort, q.SrcPort
		}
		return t, true
	}
	if !p.HasPorts {
		return conntrack.Tuple4{}, false
	}
	return conntrack.Tuple4{Proto: balancer.Protocol(p.Proto), Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort}, true
}

// state describes the connection entry of tuple t: client -> VIP on the
// client side, real -> client (a reply) on the real-server side.
func (l *lane) state(t conntrack.Tuple4, port *forward.Port) string {
	var ci conntrack.ConnInfo
	var ok bool
	if port == l.client {
		ci, ok = l.dir.LookupInbound(t, l.now)
	} else {
		ci, ok = l.dir.LookupOutbound(t, l.now)
	}
	if !ok {
		return "none"
	}
	return fmt.Sprintf("%v, %v -> %v, expires in %v", ci.State, ap(ci.Client, ci.CPort), ap(ci.Real, ci.RPort), ci.Remaining(l.now).Round(time.Second))
}

func ap(a [4]byte, p uint16) string { return netip.AddrPortFrom(netip.AddrFrom4(a), p).String() }

// templates lists the persistence templates.
func (l *lane) templates() map[string]conntrack.ConnInfo {
	m := map[string]conntrack.ConnInfo{}
	l.dir.Conns(l.tab.Load(), l.now, func(ci conntrack.ConnInfo) bool {
		if ci.Template {
			m[fmt.Sprintf("%v %v %v", ci.Proto, ap(ci.Client, 0), ap(ci.Virtual, ci.VPort))] = ci
		}
		return true
	})
	return m
}

func candidates(svc *balancer.Service) []Candidate {
	out := make([]Candidate, 0, len(svc.Reals))
	for _, r := range svc.Reals {
		out = append(out, Candidate{Real: r.AddrPort().String(), Method: r.Method.String(), Weight: r.Weight,
			Active: r.Stats.ActiveConns(), Inactive: r.Stats.InactiveConns(),
			Available: r.Weight > 0 && !r.Stats.Overloaded()})
	}
	return out
}

// explain fills the decision for a frame that has a connection tuple.
func (l *lane) explain(rw *Rewrite, p *forward.Parsed, port *forward.Port, key conntrack.Tuple4, svc *balancer.Service, peek *balancer.RealServer, tmplBefore map[string]conntrack.ConnInfo) {
	d := &rw.Decision
	d.StateAfter = l.state(key, port)
	tab := l.tab.Load()
	var ci conntrack.ConnInfo
	var ok bool
	if port == l.client {
		ci, ok = l.dir.LookupInbound(key, l.now)
	} else {
		ci, ok = l.dir.LookupOutbound(key, l.now)
	}
	if ok {
		d.Real = ap(ci.Real, ci.RPort)
		d.Method = ci.Method.String()
		if r := tab.Real(ci.RealID); r != nil {
			d.Method = r.Method.String()
		}
		if s := tab.LookupV4(ci.Proto, ci.Virtual, ci.VPort); s != nil {
			d.Service, d.Scheduler = s.Key.String(), s.Scheduler
		}
	}
	switch {
	case p.ICMPRelated:
		d.Kind = "ICMP error"
		if ok {
			d.Why = "the error quotes a packet of a tracked connection, so it follows the connection (as ip_vs_in_icmp/ip_vs_out_icmp do)"
		} else {
			d.Why = "the error quotes no tracked connection: left to the kernel"
		}
		return
	case port == l.reals:
		d.Kind = "NAT reply"
		if ok {
			d.Why = "a reply from the real server of a NAT connection: its source goes back to the VIP"
		} else {
			d.Why = "no NAT connection matches this reply (DR and TUN replies never pass the director): left to the kernel"
		}
		return
	case svc == nil:
		d.Kind = "not ours"
		d.Why = "no virtual service has this address, port and protocol: left to the kernel"
		return
	}
	d.Service, d.Scheduler = svc.Key.String(), svc.Scheduler
	if d.StateBefore != "none" && !strings.HasPrefix(rw.Drop, "balancer:") && !isNewAfterReuse(d) {
		d.Kind = "existing connection"
		d.Why = "the connection table already maps this flow; the scheduler is not asked"
		markChosen(d)
		return
	}
	d.Kind = "new connection"
	if svc.Persistence > 0 {
		tk, tmpl := l.templateFor(svc, key)
		if _, had := tmplBefore[tk]; had && tmpl != nil {
			d.Persistence = fmt.Sprintf("existing template %s -> %s (controls %d connections, expires in %v)", tk, ap(tmpl.Real, tmpl.RPort), tmpl.Controlled, tmpl.Remaining(l.now).Round(time.Second))
			d.Why = "persistence: the client's template names the real server; the scheduler is not asked"
			markChosen(d)
			return
		}
		if tmpl != nil {
			d.Persistence = fmt.Sprintf("new template %s -> %s for %v", tk, ap(tmpl.Real, tmpl.RPort), svc.Persistence)
		}
	}
	if rw.Drop != "" && strings.HasPrefix(rw.Drop, "balancer:") {
		if rw.Drop == "balancer:tcp_not_syn" {
			d.Kind = "no connection"
		}
		d.Why = balancerDropWhy(rw.Drop)
		return
	}
	d.Why = schedulerRule(svc)
	if peek != nil && d.Real == "" {
		// One-packet UDP scheduling keeps no entry: the peeked server is
		// the one the scheduler returned.
		d.Real, d.Method = peek.AddrPort().String(), peek.Method.String()
	}
	markChosen(d)
}

// isNewAfterReuse reports a SYN that replaced a finished entry (IPVS
// conn_reuse_mode): the state before names the old connection.
func isNewAfterReuse(d *Decision) bool {
	return strings.HasPrefix(d.StateBefore, "TIME_WAIT") || strings.HasPrefix(d.StateBefore, "CLOSE,")
}

func markChosen(d *Decision) {
	for i := range d.Candidates {
		d.Candidates[i].Chosen = d.Candidates[i].Real == d.Real
	}
}

// templateFor finds the service's template for the client of key.
func (l *lane) templateFor(svc *balancer.Service, key conntrack.Tuple4) (string, *conntrack.ConnInfo) {
	var found *conntrack.ConnInfo
	var name string
	l.dir.Conns(l.tab.Load(), l.now, func(ci conntrack.ConnInfo) bool {
		if !ci.Template || ci.Virtual != svc.Key.Addr.As4() {
			return true
		}
		pfx, _ := netip.AddrFrom4(key.Src).Prefix(svc.PersistenceMaskBits)
		if pfx.Contains(netip.AddrFrom4(ci.Client)) && ci.Client == pfx.Addr().As4() {
			c := ci
			found = &c
			name = fmt.Sprintf("%v %v %v", ci.Proto, ap(ci.Client, 0), ap(ci.Virtual, ci.VPort))
			return false
		}
		return true
	})
	return name, found
}

// schedulerRule explains how the service's scheduler chooses.
func schedulerRule(svc *balancer.Service) string {
	port := ""
	if svc.Flags&balancer.FlagSchedPort != 0 {
		port = " and port"
	}
	switch svc.Scheduler {
	case "rr":
		return "rr (round robin): the next available server after the previous pick"
	case "wrr":
		return "wrr (weighted round robin): servers take turns in proportion to their weights"
	case "swrr":
		return "swrr (smooth weighted round robin): the highest running credit wins (every server gains its weight per pick, the winner pays the total)"
	case "lc":
		return "lc (least connections): the lowest overhead, active*256 + inactive"
	case "wlc":
		return "wlc (weighted least connections): the lowest (active*256 + inactive) / weight"
	case "sed":
		return "sed (shortest expected delay): the lowest (active + 1) / weight"
	case "nq":
		return "nq (never queue): the first server with no active connection, else the lowest (active + 1) / weight"
	case "fo":
		return "fo (weighted failover): the available server with the highest weight"
	case "ovf":
		return "ovf (overflow): the highest weight among servers whose active connections do not exceed their weight"
	case "sh":
		return "sh (source hashing): a hash of the client address" + port + " selects one of 256 buckets"
	case "dh":
		return "dh (destination hashing): a hash of the destination address selects one of 256 buckets"
	case "mh":
		return "mh (Maglev hashing): a hash of the client address" + port + " indexes a lookup table that gives each server a share proportional to its weight"
	case "lblc":
		return "lblc (locality-based least connections): the server last used for this destination address, unless it is overloaded; else wlc"
	case "lblcr":
		return "lblcr (lblc with replication): the least loaded server of this destination's set; an overloaded set grows"
	case "twos":
		return "twos (power of two choices): two servers drawn at random by weight; the less loaded one wins"
	}
	return svc.Scheduler
}

func balancerDropWhy(drop string) string {
	switch strings.TrimPrefix(drop, "balancer:") {
	case "tcp_not_syn":
		return "a TCP segment without SYN matched no connection; IPVS schedules only SYNs"
	case "no_real_server":
		return "the scheduler found no available real server (all weight 0, overloaded, or none)"
	case "real_server_unavailable":
		return "the connection's real server left the table (expire_nodest_conn is off)"
	case "table_full":
		return "the connection table is full"
	}
	return drop
}

// dropOf names the counter a Step incremented, if it was a drop.
func dropOf(s0, s1 *forward.LoopStats) string {
	for i := range s1.Drops {
		if s1.Drops[i] > s0.Drops[i] {
			return forward.DropReason(i).String()
		}
	}
	for i := range s1.BalancerDrops {
		if s1.BalancerDrops[i] > s0.BalancerDrops[i] {
			return "balancer:" + conntrack.DropReason(i).String()
		}
	}
	if s1.Inbound == s0.Inbound && s1.Outbound == s0.Outbound && s1.ARPReplies == s0.ARPReplies {
		return forward.DropNotOurs.String()
	}
	return ""
}

// changeSummary names a rewrite from the fields it changed.
func changeSummary(before, after *Frame) string {
	get := func(f *Frame, key string, outer bool) (Field, bool) {
		for _, l := range f.Layers {
			if l.Outer != outer {
				continue
			}
			for _, fd := range l.Fields {
				if fd.Key == key {
					return fd, true
				}
			}
		}
		return Field{}, false
	}
	var parts []string
	for _, l := range after.Layers {
		if l.Outer {
			src, _ := get(after, "ip.src", true)
			dst, _ := get(after, "ip.dst", true)
			parts = append(parts, fmt.Sprintf("IPIP encapsulation: outer IPv4 %s -> %s added", src.Value, dst.Value))
		}
	}
	port := "tcp"
	if _, ok := get(after, "udp.srcport", false); ok {
		port = "udp"
	}
	endpoint := func(f *Frame, dir string) string {
		a, _ := get(f, "ip."+dir, false)
		p, ok := get(f, port+"."+dir+"port", false)
		if !ok {
			return a.Value
		}
		return a.Value + ":" + p.Value
	}
	if b, a := endpoint(before, "dst"), endpoint(after, "dst"); a != b {
		parts = append(parts, fmt.Sprintf("DNAT %s -> %s", b, a))
	}
	if b, a := endpoint(before, "src"), endpoint(after, "src"); a != b {
		parts = append(parts, fmt.Sprintf("SNAT %s -> %s", b, a))
	}
	if f, _ := get(after, "ip.ttl", false); f.Status == "changed" {
		parts = append(parts, fmt.Sprintf("TTL %s -> %s", f.Old, f.Value))
	}
	var sums []string
	for _, k := range []string{"ip.checksum", "tcp.checksum", "udp.checksum", "icmp.checksum"} {
		if f, _ := get(after, k, false); f.Status == "changed" {
			sums = append(sums, strings.TrimSuffix(k, ".checksum"))
		}
	}
	if len(sums) > 0 {
		parts = append(parts, strings.Join(sums, "+")+" checksums updated incrementally")
	}
	if f, _ := get(after, "eth.dst", false); f.Status == "changed" {
		parts = append(parts, fmt.Sprintf("MAC dst %s -> %s", f.Old, f.Value))
	}
	if len(parts) == 1 && strings.HasPrefix(parts[0], "MAC") {
		parts = append(parts, "IP packet untouched")
	}
	return strings.Join(parts, "; ")
}

// Frame builds the frame a described packet would be as the director
// receives it: from a configured real server's address it arrives on the
// real-server side (to DirectorRealsMAC), otherwise on the client side (to
// DirectorClientMAC); the sender's MAC is SynthMAC of its address.
func (e *Engine) Frame(sp *Spec) ([]byte, error) {
	dst := DirectorClientMAC
	for _, s := range e.Table().Services() {
		for _, r := range s.Reals {
			if r.Addr == sp.Src.Addr() {
				dst = DirectorRealsMAC
			}
		}
	}
	return sp.Frame(SynthMAC(sp.Src.Addr()), dst)
}
