package balancer

import (
	"net/netip"
	"testing"
	"time"
)

// localityClock is a clock tests move by hand.
type localityClock struct{ t time.Duration }

func (c *localityClock) now() time.Duration { return c.t }

// sameShardDsts returns n IPv4 destinations that share one cache shard.
func sameShardDsts(n int) []netip.Addr {
	var out []netip.Addr
	for i := 1; len(out) < n; i++ {
		a := netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)})
		if ipvsHash32(foldAddr(a), localityShardBits) == 0 {
			out = append(out, a)
		}
	}
	return out
}

func localityFlow(dst netip.Addr) *Flow {
	return &Flow{Proto: TCP, Src: netip.MustParseAddr("198.51.100.1"), SrcPort: 40000, Dst: dst, DstPort: 80}
}

func hashBindActive(r *RealServer, n int) {
	for range n {
		r.Bind(ConnActive)
	}
}

func TestLblcCache(t *testing.T) {
	dst := netip.MustParseAddr("203.0.113.9")
	tests := []struct {
		name  string
		setup func(reals []*RealServer) // after the first schedule cached reals[0]
		want  int                       // index of the expected server, -1 for nil
	}{
		{"reuse although busier", func(r []*RealServer) { hashBindActive(r[0], 1); r[0].Bind(ConnInactive) }, 0},
		{"overloaded with half-loaded alternative", func(r []*RealServer) { hashBindActive(r[0], 2); hashBindActive(r[2], 1) }, 1},
		{"overloaded without half-loaded alternative", func(r []*RealServer) {
			hashBindActive(r[0], 2)
			hashBindActive(r[1], 1)
			hashBindActive(r[2], 1)
		}, 0},
		{"cached server quiesced", func(r []*RealServer) { r[0].Weight = 0 }, 1},
		{"cached server over its threshold", func(r []*RealServer) { hashOverload(r[0]) }, 1},
		{"everything quiesced", func(r []*RealServer) {
			for _, x := range r {
				x.Weight = 0
			}
		}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reals := hashTestReals(1, 1, 1)
			clock := &localityClock{}
			l := newLBLC(&Service{Reals: reals}, clock.now)
			if got := l.Schedule(localityFlow(dst)); got != reals[0] {
				t.Fatalf("first schedule got %v, want the first least-loaded server", got)
			}
			tt.setup(reals)
			clock.t += time.Second
			got := l.Schedule(localityFlow(dst))
			var want *RealServer
			if tt.want >= 0 {
				want = reals[tt.want]
			}
			if got != want {
				t.Fatalf("got %v, want %v", got, want)
			}
			if want != nil && want != reals[0] {
				// The new choice is cached: it stays even when the old
				// server becomes the least loaded again.
				reals[0].Weight = 1
				hashBindActive(reals[tt.want], 1)
				if again := l.Schedule(localityFlow(dst)); again != want {
					t.Fatalf("after switching, got %v, want the cached %v", again, want)
				}
			}
		})
	}
}

func TestLblcPerDestination(t *testing.T) {
	reals := hashTestReals(1, 1, 1)
	clock := &localityClock{}
	l := newLBLC(&Service{Reals: reals}, clock.now)
	dsts := sameShardDsts(3)
	for i, d := range dsts {
		got := l.Schedule(localityFlow(d))
		if got != reals[i] {
			t.Fatalf("destination %d got %v, want %v", i, got, reals[i].AddrPort())
		}
		got.Bind(ConnInactive) // the connection the caller would create
	}
	for i, d := range dsts {
		if got := l.Schedule(localityFlow(d)); got != reals[i] {
			t.Fatalf("destination %d moved to %v", i, got.AddrPort())
		}
	}
}

func TestLocalityExpiry(t *testing.T) {
	tests := []struct {
		name    string
		idle    time.Duration
		maxSize int
		kept    bool
	}{
		{"fresh", time.Hour, 100, true},
		{"unused a day", localityExpiration, 100, false},
		{"over size, idle past the entry timeout", localityEntryTimeout, 1, false},
		{"over size, recently used", localityEntryTimeout - time.Second, 1, true},
		{"under size, idle past the entry timeout", localityEntryTimeout + time.Minute, 100, true},
	}
	for _, tt := range tests {
		for _, name := range []string{"lblc", "lblcr"} {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				clock := &localityClock{}
				svc := &Service{Reals: hashTestReals(1, 1)}
				var s Scheduler
				var c *localityCache
				if name == "lblc" {
					l := newLBLC(svc, clock.now)
					s, c = l, l.cache
				} else {
					l := newLBLCR(svc, clock.now)
					s, c = l, l.cache
				}
				c.maxPerShard = tt.maxSize
				dsts := sameShardDsts(3)
				s.Schedule(localityFlow(dsts[0]))
				s.Schedule(localityFlow(dsts[1]))
				clock.t += tt.idle
				// Traffic to one more destination of the shard drives the
				// bounded sweep over the shard's slots.
				for range 4 {
					s.Schedule(localityFlow(dsts[2]))
				}
				key := dsts[0].As16()
				_, ok := c.shards[0].index[key]
				if ok != tt.kept {
					t.Fatalf("entry kept = %v, want %v (cache holds %d)", ok, tt.kept, c.len())
				}
			})
		}
	}
}

func TestLocalityHardLimit(t *testing.T) {
	clock := &localityClock{}
	reals := hashTestReals(1, 1)
	l := newLBLC(&Service{Reals: reals}, clock.now)
	l.cache.hardPerShard = 3
	for _, d := range sameShardDsts(6) {
		if l.Schedule(localityFlow(d)) == nil {
			t.Fatalf("destination %v not scheduled while the cache is full", d)
		}
	}
	if n := l.cache.len(); n != 3 {
		t.Fatalf("cache holds %d entries, want the hard limit 3", n)
	}
	// Freed slots are reused without growing the slab.
	clock.t += localityExpiration
	for _, d := range sameShardDsts(6)[3:] {
		for range 4 {
			l.Schedule(localityFlow(d))
		}
	}
	if got := len(l.cache.shards[0].entries); got != 3 {
		t.Fatalf("slab grew to %d entries, want 3", got)
	}
}
