package conntrack

import ()

// Outbound handles a NAT reply from a real server: t is the reply's tuple
// (real server -> client). On a hit it runs the state machine in the output
// view and returns the virtual address and port to rewrite the source to.
// Outbound does not allocate.
func (w *Worker) Outbound(src ServiceSource, t Tuple4, flags TCPFlags, now Tick) OutboundResult {
	d := w.d
	sh := d.tab.shardOf(t.Dst, t.DstPort, t.Proto)
	k := makeOutKey(&t)
	h := d.tab.hash.out(&k)
	// The hit is spelled out here as in outbound, to save a call.
	sh.mu.Lock()
	pos := sh.findOut(&k, h)
	if pos >= 0 && !sh.slots[pos].expired(now) {
		e := &sh.slots[pos]
		d.update(e, d.realByID(src, e.real), viewOutput, flags, now)
		res := OutboundResult{Action: ActionForward, VIP: connAddr4(e.virtual()), VPort: e.vport(), Real: e.real}
		sh.mu.Unlock()
		w.ctr.forwarded.Add(1)
		return res
	}
	return w.outboundMiss(src, sh, pos, nil)
}

// makeOutKey is the outbound key of a reply tuple (real -> client).
func makeOutKey(t *Tuple4) outKey {
	return outKey{addrs: uint64(connBE32(t.Src))<<32 | uint64(connBE32(t.Dst)), ports: uint32(t.SrcPort)<<16 | uint32(t.DstPort), proto: t.Proto}
}

// outbound is Outbound with the shard, key and hash already known,
// counting into tl (nil: into the worker's counters).
func (w *Worker) outbound(src ServiceSource, sh *connShard, k *outKey, h uint64, flags TCPFlags, now Tick, tl *connTally) OutboundResult {
	sh.mu.Lock()
	var res OutboundResult
	pos, hit := w.d.hitOutLocked(src, sh, k, h, flags, now, &res)
	if hit {
		sh.mu.Unlock()
		w.countForward(tl, false)
		return res
	}
	return w.outboundMiss(src, sh, pos, tl)
}

// hitOutLocked is the plain hit of a NAT reply, with sh locked: a live
// entry, which it refreshes, filling res with the decision, and hit is
// true. Otherwise it changes nothing, res included. pos is the lookup's
// answer (the entry's position, or -1) for outboundMiss.
func (d *Director) hitOutLocked(src ServiceSource, sh *connShard, k *outKey, h uint64, flags TCPFlags, now Tick, res *OutboundResult) (pos int, hit bool) {
	pos = sh.findOut(k, h)
	if pos < 0 || sh.slots[pos].expired(now) {
		return pos, false
	}
	e := &sh.slots[pos]
	d.update(e, d.realByID(src, e.real), viewOutput, flags, now)
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
