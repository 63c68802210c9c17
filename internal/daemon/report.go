package daemon

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ulvs/ulvs/balancer/conntrack"
	"github.com/ulvs/ulvs/forward"
)

// Report is a director's counters as `ulvs run` prints them (JSON) when it
// stops, and as the demo shows them.
type Report struct {
	Services []ServiceReport `json:"services"`
	Loop     LoopReport      `json:"loop"`
}

// ServiceReport is one virtual service's counters.
type ServiceReport struct {
	Service   string       `json:"service"`
	Scheduler string       `json:"scheduler"`
	Reals     []RealReport `json:"reals"`
}

// RealReport is one real server's counters, ipvsadm --stats style.
type RealReport struct {
	Addr     string `json:"addr"`
	Method   string `json:"method"`
	Weight   uint32 `json:"weight"`
	Active   int32  `json:"active_conns"`
	Inactive int32  `json:"inactive_conns"`
	Conns    uint64 `json:"conns"`
	InPkts   uint64 `json:"in_pkts"`
	OutPkts  uint64 `json:"out_pkts"`
	InBytes  uint64 `json:"in_bytes"`
	OutBytes uint64 `json:"out_bytes"`
}

// LoopReport is the data plane's counters; drops by reason name, zeros left
// out.
type LoopReport struct {
	RxFrames      uint64            `json:"rx_frames"`
	TxFrames      uint64            `json:"tx_frames"`
	Inbound       uint64            `json:"inbound"`
	Outbound      uint64            `json:"outbound"`
	ARPReplies    uint64            `json:"arp_replies"`
	ICMPSent      uint64            `json:"icmp_sent"`
	RingDrops     uint64            `json:"ring_drops"`
	TxRingFull    uint64            `json:"tx_ring_full"`
	Drops         map[string]uint64 `json:"drops"`
	BalancerDrops map[string]uint64 `json:"balancer_drops"`
}

// DropSummary lists the non-zero drop counters, most frequent first.
func (l LoopReport) DropSummary() string {
	type kv struct {
		k string
		v uint64
	}
	var all []kv
	for k, v := range l.Drops {
		all = append(all, kv{k, v})
	}
	for k, v := range l.BalancerDrops {
		all = append(all, kv{"balancer:" + k, v})
	}
	if len(all) == 0 {
		return "none"
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	var s []string
	for _, e := range all {
		s = append(s, fmt.Sprintf("%s=%d", e.k, e.v))
	}
	return strings.Join(s, " ")
}

// Report returns the director's counters now.
func (d *Daemon) Report() Report {
	var r Report
	for _, s := range d.table.Load().Services() {
		sr := ServiceReport{Service: s.Key.String(), Scheduler: s.Scheduler}
		for _, rs := range s.Reals {
			t := rs.Stats.Totals()
			sr.Reals = append(sr.Reals, RealReport{
				Addr: rs.AddrPort().String(), Method: rs.Method.String(), Weight: rs.Weight,
				Active: rs.Stats.ActiveConns(), Inactive: rs.Stats.InactiveConns(), Conns: rs.Stats.Conns(),
				InPkts: t.InPkts, OutPkts: t.OutPkts, InBytes: t.InBytes, OutBytes: t.OutBytes,
			})
		}
		r.Services = append(r.Services, sr)
	}
	ls := d.Stats()
	r.Loop = LoopReport{RxFrames: ls.RxFrames, TxFrames: ls.TxFrames, Inbound: ls.Inbound, Outbound: ls.Outbound,
		ARPReplies: ls.ARPReplies, ICMPSent: ls.ICMPSent, RingDrops: ls.RingDrops, TxRingFull: ls.TxRingFull,
		Drops: map[string]uint64{}, BalancerDrops: map[string]uint64{}}
	for i, v := range ls.Drops {
		if v != 0 {
			r.Loop.Drops[forward.DropReason(i).String()] = v
		}
	}
	for i, v := range ls.BalancerDrops {
		if v != 0 {
			r.Loop.BalancerDrops[conntrack.DropReason(i).String()] = v
		}
	}
	return r
}
