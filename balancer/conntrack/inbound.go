package conntrack

import (
	"github.com/ulvs/ulvs/balancer"
)

// Inbound decides what to do with a packet from a client: t is the packet's
// tuple (client -> virtual address), flags its TCP flags (ignored for UDP),
// now the batch's clock. src is the current Table snapshot.
//
// The order follows IPVS's ip_vs_in: look the connection up; a SYN over a
// finished entry (conn_reuse_mode) or over a weight-0 server
// (expire_nodest_conn) expires it; an entry whose server left the table is
// dropped or expired (expire_nodest_conn); otherwise a miss schedules a new
// connection through the service's persistence template or scheduler.
// Inbound does not allocate. inboundBatch decides a whole receive batch
// faster when the table is larger than the CPU caches.
func (w *Worker) Inbound(src ServiceSource, t Tuple4, flags TCPFlags, now Tick) InboundResult {
	if t.Proto != balancer.TCP && t.Proto != balancer.UDP {
		return w.untracked(src, &t, nil)
	}
	// Only what the lookup reads, spelled out so that it inlines here
	// (hashIn also prepares prefetching and grouping, for batches).
	tab := w.d.tab
	var p packet
	p.flags = flags
	p.sh = &tab.shards[tab.shardIndex(connBE32(t.Src), t.SrcPort, t.Proto)]
	p.in = makeInKey(t.Src, t.Dst, t.SrcPort, t.DstPort, t.Proto, kindConn)
	p.h = tab.hash.in(&p.in)
	return w.inbound(src, &p, &t, now, nil)
}

// untracked handles a client packet of a protocol without connection
// tracking.
func (w *Worker) untracked(src ServiceSource, t *Tuple4, tl *connTally) InboundResult {
	if src.LookupV4(t.Proto, t.Dst, t.DstPort) != nil {
		return w.drop(DropProtocol)
	}
	w.countNotService(tl)
	return InboundResult{}
}

// inbound is Inbound for a hashed TCP or UDP client packet, counting into
// tl (nil: into the worker's counters).
func (w *Worker) inbound(src ServiceSource, p *packet, t *Tuple4, now Tick, tl *connTally) InboundResult {
	p.sh.mu.Lock()
	cur, pos := w.d.hitInLocked(src, p, now)
	if cur != nil {
		p.sh.mu.Unlock()
		w.countForward(tl, false)
		return InboundResult{Action: ActionForward, Real: cur}
	}
	return w.inboundLocked(src, p, t, pos, now, tl)
}

// hitInLocked is the plain hit of a client packet, with sh locked: a live
// entry whose real server is in the table and that the packet does not
// reschedule. It refreshes the entry and returns the real server; otherwise
// it changes nothing and returns nil and the lookup's answer (the entry's
// position, or -1) for inboundLocked. It is the only place a client
// packet's plain hit is decided: Inbound, the batch calls and DecideBatch's
// shard-grouped pass all come here.
func (d *Tracker) hitInLocked(src ServiceSource, p *packet, now Tick) (*balancer.RealServer, int) {
	pos := p.sh.findIn(&p.in, p.h)
	if pos < 0 {
		return nil, pos
	}
	e := &p.sh.slots[pos]
	if e.expired(now) {
		return nil, pos
	}
	cur := src.Real(e.real)
	if cur == nil || d.synReschedules(e, cur, p) {
		return nil, pos
	}
	d.update(e, cur, viewInput, p.flags, now)
	return cur, pos
}

// synReschedules reports whether a SYN over the live entry e, whose real
// server is cur (nil when it left the table), starts a new connection
// instead of following the entry: conn_reuse_mode over a finished entry, or
// expire_nodest_conn over a weight-0 server. Connections under a
// persistence template follow it regardless.
func (d *Tracker) synReschedules(e *connEntry, cur *balancer.RealServer, p *packet) bool {
	if p.in.proto != balancer.TCP || p.flags&TCPSyn == 0 || e.flags&flagControlled != 0 {
		return false
	}
	if d.cfg.ExpireNodestConn && cur != nil && cur.Weight == 0 {
		return true
	}
	return !d.cfg.NoConnReuse && d.newConnExpected(e)
}

