package balancer

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentRotation checks that rr and wrr hand out exactly their
// sequence's counts however many workers share them.
func TestConcurrentRotation(t *testing.T) {
	tests := []struct {
		sched   string
		weights []uint32
		cycle   int
		want    []int64 // picks per server per cycle
	}{
		{"rr", []uint32{1, 0, 1, 1}, 3, []int64{1, 0, 1, 1}},
		{"wrr", []uint32{4, 3, 2}, 9, []int64{4, 3, 2}},
		{"swrr", []uint32{5, 1, 1}, 7, []int64{5, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.sched, func(t *testing.T) {
			svc := newService(t, tt.sched, tt.weights...)
			const workers, cycles = 8, 500
			counts := make([]atomic.Int64, len(tt.weights))
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for range cycles * tt.cycle {
						counts[svc.Sched.Schedule(nil).index].Add(1)
					}
				})
			}
			wg.Wait()
			for i := range counts {
				if got, want := counts[i].Load(), tt.want[i]*workers*cycles; got != want {
					t.Errorf("server %d: %d picks, want %d", i, got, want)
				}
			}
		})
	}
}

// TestConcurrentTreeNeverPicksUnavailable runs workers that schedule and
// bind/unbind like a connection table, plus a flipper toggling overload
// through thresholds, and checks every pick; at the end the tree must
// agree with the linear scan.
func TestConcurrentTreeNeverPicksUnavailable(t *testing.T) {
	for _, sched := range []string{"lc", "wlc", "sed", "nq", "fo", "ovf", "twos", "rr", "wrr", "swrr"} {
		t.Run(sched, func(t *testing.T) {
			c := serviceConfig(sched, 1, 0, 3, 2, 5, 0, 1, 4)
			for i := range c.Reals {
				c.Reals[i].UpperThreshold = uint32(3 + i)
			}
			svc := mustTable(t, nil, c).Services()[0]
			var wg sync.WaitGroup
			var bad atomic.Int64
			for w := range 6 {
				wg.Go(func() {
					type conn struct {
						r    *RealServer
						kind ConnKind
					}
					var held []conn
					for k := range 3000 {
						r := svc.Sched.Schedule(nil)
						if r != nil {
							if r.Weight == 0 {
								bad.Add(1)
							}
							c := conn{r, ConnKind(k & 1)}
							r.Bind(c.kind)
							if c.kind == ConnActive && k%3 == 0 {
								r.Move(ConnActive, ConnInactive)
								c.kind = ConnInactive
							}
							held = append(held, c)
						}
						if len(held) > 4+w || (r == nil && len(held) > 0) {
							held[0].r.Unbind(held[0].kind)
							held = held[1:]
						}
					}
					for _, c := range held {
						c.r.Unbind(c.kind)
					}
				})
			}
			wg.Wait()
			if bad.Load() != 0 {
				t.Fatalf("%d picks of weight-0 servers", bad.Load())
			}
			for _, r := range svc.Reals {
				if r.Stats.ActiveConns() < 0 || r.Stats.InactiveConns() < 0 {
					t.Fatalf("negative counters on %v", r.Addr)
				}
			}
			if pt, ok := svc.Sched.(*pickTree); ok {
				if got, want := pt.Schedule(nil), pt.linear(); got != want {
					t.Errorf("after the storm the tree picks %v, the linear scan %v", got, want)
				}
			}
		})
	}
}

// TestConcurrentOverloadNeverPicked flips one server's overload flag while
// workers schedule; a pick of a server that was overloaded during the whole
// Schedule call is an error.
func TestConcurrentOverloadNeverPicked(t *testing.T) {
	for _, sched := range []string{"wlc", "lc", "fo", "rr", "wrr"} {
		t.Run(sched, func(t *testing.T) {
			svc := newService(t, sched, 9, 1, 1)
			a := svc.Reals[0]
			stop := make(chan struct{})
			var gen atomic.Int64 // odd while A is overloaded
			var wg sync.WaitGroup
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					setOverloaded(a, true)
					gen.Add(1) // odd: the flag is certainly set
					gen.Add(1)
					setOverloaded(a, false)
				}
			})
			var bad atomic.Int64
			var workers sync.WaitGroup
			for range 3 {
				workers.Go(func() {
					for range 20000 {
						g0 := gen.Load()
						r := svc.Sched.Schedule(nil)
						g1 := gen.Load()
						// An odd, unchanged gen means the flag was set
						// for the whole call.
						if r == a && g0 == g1 && g0%2 == 1 {
							bad.Add(1)
						}
					}
				})
			}
			workers.Wait()
			close(stop)
			wg.Wait()
			if bad.Load() > 0 {
				t.Errorf("%d picks of a server overloaded for the whole call", bad.Load())
			}
		})
	}
}
