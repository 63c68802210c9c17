package conntrack

// Outbound handles a NAT reply from a real server: t is the reply's tuple
// (real server -> client). On a hit it runs the state machine in the output
// view and returns the virtual address and port to rewrite the source to.
// Outbound does not allocate.
func (w *Worker) Outbound(src ServiceSource, t Tuple4, flags TCPFlags, now Tick) OutboundResult {
	// As in Inbound: only what the lookup reads, inlined.
	tab := w.d.tab
	var p packet
	p.flags = flags
	p.sh = &tab.shards[tab.shardIndex(connBE32(t.Dst), t.DstPort, t.Proto)]
	p.out = makeOutKey(&t)
	p.h = tab.hash.out(&p.out)
	return w.outbound(src, &p, now, nil)
}

// outbound is Outbound for a hashed reply, counting into tl (nil: into
// the worker's counters).
func (w *Worker) outbound(src ServiceSource, p *packet, now Tick, tl *connTally) OutboundResult {
	p.sh.mu.Lock()
	var res OutboundResult
	pos, hit := w.d.hitOutLocked(src, p, now, &res)
	if hit {
		p.sh.mu.Unlock()
		w.countForward(tl, false)
		return res
	}
	return w.outboundMiss(src, p.sh, pos, tl)
}

// hitOutLocked is the plain hit of a NAT reply, with sh locked: a live
// entry, which it refreshes, filling res with the decision, and hit is
// true. Otherwise it changes nothing, res included. pos is the lookup's
// answer (the entry's position, or -1) for outboundMiss. It is the only
// place a reply's plain hit is decided.
func (d *Tracker) hitOutLocked(src ServiceSource, p *packet, now Tick, res *OutboundResult) (pos int, hit bool) {
	sh := p.sh
	pos = sh.findOut(&p.out, p.h)
	if pos < 0 || sh.slots[pos].expired(now) {
		return pos, false
	}
	e := &sh.slots[pos]
	d.update(e, d.realByID(src, e.real), viewOutput, p.flags, now)
	res.Action, res.VIP, res.VPort, res.Real = ActionForward, connAddr4(e.virtual()), e.vport(), e.real
	return pos, true
}

// outboundMiss handles a reply that found no live entry, with sh locked:
// pos is an expired entry to remove, or -1. It unlocks sh.
func (w *Worker) outboundMiss(src ServiceSource, sh *connShard, pos int, tl *connTally) OutboundResult {
	if pos >= 0 {
		var rel connReleases
		w.d.dropEntry(src, sh, uint32(pos), &rel)
		sh.mu.Unlock()
		rel.run(w.d)
		w.ctr.expired.Add(1)
	} else {
		sh.mu.Unlock()
	}
	w.countNotService(tl)
	return OutboundResult{}
}