// inboundLocked is everything but the plain hit, with sh locked and pos the
// lookup's answer: an expired entry, a rescheduling SYN, an entry whose
// real server left the table, or a miss. It unlocks sh.
func (w *Worker) inboundLocked(src ServiceSource, p *packet, t *Tuple4, pos int, now Tick, tl *connTally) InboundResult {
	d, sh := w.d, p.sh
	var rel connReleases
	if pos >= 0 {
		e := &sh.slots[pos]
		if e.expired(now) {
			d.dropEntry(src, sh, uint32(pos), &rel)
			w.ctr.expired.Add(1)
		} else {
			// Not a plain hit: a rescheduling SYN, or the server is gone,
			// which drops the packet unless expire_nodest_conn or a
			// rescheduling SYN makes way for a new connection.
			if src.Real(e.real) == nil && !d.cfg.ExpireNodestConn && !d.synReschedules(e, nil, p) {
				sh.mu.Unlock()
				return w.drop(DropRealUnavailable)
			}
			d.dropEntry(src, sh, uint32(pos), &rel)
			w.ctr.rescheduled.Add(1)
		}
	}
	if rel.n == 0 {
		// The common miss: nothing to release, so a plain service can be
		// scheduled and inserted under this same lock.
		return w.scheduleLocked(src, p, t, now, tl)
	}
	sh.mu.Unlock()
	rel.run(d)
	return w.schedule(src, p, t, now, tl)
}

// scheduleLocked handles a miss with sh still locked from the lookup, and
// unlocks it. A non-persistent service is scheduled and its entry inserted
// without unlocking in between (schedulers take no shard locks); a
// persistent service or a one-packet datagram unlocks first and goes
// through schedule, since a template lives in another shard and a
// goroutine never holds two shard locks.
func (w *Worker) scheduleLocked(src ServiceSource, p *packet, t *Tuple4, now Tick, tl *connTally) InboundResult {
	d, sh := w.d, p.sh
	svc := src.LookupV4(t.Proto, t.Dst, t.DstPort)
	switch {
	case svc == nil:
		sh.mu.Unlock()
		w.countNotService(tl)
		return InboundResult{}
	case t.Proto == balancer.TCP && !d.tcpSchedulable(p.flags):
		sh.mu.Unlock()
		return w.drop(DropNotSYN)
	case svc.Persistence > 0 || t.Proto == balancer.UDP && svc.Flags&balancer.FlagOnePacket != 0:
		sh.mu.Unlock()
		return w.scheduleService(src, svc, p, t, now, tl)
	case svc.Key.FWMark == 0 && svc.Key.Port != t.DstPort:
		sh.mu.Unlock()
		return w.drop(DropPortZero)
	}
	w.flow = balancer.Flow{Proto: t.Proto, Src: connAddrFrom4(t.Src), Dst: connAddrFrom4(t.Dst), SrcPort: t.SrcPort, DstPort: t.DstPort}
	var r *balancer.RealServer
	if svc.Sched != nil {
		r = svc.Sched.Schedule(&w.flow)
	}
	if r == nil {
		sh.mu.Unlock()
		return w.drop(DropNoRealServer)
	}
	if !r.Addr.Unmap().Is4() {
		sh.mu.Unlock()
		return w.drop(DropRealNotIPv4)
	}
	d.remember(r)
	e := newConnEntry(p, t, svc, r)
	var rel connReleases
	if !d.admit(src, sh, now, &rel, &w.ctr) {
		sh.mu.Unlock()
		rel.run(d)
		return w.drop(DropTableFull)
	}
	pos := d.tab.insert(sh, &e)
	r.Bind(balancer.ConnInactive)
	d.update(&sh.slots[pos], r, viewInput, p.flags, now)
	sh.mu.Unlock()
	rel.run(d)
	w.countForward(tl, true)
	return InboundResult{Action: ActionForward, Real: r, Service: svc, New: true}
}

