package conntrack

import (
	"net/netip"

	"github.com/ulvs/ulvs/balancer"
)

// flagTmplPortZero marks a controlled connection whose template has virtual
// port 0 (port-zero, fwmark and FTP services), so the template's key can be
// rebuilt from the connection alone.
const flagTmplPortZero uint8 = 1 << 6

// connFTPPort is the control port IPVS treats specially: its templates carry
// virtual port 0 so FTP data connections follow the control connection.
const connFTPPort = 21

func connAddrFrom4(a [4]byte) netip.Addr { return netip.AddrFrom4(a) }

func connPrefixMask(bits int) uint32 {
	if bits <= 0 || bits >= 32 {
		return ^uint32(0)
	}
	return ^uint32(0) << (32 - bits)
}

// connPersistMaskBits is the service's persistence granularity; zero (and
// anything outside 1..32) means one client address, IPVS's default.
func connPersistMaskBits(svc *balancer.Service) int {
	if b := svc.PersistenceMaskBits; b > 0 && b <= 32 {
		return b
	}
	return 32
}

// connTemplateKeyOf rebuilds the key of the template controlling connection e.
func connTemplateKeyOf(e *connEntry) inKey {
	vport := uint32(e.vport())
	if e.flags&flagTmplPortZero != 0 {
		vport = 0
	}
	net := e.client() & connPrefixMask(int(e.maskBits()))
	return inKey{addrs: uint64(net)<<32 | uint64(e.virtual()), ports: vport, proto: e.proto, kind: kindTemplate}
}

// persist is IPVS's ip_vs_sched_persist: find or create the template that
// maps the client's network (masked by the service's persistence netmask)
// to a real server. The template is <proto, client-net, 0, vip, vport>;
// vport is 0 for port-zero, fwmark and FTP services so every port of the
// virtual address follows the same server. A template is honoured while its
// server is in the table (and, with ExpireQuiescentTemplate, has a
// non-zero weight); otherwise the client is scheduled anew.
//
// With control set, the template's count of controlled connections is
// raised; the caller must call releaseTemplate with the returned key if it
// does not create the connection after all. The template's timer restarts
// at every use, and a template never expires while it controls
// connections (IPVS re-arms its timer).
//
// IPVS leaves an invalidated template that still controls connections in
// the table and hashes a new one beside it; here the template is re-pointed
// at the new server instead (its persistent-connection count moves at
// once), which keeps one template per key and its controlled-connection
// count exact.
func (w *Worker) persist(src ServiceSource, svc *balancer.Service, t Tuple4, control bool, now Tick) (*balancer.RealServer, inKey, uint8, DropReason) {
	d := w.d
	bits := connPersistMaskBits(svc)
	net := connBE32(t.Src) & connPrefixMask(bits)
	vport := t.DstPort
	if svc.Key.FWMark != 0 || svc.Key.Port == 0 || svc.Key.Port == connFTPPort || t.DstPort != svc.Key.Port {
		vport = 0
	}
	tk := inKey{addrs: uint64(net)<<32 | uint64(connBE32(t.Dst)), ports: uint32(vport), proto: t.Proto, kind: kindTemplate}
	sh := d.tab.shardAt(net, 0, t.Proto)
	h := d.tab.hash.in(&tk)
	timeout := Ticks(svc.Persistence)

	var (
		rel connReleases
		r   *balancer.RealServer
	)
	sh.mu.Lock()
	pos := sh.findIn(&tk, h)
	if pos >= 0 {
		e := &sh.slots[pos]
		if e.expired(now) && e.aux == 0 {
			d.dropEntry(src, sh, uint32(pos), &rel)
			w.ctr.expired.Add(1)
			pos = -1
		} else {
			var cur *balancer.RealServer
			if e.flags&flagNoReal == 0 {
				cur = src.Real(e.real)
			}
			if cur != nil && !(d.cfg.ExpireQuiescentTemplate && cur.Weight == 0) {
				r = cur
			} else if e.aux == 0 {
				d.dropEntry(src, sh, uint32(pos), &rel)
				pos = -1
			}
		}
	}
	if r == nil {
		// Schedule under the template's shard lock so two workers cannot
		// create two templates for one client network.
		if svc.Sched != nil {
			r = svc.Sched.Schedule(&w.flow)
		}
		if r == nil {
			sh.mu.Unlock()
			rel.run(d)
			return nil, tk, 0, DropNoRealServer
		}
		d.remember(r)
		if pos >= 0 {
			e := &sh.slots[pos]
			if e.flags&flagNoReal == 0 {
				if old := d.realByID(src, e.real); old != nil {
					old.Unbind(balancer.ConnTemplate)
				}
			}
			e.flags &^= flagNoReal
			e.flags = e.flags&^flagMethodMask | uint8(r.Method)<<flagMethodShift
			e.real = r.ID
			r.Bind(balancer.ConnTemplate)
		} else {
			if !d.admit(src, sh, now, &rel, &w.ctr) {
				sh.mu.Unlock()
				rel.run(d)
				return nil, tk, 0, DropTableFull
			}
			e := connEntry{
				addrs: tk.addrs, ports: tk.ports, proto: t.Proto, kind: kindTemplate,
				flags: uint8(r.Method) << flagMethodShift, real: r.ID,
			}
			pos = int(d.tab.insert(sh, &e))
			r.Bind(balancer.ConnTemplate)
			w.ctr.templates.Add(1)
		}
	}
	e := &sh.slots[pos]
	e.dst = uint32(timeout)
	e.expires = now + timeout
	if control {
		e.aux++
	}
	sh.mu.Unlock()
	rel.run(d)
	return r, tk, uint8(bits), DropNone
}

// releaseTemplate drops one controlled-connection reference from the
// template with key tk. The template itself expires later, by its timer.
func (d *Tracker) releaseTemplate(tk *inKey) {
	sh := d.tab.shardAt(uint32(tk.addrs>>32), 0, tk.proto)
	h := d.tab.hash.in(tk)
	sh.mu.Lock()
	if pos := sh.findIn(tk, h); pos >= 0 && sh.slots[pos].aux > 0 {
		sh.slots[pos].aux--
	}
	sh.mu.Unlock()
}
