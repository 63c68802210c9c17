package conntrack

import (
	"testing"

	"github.com/ulvs/ulvs/balancer"
)

// resizeFlow is the i-th client flow of the resize tests: distinct sources
// spread over every shard.
func resizeFlow(i int) Tuple4 {
	return Tuple4{
		Src: [4]byte{10, byte(1 + i>>16), byte(i >> 8), byte(i)}, SrcPort: uint16(1024 + i%50000),
		Dst: [4]byte{10, 0, 0, 100}, DstPort: 53, Proto: balancer.UDP,
	}
}

// resizeDirector is a director with room for 256k connections and one
// UDP NAT service, for the resize tests that need a single real server.
func resizeDirector(t *testing.T) (*Tracker, *Worker, *connTestSource) {
	r := newConnTestReal("10.0.2.1", 53, balancer.NAT)
	src := newConnTestSource(newConnTestService(balancer.UDP, "10.0.0.100", 53, r))
	d := newConnTestDirector(t, Config{MaxConns: 1 << 18})
	return d, d.NewWorker(), src
}

// checkShards verifies every shard's bookkeeping against its slots: live
// entries counted in used, NAT entries in the outbound index and findable
// through it, and every slot of the region past the active part zero.
func checkShards(t *testing.T, d *Tracker) {
	t.Helper()
	tab := d.tab
	for si := range tab.shards {
		sh := &tab.shards[si]
		sh.mu.Lock()
		if sh.n < min(connMinSlots, tab.region) || sh.n > tab.region || tab.sizes[si].Load() != sh.n {
			t.Errorf("shard %d: %d active slots (published %d), region %d", si, sh.n, tab.sizes[si].Load(), tab.region)
		}
		used, nat := uint32(0), uint32(0)
		for i := range sh.slots {
			e := &sh.slots[i]
			if e.kind == kindEmpty {
				continue
			}
			used++
			k := e.inKey()
			if got := sh.findIn(&k, tab.hash.in(&k)); got != i {
				t.Errorf("shard %d: entry at %d found at %d", si, i, got)
			}
			if e.hasOut() {
				nat++
				ok := e.outKey()
				if got := sh.findOut(&ok, tab.hash.out(&ok)); got != i {
					t.Errorf("shard %d: NAT entry at %d found through the outbound index at %d", si, i, got)
				}
			}
		}
		outs := uint32(0)
		for _, v := range sh.out {
			if v != 0 {
				outs++
			}
		}
		if used != sh.used || nat != sh.nOut || outs != sh.nOut {
			t.Errorf("shard %d: %d entries (used says %d), %d NAT entries, %d index slots (nOut says %d)", si, used, sh.used, nat, outs, sh.nOut)
		}
		base := uint32(si) * tab.region
		for i := base + sh.n; i < base+tab.region; i++ {
			if tab.slots[i] != (connEntry{}) || tab.out[i] != 0 {
				t.Errorf("shard %d: slot %d past the active part is not zero", si, i-base)
				break
			}
		}
		sh.mu.Unlock()
	}
}

