package daemon

import (
	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/forward"
	"github.com/ulvs/ulvs/internal/report"
)

// Report returns the director's counters now, as `ulvs run` prints them
// when it stops.
func (d *Director) Report() report.Report {
	var r report.Report
	for _, s := range d.table.Load().Services() {
		sr := report.Service{Service: s.Key.String(), Scheduler: s.Scheduler}
		for _, rs := range s.Reals {
			t := rs.Stats.Totals()
			sr.Reals = append(sr.Reals, report.Real{
				Addr: rs.AddrPort().String(), Method: rs.Method.String(), Weight: rs.Weight,
				Active: rs.Stats.ActiveConns(), Inactive: rs.Stats.InactiveConns(), Conns: rs.Stats.Conns(),
				InPkts: t.InPkts, OutPkts: t.OutPkts, InBytes: t.InBytes, OutBytes: t.OutBytes,
			})
		}
		r.Services = append(r.Services, sr)
	}
	ls := d.Stats()
	r.Loop = report.Loop{RxFrames: ls.RxFrames, TxFrames: ls.TxFrames, Inbound: ls.Inbound, Outbound: ls.Outbound,
		ARPReplies: ls.ARPReplies, ICMPSent: ls.ICMPSent, RingDrops: ls.RingDrops, TxRingFull: ls.TxRingFull,
		Drops: map[string]uint64{}, BalancerDrops: map[string]uint64{}}
	for i, v := range ls.Drops {
		if v != 0 {
			r.Loop.Drops[forward.DropReason(i).String()] = v
		}
	}
	for i, v := range ls.BalancerDrops {
		if v != 0 {
			r.Loop.BalancerDrops[balancer.DropReason(i).String()] = v
		}
	}
	return r
}
