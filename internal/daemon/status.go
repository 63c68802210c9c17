package daemon

import (
	"github.com/ulvs/ulvs/vrrp"
	"net/netip"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/balancer/conntrack"
	"github.com/ulvs/ulvs/internal/status"
)

// ipvsVersion is the IPVS version ulvs's listings show, so that scripts
// parsing ipvsadm's header keep working.
const ipvsVersion = "1.2.1"

func totals(conns uint64, t balancer.TrafficTotals) status.Stats {
	return status.Stats{Conns: conns, InPkts: t.InPkts, OutPkts: t.OutPkts, InBytes: t.InBytes, OutBytes: t.OutBytes}
}

// sampleRates feeds every service's and real server's estimator; the
// housekeeping loop calls it every status.EstimatorInterval seconds.
func (d *Daemon) sampleRates() {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	for _, s := range d.table.Load().Services() {
		est := d.ctl.svcEst[s.ID]
		if est == nil {
			est = new(status.Estimator)
			d.ctl.svcEst[s.ID] = est
		}
		est.Sample(totals(s.Stats.Conns(), s.Stats.Totals()))
		for _, r := range s.Reals {
			est := d.ctl.realEst[r.ID]
			if est == nil {
				est = new(status.Estimator)
				d.ctl.realEst[r.ID] = est
			}
			est.Sample(totals(r.Stats.Conns(), r.Stats.Totals()))
		}
	}
}

// Status implements admin.Control: the table as ipvsadm lists it, with
// counters since the last zeroing and estimated rates.
func (d *Daemon) Status() *status.Snapshot {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	return d.snapshot(false)
}

// snapshot builds the status; raw leaves the counters unzeroed, as
// Prometheus counters must be. d.ctl must be held.
func (d *Daemon) snapshot(raw bool) *status.Snapshot {
	base := func(m map[balancer.ServiceID]status.Stats, id balancer.ServiceID) status.Stats {
		if raw {
			return status.Stats{}
		}
		return m[id]
	}
	rbase := func(id balancer.RealID) status.Stats {
		if raw {
			return status.Stats{}
		}
		return d.ctl.realBase[id]
	}
	tcp, fin, udp := d.conns.Timeouts()
	snap := &status.Snapshot{
		Version:       ipvsVersion,
		ConnTableSize: d.conns.Slots(),
		ConnCount:     d.conns.Len(),
		Timeouts:      status.TimeoutsOf(tcp, fin, udp),
	}
	for _, s := range d.table.Load().Services() {
		ss := status.Service{
			Proto: s.Key.Proto.String(), Addr: s.Key.Addr, Port: s.Key.Port, FWMark: s.Key.FWMark,
			Scheduler:  s.Scheduler,
			Persistent: uint32(s.Persistence.Seconds()),
			MaskBits:   s.PersistenceMaskBits,
			OnePacket:  s.Flags&balancer.FlagOnePacket != 0,
			SchedFlags: schedFlags(s),
			Stats:      totals(s.Stats.Conns(), s.Stats.Totals()).Sub(base(d.ctl.svcBase, s.ID)),
			Reals:      make([]status.Real, 0, len(s.Reals)),
		}
		if s.Key.FWMark != 0 {
			ss.Proto = "FWM"
		}
		if e := d.ctl.svcEst[s.ID]; e != nil {
			ss.Rate = e.Rate()
		}
		for _, r := range s.Reals {
			rs := status.Real{
				Addr: r.Addr, Port: r.Port, Forward: r.Method.IPVSName(), Weight: r.Weight,
				ActiveConns: r.Stats.ActiveConns(), InactConns: r.Stats.InactiveConns(),
				PersistConns: r.Stats.PersistConns(), UThreshold: r.UpperThreshold, LThreshold: r.LowerThreshold,
				Overloaded: r.Stats.Overloaded(),
				Stats:      totals(r.Stats.Conns(), r.Stats.Totals()).Sub(rbase(r.ID)),
			}
			if e := d.ctl.realEst[r.ID]; e != nil {
				rs.Rate = e.Rate()
			}
			rs.DrainDeadline, rs.Draining = d.drainDeadline(s.Key, r)
			d.healthStatus(s.Key, r, &rs)
			ss.Reals = append(ss.Reals, rs)
		}
		ss.Failed, ss.Quorum = d.failedReals(s.Key, d.table.Load())
		snap.Services = append(snap.Services, ss)
	}
	status.Sort(snap.Services)
	for _, v := range d.VRRP() {
		vi := status.VRRPInstance{Name: v.Name, Interface: v.Interface, VRID: v.VRID, Version: v.Version,
			State: v.State.String(), Since: v.Since, Priority: v.Priority, BasePriority: v.BasePriority,
			Master: v.MasterAddr, VIPs: v.VIPs, BecameMaster: v.BecameMaster, AdvertsSent: v.AdvertsSent,
			AdvertsReceived: v.AdvertsReceived}
		for r, n := range v.Drops {
			if n != 0 {
				if vi.Drops == nil {
					vi.Drops = map[string]uint64{}
				}
				vi.Drops[vrrp.Drop(r).String()] = n
			}
		}
		snap.VRRP = append(snap.VRRP, vi)
	}
	snap.BGP = d.BGPStatus()
	return snap
}

