package conntrack

import (
	"github.com/ulvs/ulvs/balancer"
)

// connReleases collects template references to drop after a shard lock is
// released, so no goroutine ever holds two shard locks.
type connReleases struct {
	n    int
	keys [8]inKey
}

func (r *connReleases) full() bool { return r.n == len(r.keys) }

func (r *connReleases) add(k inKey) {
	if r.n < len(r.keys) {
		r.keys[r.n] = k
		r.n++
	}
}

func (r *connReleases) run(d *Tracker) {
	for i := 0; i < r.n; i++ {
		d.releaseTemplate(&r.keys[i])
	}
	r.n = 0
}

// dropEntry removes the entry at pos of sh (locked), unbinding it from its
// real server. The caller must leave room in rel for a template release.
func (d *Tracker) dropEntry(src ServiceSource, sh *connShard, pos uint32, rel *connReleases) {
	e := &sh.slots[pos]
	if e.kind == kindTemplate {
		if e.flags&flagNoReal == 0 {
			if r := d.realByID(src, e.real); r != nil {
				r.Unbind(balancer.ConnTemplate)
			}
		}
	} else {
		if r := d.realByID(src, e.real); r != nil {
			r.Unbind(e.connKind())
		}
		if e.flags&flagControlled != 0 {
			rel.add(connTemplateKeyOf(e))
		}
	}
	sh.remove(&d.tab.hash, pos)
	d.tab.release(1)
}

// update runs the state machine for a packet seen in view v and restarts
// the entry's timer, as IPVS's set_tcp_state and ip_vs_conn_put do.
func (d *Tracker) update(e *connEntry, r *balancer.RealServer, v tcpView, f TCPFlags, now Tick) {
	if e.proto == balancer.TCP {
		if e.flags&flagNoOutput != 0 {
			if v == viewOutput {
				e.flags &^= flagNoOutput
			} else {
				v = viewInputOnly
			}
		}
		ns := nextTCPState(e.state, v, f)
		if ns != e.state {
			inactive := e.flags&flagInactive != 0
			switch {
			case !inactive && !ns.Active():
				e.flags |= flagInactive
				if r != nil {
					r.Move(balancer.ConnActive, balancer.ConnInactive)
				}
			case inactive && ns.Active():
				e.flags &^= flagInactive
				if r != nil {
					r.Move(balancer.ConnInactive, balancer.ConnActive)
				}
			}
			e.state = ns
		}
	}
	e.expires = now + d.timeouts.of(e.state)
}

// newConnExpected is IPVS's is_new_conn_expected: a SYN may start a new
// connection over this entry.
func (d *Tracker) newConnExpected(e *connEntry) bool {
	if e.proto != balancer.TCP {
		return false
	}
	switch e.state {
	case StateTimeWait, StateClose:
		return true
	case StateFinWait:
		return d.cfg.ConnReuseFinWait && e.flags&flagNoOutput != 0
	}
	return false
}

// newConnEntry builds the entry of p's new connection (tuple t), scheduled to r.
func newConnEntry(p *packet, t *Tuple4, svc *balancer.Service, r *balancer.RealServer) connEntry {
	k := &p.in
	// The real port replaces the virtual port only for the service's own
	// port; port-zero and fwmark services keep the packet's port (IPVS).
	dport := r.Port
	if dport == 0 || svc.Key.Port != t.DstPort {
		dport = t.DstPort
	}
	e := connEntry{
		addrs: k.addrs, ports: k.ports, proto: t.Proto, kind: kindConn,
		flags: flagInactive | uint8(r.Method)<<flagMethodShift,
		dst:   connBE32(r.Addr.Unmap().As4()),
		aux:   uint32(dport) << 16,
		real:  r.ID,
	}
	if r.Method != balancer.NAT {
		e.flags |= flagNoOutput
	}
	if t.Proto == balancer.UDP {
		e.state = StateUDP
	}
	return e
}

// connReclaimScan is how many slots a full shard looks at for expired
// entries before it refuses a new flow.
const connReclaimScan = 64

// admit takes room for one new entry in sh (locked): from the shard's and
// the table's limits, reclaiming expired entries near the sweep cursor when
// either is reached. Live entries are never evicted.
func (d *Tracker) admit(src ServiceSource, sh *connShard, now Tick, rel *connReleases, ctr *connCounters) bool {
	if sh.used < sh.limit && d.tab.reserve() {
		return true
	}
	i := sh.reclaim
	for n := 0; n < connReclaimScan && sh.used > 0 && !rel.full(); n++ {
		e := &sh.slots[i]
		if e.kind != kindEmpty && e.expired(now) && !(e.kind == kindTemplate && e.aux > 0) {
			d.dropEntry(src, sh, i, rel)
			ctr.expired.Add(1)
			ctr.reclaimed.Add(1)
			continue // a later entry may have shifted into slot i
		}
		i = sh.next(i)
	}
	sh.reclaim = i
	return sh.used < sh.limit && d.tab.reserve()
}
