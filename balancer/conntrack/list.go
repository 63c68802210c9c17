package conntrack

import (
	"time"

	"github.com/ulvs/ulvs/balancer"
)

// ConnInfo describes one entry, for listings and ICMP handling.
type ConnInfo struct {
	Proto    balancer.Protocol
	Template bool // a persistence template (Client is the masked network, port 0)
	State    ConnState
	Expires  Tick // absolute expiry
	Client   [4]byte
	CPort    uint16
	Virtual  [4]byte
	VPort    uint16
	Real     [4]byte // zero for templates whose server is unknown
	RPort    uint16
	RealID   balancer.RealID
	Method   balancer.Method
	// Controlled counts the connections a template controls.
	Controlled uint32
}

// Remaining returns the time left before the entry expires.
func (c *ConnInfo) Remaining(now Tick) time.Duration {
	if !now.before(c.Expires) {
		return 0
	}
	return (c.Expires - now).Duration()
}

func (d *Tracker) info(src ServiceSource, e *connEntry) ConnInfo {
	c := ConnInfo{
		Proto: e.proto, Template: e.kind == kindTemplate, State: e.state, Expires: e.expires,
		Client: connAddr4(e.client()), CPort: e.cport(), Virtual: connAddr4(e.virtual()), VPort: e.vport(),
		RealID: e.real, Method: e.method(),
	}
	if e.kind == kindTemplate {
		c.Controlled = e.aux
		if e.flags&flagNoReal == 0 {
			if r := d.realByID(src, e.real); r != nil && r.Addr.Unmap().Is4() {
				c.Real, c.RPort, c.Method = r.Addr.Unmap().As4(), r.Port, r.Method
			}
		}
		return c
	}
	c.Real, c.RPort = connAddr4(e.dst), e.dport()
	return c
}

// LookupInbound finds the live connection a client-side tuple belongs to
// (client -> virtual), without changing it: for ICMP errors that quote a
// packet of the connection. It does not allocate.
func (d *Tracker) LookupInbound(t Tuple4, now Tick) (ConnInfo, bool) {
	sh := d.tab.shardOf(t.Src, t.SrcPort, t.Proto)
	k := makeInKey(t.Src, t.Dst, t.SrcPort, t.DstPort, t.Proto, kindConn)
	h := d.tab.hash.in(&k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if pos := sh.findIn(&k, h); pos >= 0 && !sh.slots[pos].expired(now) {
		return d.info(nil, &sh.slots[pos]), true
	}
	return ConnInfo{}, false
}

// LookupOutbound finds the live NAT connection a real-server-side tuple
// belongs to (real -> client), without changing it. It does not allocate.
func (d *Tracker) LookupOutbound(t Tuple4, now Tick) (ConnInfo, bool) {
	sh := d.tab.shardOf(t.Dst, t.DstPort, t.Proto)
	k := makeOutKey(&t)
	h := d.tab.hash.out(&k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if pos := sh.findOut(&k, h); pos >= 0 && !sh.slots[pos].expired(now) {
		return d.info(nil, &sh.slots[pos]), true
	}
	return ConnInfo{}, false
}

// connListChunk bounds how long a listing holds one shard lock.
const connListChunk = 256

// Conns calls fn for every live entry (connections and templates), as
// ipvsadm -Lnc lists them, until fn returns false. It holds each shard's
// lock only while copying a small chunk, so the packet path keeps running;
// entries that move during the walk may be missed or seen twice.
func (d *Tracker) Conns(src ServiceSource, now Tick, fn func(ConnInfo) bool) {
	var buf [connListChunk]connEntry
	for si := range d.tab.shards {
		sh := &d.tab.shards[si]
		for start := uint32(0); ; start += connListChunk {
			nb := 0
			sh.mu.Lock()
			if start >= sh.n {
				sh.mu.Unlock()
				break
			}
			end := min(start+connListChunk, sh.n)
			for i := start; i < end; i++ {
				if e := &sh.slots[i]; e.kind != kindEmpty && !e.expired(now) {
					buf[nb] = *e
					nb++
				}
			}
			sh.mu.Unlock()
			for i := 0; i < nb; i++ {
				if !fn(d.info(src, &buf[i])) {
					return
				}
			}
		}
	}
}
