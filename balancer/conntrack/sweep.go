package conntrack

import (
	"github.com/ulvs/ulvs/balancer"
)

// Sweep removes expired entries, advancing over at most budget slots and
// at most one full pass, and returns how many it removed. A control
// goroutine calls it periodically; each call resumes where the last one
// stopped, so budget = Slots() is one full pass. At the end of its pass
// over a shard it shrinks the shard when few of its slots are in use.
// Each shard lock is held for at most connSweepChunk slots (plus the
// removals among them), so a million entries expiring at once never
// stall a worker for long. To visit the whole table every P seconds, call
// it every T seconds with budget = Slots()*T/P.
func (d *Tracker) Sweep(src ServiceSource, now Tick, budget int) int {
	d.sweepMu.Lock()
	defer d.sweepMu.Unlock()
	removed := 0
	// At most one full pass per call: shards are as small as their live
	// entries, so a budget sized for the capacity would otherwise go round
	// a lightly used table many times, locking every shard each time.
	budget = min(budget, d.ActiveSlots())
	// fromStart: this call has visited the current shard from slot 0 in
	// its current layout, so every entry was looked at and a shrink (which
	// moves them all) can miss none.
	fromStart := false
	for budget > 0 {
		sh := &d.tab.shards[d.sweepShard]
		chunk := min(budget, connSweepChunk)
		var rel connReleases
		advanced, wrapped := 0, false
		sh.mu.Lock()
		i := sh.sweep
		if i == 0 {
			fromStart = true
		}
		if sh.used == 0 {
			// Nothing here can expire: the rest of the shard counts as
			// visited without being read, so an idle table costs no
			// memory traffic and the passes keep their pace.
			if rest := int(sh.n - i); rest <= budget {
				i, advanced, wrapped = 0, rest, true
			} else {
				i, advanced = i+uint32(budget), budget
			}
		}
		for !wrapped && advanced < chunk && !rel.full() {
			e := &sh.slots[i]
			if e.kind != kindEmpty && e.expired(now) {
				if e.kind == kindTemplate && e.aux > 0 {
					// Still controls connections: IPVS re-arms the timer.
					e.expires = now + Tick(e.dst)
				} else {
					d.dropEntry(src, sh, i, &rel)
					removed++
					continue // a later entry may have shifted into slot i
				}
			}
			advanced++
			if i = sh.next(i); i == 0 {
				wrapped = true
				break
			}
		}
		sh.sweep = i
		if wrapped && fromStart {
			d.tab.shrink(sh)
		}
		sh.mu.Unlock()
		rel.run(d)
		budget -= advanced
		if wrapped {
			fromStart = false
			d.sweepShard = (d.sweepShard + 1) % len(d.tab.shards)
		}
	}
	d.ctr.expired.Add(uint64(removed))
	return removed
}

const connSweepChunk = 256

// Slots returns the table's total slot count at capacity, the unit of
// Sweep's budget: a budget of Slots() covers at least one full pass, since
// a pass visits only the shards' active slots.
func (d *Tracker) Slots() int { return len(d.tab.shards) * int(d.tab.region) }

// PurgeReal removes every connection of real server id and every template
// pointing at it, unbinding them, and returns how many entries it removed.
// Templates that still control connections of other servers stay (for
// their accounting) but no longer point anywhere; the next client of that
// template is scheduled anew. Call it when a server is removed and
// ExpireNodestConn is on, as IPVS's ip_vs_expire_nodest_conn_flush does.
func (d *Tracker) PurgeReal(src ServiceSource, id balancer.RealID) int {
	removed := 0
	for si := range d.tab.shards {
		sh := &d.tab.shards[si]
		start, resizes := uint32(0), uint32(0)
		for {
			var rel connReleases
			sh.mu.Lock()
			if start > 0 && sh.resizes != resizes {
				// A new connection grew the shard between chunks and moved
				// its entries: walk it again (what was purged stays so).
				start = 0
			}
			resizes = sh.resizes
			if start >= sh.n {
				sh.mu.Unlock()
				break
			}
			i := start
			end := min(start+connSweepChunk, sh.n)
			for i < end && !rel.full() {
				e := &sh.slots[i]
				if e.kind != kindEmpty && e.real == id && e.flags&flagNoReal == 0 {
					if e.kind == kindTemplate && e.aux > 0 {
						if r := d.realByID(src, id); r != nil {
							r.Unbind(balancer.ConnTemplate)
						}
						e.flags |= flagNoReal
					} else {
						d.dropEntry(src, sh, i, &rel)
						removed++
						continue
					}
				}
				i++
			}
			sh.mu.Unlock()
			rel.run(d)
			start = i
		}
	}
	d.ctr.purged.Add(uint64(removed))
	return removed
}