// schedule handles a packet that matched no live connection, with no shard
// lock held.
func (w *Worker) schedule(src ServiceSource, p *packet, t *Tuple4, now Tick, tl *connTally) InboundResult {
	svc := src.LookupV4(t.Proto, t.Dst, t.DstPort)
	if svc == nil {
		w.countNotService(tl)
		return InboundResult{}
	}
	if t.Proto == balancer.TCP && !w.d.tcpSchedulable(p.flags) {
		return w.drop(DropNotSYN)
	}
	return w.scheduleService(src, svc, p, t, now, tl)
}

// tcpSchedulable says whether a TCP segment of no connection may start one:
// a SYN, or with sloppy_tcp anything but an RST (tcp_conn_schedule).
func (d *Tracker) tcpSchedulable(flags TCPFlags) bool {
	if flags&TCPRst != 0 {
		return false
	}
	return flags&TCPSyn != 0 || d.cfg.SloppyTCP
}

// scheduleService schedules a new flow of svc (found, and the TCP flags
// checked) with no shard lock held.
func (w *Worker) scheduleService(src ServiceSource, svc *balancer.Service, p *packet, t *Tuple4, now Tick, tl *connTally) InboundResult {
	d, sh := w.d, p.sh
	w.flow = balancer.Flow{Proto: t.Proto, Src: connAddrFrom4(t.Src), Dst: connAddrFrom4(t.Dst), SrcPort: t.SrcPort, DstPort: t.DstPort}
	onePacket := t.Proto == balancer.UDP && svc.Flags&balancer.FlagOnePacket != 0

	var (
		r          *balancer.RealServer
		controlled bool
		tk         inKey
		maskBits   uint8
	)
	if svc.Persistence > 0 {
		var reason DropReason
		r, tk, maskBits, reason = w.persist(src, svc, *t, !onePacket, now)
		if r == nil {
			return w.drop(reason)
		}
		controlled = !onePacket
	} else {
		if svc.Key.FWMark == 0 && svc.Key.Port != t.DstPort {
			return w.drop(DropPortZero)
		}
		if svc.Sched != nil {
			r = svc.Sched.Schedule(&w.flow)
		}
		if r == nil {
			return w.drop(DropNoRealServer)
		}
	}
	if !r.Addr.Unmap().Is4() {
		if controlled {
			d.releaseTemplate(&tk)
		}
		return w.drop(DropRealNotIPv4)
	}
	d.remember(r)
	if onePacket {
		// IPVS creates and at once frees an entry: the server's connection
		// total grows, its live counts do not.
		r.Bind(balancer.ConnInactive)
		r.Unbind(balancer.ConnInactive)
		w.ctr.onePacket.Add(1)
		w.countForward(tl, false)
		return InboundResult{Action: ActionForward, Real: r, Service: svc}
	}

	e := newConnEntry(p, t, svc, r)
	if controlled {
		e.flags |= flagControlled
		e.aux |= uint32(maskBits)
		if uint16(tk.ports) == 0 {
			e.flags |= flagTmplPortZero
		}
	}

	var rel connReleases
	sh.mu.Lock()
	if pos := sh.findIn(&p.in, p.h); pos >= 0 {
		old := &sh.slots[pos]
		if !old.expired(now) {
			// Another worker created the entry meanwhile: follow it.
			cur := d.realByID(src, old.real)
			d.update(old, cur, viewInput, p.flags, now)
			sh.mu.Unlock()
			if controlled {
				d.releaseTemplate(&tk)
			}
			w.countForward(tl, false)
			return InboundResult{Action: ActionForward, Real: cur}
		}
		d.dropEntry(src, sh, uint32(pos), &rel)
		w.ctr.expired.Add(1)
	}
	if !d.admit(src, sh, now, &rel, &w.ctr) {
		sh.mu.Unlock()
		rel.run(d)
		if controlled {
			d.releaseTemplate(&tk)
		}
		return w.drop(DropTableFull)
	}
	pos := d.tab.insert(sh, &e)
	r.Bind(balancer.ConnInactive)
	d.update(&sh.slots[pos], r, viewInput, p.flags, now)
	sh.mu.Unlock()
	rel.run(d)
	w.countForward(tl, true)
	return InboundResult{Action: ActionForward, Real: r, Service: svc, New: true}
}
