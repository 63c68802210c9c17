package forward

import (
	"net/netip"
	"testing"

	"github.com/ulvs/ulvs/balancer"
)

// realCacheTable builds a table with n real servers behind one service,
// more than realCacheSlots so that RealIDs share slots.
func realCacheTable(t *testing.T, prev *balancer.Table, n int) *balancer.Table {
	t.Helper()
	var reals []balancer.RealConfig
	for i := range n {
		ip := [4]byte{10, 0, byte(2 + i/200), byte(1 + i%200)}
		reals = append(reals, balancer.RealConfig{Addr: netip.AddrFrom4(ip), Port: 80, Method: balancer.DR, Weight: 1})
	}
	tab, err := balancer.NewTable(prev, []balancer.ServiceConfig{{
		Key:       balancer.ServiceKey{Addr: netip.AddrFrom4(lpVIP), Port: 80, Proto: balancer.UDP},
		Scheduler: "rr",
		Reals:     reals,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestRealCacheCountsEveryServer(t *testing.T) {
	tab := realCacheTable(t, nil, realCacheSlots+20)
	reals := tab.Services()[0].Reals
	collide := map[balancer.RealID]int{}
	for _, r := range reals {
		collide[r.ID&(realCacheSlots-1)]++
	}
	if len(collide) == len(reals) {
		t.Fatalf("no two of %d RealIDs share a slot; the test needs them to", len(reals))
	}

	var c realCache
	want := map[*balancer.RealServer]balancer.TrafficTotals{}
	tests := []struct {
		name  string
		visit func(func(r *balancer.RealServer))
	}{
		{"each server once", func(f func(*balancer.RealServer)) {
			for _, r := range reals {
				f(r)
			}
		}},
		{"two servers of one slot taking turns", func(f func(*balancer.RealServer)) {
			var a, b *balancer.RealServer
			for _, r := range reals {
				for _, o := range reals {
					if o != r && o.ID&(realCacheSlots-1) == r.ID&(realCacheSlots-1) {
						a, b = r, o
					}
				}
			}
			for i := range 5 * realCacheSlots {
				if i%2 == 0 {
					f(a)
				} else {
					f(b)
				}
			}
		}},
		{"every server three times, interleaved", func(f func(*balancer.RealServer)) {
			for range 3 {
				for i := len(reals) - 1; i >= 0; i-- {
					f(reals[i])
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.visit(func(r *balancer.RealServer) {
				s := c.slot(r)
				if s.real != r || s.ip != r.Addr.As4() {
					t.Fatalf("slot of %v holds %v, %v", r.Addr, s.real.Addr, s.ip)
				}
				c.countIn(s, 100)
				c.countOut(s, 10)
				w := want[r]
				w.InPkts, w.InBytes, w.OutPkts, w.OutBytes = w.InPkts+1, w.InBytes+100, w.OutPkts+1, w.OutBytes+10
				want[r] = w
			})
			c.flush()
			for _, r := range reals {
				if got := r.Stats.Totals(); got != want[r] {
					t.Fatalf("%v: counted %+v, want %+v", r.Addr, got, want[r])
				}
			}
		})
	}
}

// A reload gives every server a new *RealServer that shares the old one's
// counters; the cache must hand the new one a fresh slot (the address may
// have changed with the ID kept) and flush the old owner's counts first.
func TestRealCacheNewSnapshot(t *testing.T) {
	old := realCacheTable(t, nil, 4)
	var c realCache
	s := c.slot(old.Services()[0].Reals[0])
	s.mac, s.macOK, s.macVersion = [6]byte{2, 0, 0, 0, 0, 1}, true, 7
	c.countIn(s, 100)

	cur := realCacheTable(t, old, 4)
	r := cur.Services()[0].Reals[0]
	if r == old.Services()[0].Reals[0] || r.ID != old.Services()[0].Reals[0].ID {
		t.Fatalf("the reload kept the *RealServer or changed its ID; the test needs a new server with the old ID")
	}
	s = c.slot(r)
	if s.macOK || s.real != r {
		t.Errorf("a new snapshot's server inherited the old slot: %+v", *s)
	}
	c.countIn(s, 50)
	c.flush()
	if got := r.Stats.Totals(); got.InPkts != 2 || got.InBytes != 150 {
		t.Errorf("counted %+v across the reload, want 2 packets, 150 bytes", got)
	}
}

func TestRealCacheAllocs(t *testing.T) {
	tab := realCacheTable(t, nil, 4)
	reals := tab.Services()[0].Reals
	var c realCache
	n := testing.AllocsPerRun(100, func() {
		for i := range 64 {
			s := c.slot(reals[i%len(reals)])
			c.countIn(s, 64)
		}
		c.flush()
	})
	if n != 0 {
		t.Errorf("%v allocations per batch, want 0", n)
	}
}
