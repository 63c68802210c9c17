package simulate

import (
	"fmt"
	"math"
	"net/netip"
	"testing"

	"github.com/ulvs/ulvs/balancer"
)

var vip = balancer.ServiceKey{Addr: netip.MustParseAddr("10.0.1.100"), Port: 80, Proto: balancer.TCP}

func service(sched string, weights ...uint32) balancer.ServiceConfig {
	sc := balancer.ServiceConfig{Key: vip, Scheduler: sched}
	for i, w := range weights {
		sc.Reals = append(sc.Reals, balancer.RealConfig{Addr: netip.AddrFrom4([4]byte{10, 0, 2, byte(11 + i)}), Port: 80, Method: balancer.DR, Weight: w})
	}
	return sc
}

// TestDistributionExact: rr and wrr place flows by count, so the split is
// exact; lc and wlc, with every connection still open, balance exactly
// by weight too.
func TestDistributionExact(t *testing.T) {
	for _, tc := range []struct {
		sched   string
		weights []uint32
		n       int
		want    []int
	}{
		{"rr", []uint32{1, 1, 1}, 300, []int{100, 100, 100}},
		{"rr", []uint32{5, 0, 1}, 10, []int{5, 0, 5}}, // weight only quiesces
		{"wrr", []uint32{3, 2, 1}, 600, []int{300, 200, 100}},
		{"wrr", []uint32{4, 0, 4, 2}, 1000, []int{400, 0, 400, 200}},
		{"lc", []uint32{1, 1, 1, 1}, 400, []int{100, 100, 100, 100}},
		{"wlc", []uint32{2, 1, 1}, 400, []int{200, 100, 100}},
	} {
		sc := service(tc.sched, tc.weights...)
		a, err := Assign(sc, Flows(vip, tc.n, 7))
		if err != nil {
			t.Fatal(err)
		}
		shares, dropped := Distribution(sc, a)
		var got []int
		for _, s := range shares {
			got = append(got, s.Flows)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) || dropped != 0 {
			t.Errorf("%s %v over %d flows: %v (dropped %d), want %v", tc.sched, tc.weights, tc.n, got, dropped, tc.want)
		}
	}
}

// TestMaglevDisruption: removing one of N servers from mh moves close to
// the minimum 1/N of the flows, as the Maglev paper reports; adding one
// back moves about 1/(N+1). sh, a plain modulo-style table, moves more.
func TestMaglevDisruption(t *testing.T) {
	const n = 20000
	for _, servers := range []int{5, 10} {
		w := make([]uint32, servers)
		for i := range w {
			w[i] = 1
		}
		sc := service("mh", w...)
		flows := Flows(vip, n, 3)
		gone := netip.AddrPortFrom(sc.Reals[1].Addr, 80)
		after, err := Remove(sc, gone)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Compare(sc, after, "remove", flows)
		if err != nil {
			t.Fatal(err)
		}
		ideal := 100 / float64(servers)
		if math.Abs(d.MinimumPct-ideal) > 1e-9 {
			t.Errorf("%d servers: minimum %.3f%%, want %.3f%%", servers, d.MinimumPct, ideal)
		}
		if d.MovedPct < ideal-1.5 || d.MovedPct > ideal*1.3 {
			t.Errorf("mh, remove 1 of %d: %.2f%% moved, want about %.2f%%", servers, d.MovedPct, ideal)
		}
		back, err := Compare(after, sc, "add", flows)
		if err != nil {
			t.Fatal(err)
		}
		if back.MovedPct < ideal-1.5 || back.MovedPct > ideal*1.3 {
			t.Errorf("mh, add back 1 of %d: %.2f%% moved, want about %.2f%%", servers, back.MovedPct, ideal)
		}
	}
}

// TestAssignMatchesBalancer: for a flow-hashed scheduler, each flow's
// simulated server is what the balancer's own Table.Pick gives it.
func TestAssignMatchesBalancer(t *testing.T) {
	for _, sched := range []string{"mh", "sh", "dh"} {
		sc := service(sched, 1, 2, 3)
		flows := Flows(vip, 2000, 11)
		a, err := Assign(sc, flows)
		if err != nil {
			t.Fatal(err)
		}
		tab, err := balancer.NewTable(nil, []balancer.ServiceConfig{sc})
		if err != nil {
			t.Fatal(err)
		}
		for i := range flows {
			_, r := tab.Pick(&flows[i])
			if r == nil || r.AddrPort().String() != a[i] {
				t.Fatalf("%s flow %d: simulate %q, balancer %v", sched, i, a[i], r)
			}
		}
	}
}

func TestFlowsDistinctAndRepeatable(t *testing.T) {
	a, b := Flows(vip, 5000, 9), Flows(vip, 5000, 9)
	seen := map[string]bool{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("same seed, different flows")
		}
		k := fmt.Sprint(a[i].Src, a[i].SrcPort)
		if seen[k] {
			t.Fatalf("flow %s twice", k)
		}
		seen[k] = true
	}
}

func TestMinimumMove(t *testing.T) {
	sc := service("wrr", 1, 1, 2)
	after, _ := SetWeight(sc, netip.MustParseAddrPort("10.0.2.13:80"), 0)
	if got := minimumMove(sc, after); math.Abs(got-50) > 1e-9 {
		t.Errorf("weight 2 of 4 to 0: minimum %.2f%%, want 50%%", got)
	}
	added, _ := Add(sc, netip.MustParseAddrPort("10.0.2.20:80"), 4)
	if got := minimumMove(sc, added); math.Abs(got-50) > 1e-9 {
		t.Errorf("add weight 4 to total 4: minimum %.2f%%, want 50%%", got)
	}
	if _, err := Remove(sc, netip.MustParseAddrPort("10.9.9.9:80")); err == nil {
		t.Error("removing an unknown server: no error")
	}
}
