package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ulvs/ulvs/internal/status"
)

// The BGP speaker's metrics (route health injection).
var (
	bgpNeighborUp = desc("ulvs_bgp_neighbor_established", "1 while the BGP session with the neighbour is established.",
		"neighbor", "state")
	bgpNeighborUptime = desc("ulvs_bgp_neighbor_up_since_seconds", "Unix time the BGP session was established; absent while it is not.",
		"neighbor")
	bgpPrefix = desc("ulvs_bgp_prefix_announced", "1 while the VIP prefix is announced; reason says why it is or is not.",
		"prefix", "reason")
	bgpDrained = desc("ulvs_bgp_drained", "1 while the director is drained: every route withdrawn.")
)

var bgpDescs = []*prometheus.Desc{bgpNeighborUp, bgpNeighborUptime, bgpPrefix, bgpDrained}

// collectBGP reports b; nothing without BGP.
func collectBGP(ch chan<- prometheus.Metric, b *status.BGP) {
	if b == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	flag := func(on bool) float64 {
		if on {
			return 1
		}
		return 0
	}
	gauge(bgpDrained, flag(b.Drained))
	for _, n := range b.Neighbors {
		gauge(bgpNeighborUp, flag(n.State == "established"), n.Addr.String(), n.State)
		if !n.Up.IsZero() {
			gauge(bgpNeighborUptime, float64(n.Up.Unix()), n.Addr.String())
		}
	}
	for _, p := range b.Prefixes {
		gauge(bgpPrefix, flag(p.Announced), p.Prefix.String(), p.Reason)
	}
}