// schedFlags names the scheduler flags as ipvsadm prints them.
func schedFlags(s *balancer.Service) []string {
	var out []string
	prefix := s.Scheduler
	if prefix != "sh" && prefix != "mh" {
		if s.Flags&balancer.FlagSchedFallback != 0 {
			out = append(out, "flag-1")
		}
		if s.Flags&balancer.FlagSchedPort != 0 {
			out = append(out, "flag-2")
		}
		return out
	}
	if s.Flags&balancer.FlagSchedFallback != 0 {
		out = append(out, prefix+"-fallback")
	}
	if s.Flags&balancer.FlagSchedPort != 0 {
		out = append(out, prefix+"-port")
	}
	return out
}

// ConnList lists up to limit connection entries (0: all), ipvsadm -Lnc.
func (d *Daemon) ConnList(limit int) []status.Conn {
	tab := d.table.Load()
	now := conntrack.Now()
	var out []status.Conn
	d.conns.Conns(tab, now, func(c conntrack.ConnInfo) bool {
		out = append(out, status.Conn{
			Proto: c.Proto.String(), Template: c.Template, State: c.State.String(), Expires: c.Remaining(now),
			Client:  netip.AddrPortFrom(netip.AddrFrom4(c.Client), c.CPort),
			Virtual: netip.AddrPortFrom(netip.AddrFrom4(c.Virtual), c.VPort),
			Real:    netip.AddrPortFrom(netip.AddrFrom4(c.Real), c.RPort),
		})
		return limit == 0 || len(out) < limit
	})
	return out
}

// Zero implements admin.Control: counters restart from zero (a baseline is
// kept; the shared counters themselves are never reset, so the data plane
// is not disturbed), and the rate estimators restart.
func (d *Daemon) Zero(k *balancer.ServiceKey) error {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	found := k == nil
	for _, s := range d.table.Load().Services() {
		if k != nil && s.Key != *k {
			continue
		}
		found = true
		st := totals(s.Stats.Conns(), s.Stats.Totals())
		d.ctl.svcBase[s.ID] = st
		if e := d.ctl.svcEst[s.ID]; e != nil {
			e.Reset(st)
		}
		for _, r := range s.Reals {
			rt := totals(r.Stats.Conns(), r.Stats.Totals())
			d.ctl.realBase[r.ID] = rt
			if e := d.ctl.realEst[r.ID]; e != nil {
				e.Reset(rt)
			}
		}
	}
	if !found {
		return serviceErr(*k)
	}
	return nil
}
