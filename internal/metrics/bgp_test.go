package metrics

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ulvs/ulvs/internal/status"
)

// bgpOnly is a collector of just the BGP metrics, for a registry to gather.
type bgpOnly struct{ b *status.BGP }

func (c bgpOnly) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range bgpDescs {
		ch <- d
	}
}

func (c bgpOnly) Collect(ch chan<- prometheus.Metric) { collectBGP(ch, c.b) }

// gatherLines returns "name{k=v,...} value" for every sample, sorted.
func gatherLines(t *testing.T, c prometheus.Collector) []string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fams {
		for _, m := range f.Metric {
			var ls []string
			for _, l := range m.Label {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			out = append(out, fmt.Sprintf("%s{%s} %g", f.GetName(), strings.Join(ls, ","), m.GetGauge().GetValue()))
		}
	}
	slices.Sort(out)
	return out
}

func TestCollectBGP(t *testing.T) {
	b := &status.BGP{Drained: true,
		Neighbors: []status.BGPNeighbor{
			{Addr: netip.MustParseAddr("10.0.1.1"), RemoteAS: 65000, State: "established", Up: time.Unix(1700000000, 0)},
			{Addr: netip.MustParseAddr("10.0.2.1"), RemoteAS: 65000, State: "active"}},
		Prefixes: []status.BGPPrefix{{Prefix: netip.MustParsePrefix("192.0.2.1/32"), Reason: "drained"},
			{Prefix: netip.MustParsePrefix("192.0.2.2/32"), Announced: true, Reason: "healthy"}}}
	want := []string{
		"ulvs_bgp_drained{} 1",
		"ulvs_bgp_neighbor_established{neighbor=10.0.1.1,state=established} 1",
		"ulvs_bgp_neighbor_established{neighbor=10.0.2.1,state=active} 0",
		"ulvs_bgp_neighbor_up_since_seconds{neighbor=10.0.1.1} 1.7e+09",
		"ulvs_bgp_prefix_announced{prefix=192.0.2.1/32,reason=drained} 0",
		"ulvs_bgp_prefix_announced{prefix=192.0.2.2/32,reason=healthy} 1",
	}
	if got := gatherLines(t, bgpOnly{b}); !slices.Equal(got, want) {
		t.Errorf("metrics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := gatherLines(t, bgpOnly{}); len(got) != 0 {
		t.Errorf("metrics without BGP: %v", got)
	}
}