// TestConnTableResizes fills a table sized for a million connections with
// 20k NAT flows and empties it again: the shards grow with the live
// entries (staying near the load factor instead of spreading over the
// capacity), every flow stays reachable in both directions across the
// rehashes, and once the flows expire the sweep shrinks the shards back.
func TestConnTableResizes(t *testing.T) {
	r1 := newConnTestReal("10.0.2.1", 53, balancer.NAT)
	r2 := newConnTestReal("10.0.2.2", 53, balancer.NAT)
	svc := newConnTestService(balancer.UDP, "10.0.0.100", 53, r1, r2)
	src := newConnTestSource(svc)
	d := newConnTestDirector(t, Config{MaxConns: 1 << 20})
	w := d.NewWorker()
	shards := len(d.tab.shards)
	if idle := d.ActiveSlots(); idle != shards*connMinSlots {
		t.Fatalf("a new table uses %d slots, want %d shards x %d", idle, shards, connMinSlots)
	}

	const flows = 20000
	reals := make([]*balancer.RealServer, flows)
	fill := func(now Tick) {
		for i := range flows {
			res := w.Inbound(src, resizeFlow(i), 0, now)
			if res.Action != ActionForward || !res.New {
				t.Fatalf("flow %d: %+v, want a new forwarded connection", i, res)
			}
			reals[i] = res.Real
		}
	}
	fill(0)
	checkShards(t, d)
	// Grown by doubling at a load of 0.8: every shard ends between 0.4
	// and 0.8 full (give or take its share's randomness and the floor).
	active := d.ActiveSlots()
	if lo, hi := flows*connLoadDen/connLoadNum, flows*5/2+shards*connMinSlots; active < lo || active > hi {
		t.Errorf("%d flows use %d slots, want %d..%d", flows, active, lo, hi)
	}
	if active*8 > d.Slots() {
		t.Errorf("%d flows use %d of %d slots: the table did not stay compact", flows, active, d.Slots())
	}
	for i := range flows {
		c := resizeFlow(i)
		if got := w.Inbound(src, c, 0, connSec); got.Action != ActionForward || got.New || got.Real != reals[i] {
			t.Fatalf("flow %d after growing: %+v, want its connection to %v", i, got, reals[i].AddrPort())
		}
		reply := Tuple4{Src: reals[i].Addr.As4(), SrcPort: reals[i].Port, Dst: c.Src, DstPort: c.SrcPort, Proto: balancer.UDP}
		if got := w.Outbound(src, reply, 0, connSec); got.Action != ActionForward || got.VIP != c.Dst || got.VPort != c.DstPort {
			t.Fatalf("reply of flow %d after growing: %+v", i, got)
		}
	}

	// Expire everything: the first pass removes every entry, and shards
	// that end their pass empty shrink back to the floor.
	late := connSec + 3600*connSec
	removed := 0
	for range 3 {
		removed += d.Sweep(src, late, d.Slots())
	}
	if removed != flows || d.Len() != 0 {
		t.Fatalf("sweeps removed %d of %d expired flows, %d left", removed, flows, d.Len())
	}
	if got := d.ActiveSlots(); got != shards*connMinSlots {
		t.Errorf("an empty table uses %d slots after its sweeps, want %d", got, shards*connMinSlots)
	}
	checkShards(t, d)
	for _, r := range []*balancer.RealServer{r1, r2} {
		if got := connCountsOf(r); got != (connCounts{}) {
			t.Errorf("real %v: %+v after every flow expired", r.AddrPort(), got)
		}
	}

	// The table grows again from the floor, and PurgeReal finds every
	// connection of a real however the shards moved them.
	fill(late)
	checkShards(t, d)
	want := 0
	for _, r := range reals {
		if r == r1 {
			want++
		}
	}
	if got := d.PurgeReal(src, r1.ID); got != want {
		t.Errorf("PurgeReal removed %d connections, want %d", got, want)
	}
	if d.Len() != flows-want {
		t.Errorf("%d entries after the purge, want %d", d.Len(), flows-want)
	}
	checkShards(t, d)
}

// TestConnTableShrinksWithSurvivors sweeps a grown table in which a few
// flows stay live: the shards shrink around them and the survivors stay
// reachable.
func TestConnTableShrinksWithSurvivors(t *testing.T) {
	d, w, src := resizeDirector(t)
	const flows, keep = 8000, 100
	for i := range flows {
		if res := w.Inbound(src, resizeFlow(i), 0, 0); !res.New {
			t.Fatalf("flow %d: %+v", i, res)
		}
	}
	grown := d.ActiveSlots()
	// The survivors are refreshed late, so only they outlive the sweep.
	udp := d.timeouts.of(StateUDP)
	for i := range keep {
		w.Inbound(src, resizeFlow(i), 0, udp)
	}
	for range 2 {
		d.Sweep(src, udp+1, d.Slots())
	}
	if d.Len() != keep {
		t.Fatalf("%d entries left, want the %d survivors", d.Len(), keep)
	}
	// 100 survivors over 64 shards: a shard keeps 128 slots only with 16
	// or more of them, so every shard is back at the floor. (The grown
	// size depends on the hash spread, so it is no yardstick.)
	floor := len(d.tab.shards) * connMinSlots
	if got := d.ActiveSlots(); got != floor || grown <= floor {
		t.Errorf("%d slots in use after %d of %d flows expired (%d before): want every shard back at %d slots (%d)", got, flows-keep, flows, grown, connMinSlots, floor)
	}
	checkShards(t, d)
	for i := range keep {
		if _, ok := d.LookupInbound(resizeFlow(i), udp+1); !ok {
			t.Errorf("survivor %d lost by the shrink", i)
		}
	}
}

// TestConnTableGrowthAllocs: growing a shard rehashes through the
// table's preallocated scratch, so new connections allocate nothing even
// when they make the shards grow.
func TestConnTableGrowthAllocs(t *testing.T) {
	d, w, src := resizeDirector(t)
	next := 0
	before := d.ActiveSlots()
	allocs := testing.AllocsPerRun(4, func() {
		for range 4000 {
			w.Inbound(src, resizeFlow(next), 0, 0)
			next++
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per 4000 new connections, want 0", allocs)
	}
	if d.ActiveSlots() <= before {
		t.Fatalf("the shards did not grow (%d slots before, %d after): the test measured nothing", before, d.ActiveSlots())
	}
}
