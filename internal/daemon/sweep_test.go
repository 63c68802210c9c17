package daemon

import (
	"net/netip"
	"testing"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/balancer/conntrack"
)

// TestSweepPace checks the housekeeping's sweep pace against what
// docs/running.md promises: after a burst of connections expires, the
// sweep returns every entry within a second of 100 ms ticks, and the first
// tick does not already visit the whole table.
func TestSweepPace(t *testing.T) {
	tab, err := balancer.NewTable(nil, []balancer.ServiceConfig{{
		Key:       balancer.ServiceKey{Addr: netip.MustParseAddr("10.0.0.100"), Port: 53, Proto: balancer.UDP},
		Scheduler: "rr",
		Reals:     []balancer.RealConfig{{Addr: netip.MustParseAddr("10.0.2.11"), Port: 53, Method: balancer.DR, Weight: 1}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	conns, err := conntrack.New(conntrack.Config{MaxConns: 1 << 17})
	if err != nil {
		t.Fatal(err)
	}
	w := conns.NewWorker()
	const flows = 50000
	for i := range flows {
		t4 := conntrack.Tuple4{Proto: balancer.UDP, Src: [4]byte{10, 1, byte(i >> 8), byte(i)}, SrcPort: uint16(1024 + i>>16),
			Dst: [4]byte{10, 0, 0, 100}, DstPort: 53}
		if r := w.Inbound(tab, t4, 0, 1); r.Action != conntrack.ActionForward {
			t.Fatalf("flow %d: %+v", i, r)
		}
	}
	if conns.Len() != flows {
		t.Fatalf("%d connections, want %d", conns.Len(), flows)
	}
	later := conntrack.Tick(1 + 3600*1000) // every UDP entry has expired
	var pacer sweepPacer
	active := conns.ActiveSlots()
	first := pacer.next(conns)
	if first >= active {
		t.Fatalf("one tick visits %d of %d active slots: that is a pass per tick, not per second", first, active)
	}
	conns.Sweep(tab, later, first)
	ticks := 1
	for conns.Len() > 0 && ticks < 3*sweepsPerPass {
		conns.Sweep(tab, later, pacer.next(conns))
		ticks++
	}
	if conns.Len() != 0 || ticks > sweepsPerPass {
		t.Fatalf("after %d ticks %d of %d expired entries remain; want none within %d ticks", ticks, conns.Len(), flows, sweepsPerPass)
	}
	t.Logf("%d expired entries swept in %d ticks of 100 ms (first tick %d of %d active slots)", flows, ticks, first, active)
}
