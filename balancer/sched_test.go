package balancer

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestSchedulerSequences(t *testing.T) {
	tests := []struct {
		name    string
		sched   string
		weights []uint32
		want    string
	}{
		{"rr equal", "rr", []uint32{1, 1, 1}, "ABCABCABC"},
		{"rr ignores weight size", "rr", []uint32{5, 1, 1}, "ABCABC"},
		{"rr skips weight 0", "rr", []uint32{1, 0, 1}, "ACACAC"},
		{"rr none", "rr", []uint32{0, 0}, "---"},
		{"rr empty", "rr", nil, "--"},
		{"wrr 4,3,2 (keepalived doc)", "wrr", []uint32{4, 3, 2}, "AABABCABC" + "AABABCABC"},
		{"wrr 5,1,1 bursty", "wrr", []uint32{5, 1, 1}, "AAAAABC" + "AAAAABC"},
		{"wrr gcd 2", "wrr", []uint32{4, 2}, "AABAAB"},
		{"wrr skips weight 0", "wrr", []uint32{2, 0, 1}, "AACAAC"},
		{"wrr none", "wrr", []uint32{0, 0}, "---"},
		{"wrr empty", "wrr", nil, "--"},
		{"swrr 5,1,1 smooth", "swrr", []uint32{5, 1, 1}, "AABACAA" + "AABACAA"},
		{"swrr 4,3,2", "swrr", []uint32{4, 3, 2}, "ABCABACBA"},
		{"swrr skips weight 0", "swrr", []uint32{1, 0, 1}, "ACAC"},
		{"swrr none", "swrr", []uint32{0}, "--"},
		{"lc idle picks first", "lc", []uint32{1, 5, 1}, "AAA"},
		{"wlc idle picks first", "wlc", []uint32{1, 5, 1}, "AAA"},
		{"fo highest weight", "fo", []uint32{1, 5, 5, 2}, "BBB"},
		{"ovf highest weight", "ovf", []uint32{1, 5, 5, 2}, "BBB"},
		{"nq first idle", "nq", []uint32{0, 1, 9}, "BBB"},
		{"wlc none", "wlc", []uint32{0, 0}, "--"},
		{"fo empty", "fo", nil, "--"},
		{"twos only one", "twos", []uint32{0, 3, 0}, "BBBB"},
		{"twos none", "twos", []uint32{0, 0}, "--"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := newService(t, tt.sched, tt.weights...)
			if got := letters(svc, len(tt.want)); got != tt.want {
				t.Errorf("%s%v picks %s, want %s", tt.sched, tt.weights, got, tt.want)
			}
		})
	}
}

// TestSwrrReference double-checks the swrr sequence 4,3,2 above against
// nginx's published rule worked by hand: current weights after each pick.
func TestSwrrReference(t *testing.T) {
	w := []int{4, 3, 2}
	cur := make([]int, 3)
	var b strings.Builder
	for range 9 {
		best := 0
		for i := range w {
			cur[i] += w[i]
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= 9
		b.WriteByte('A' + byte(best))
	}
	if got := letters(newService(t, "swrr", 4, 3, 2), 9); got != b.String() {
		t.Errorf("swrr 4,3,2 = %s, reference %s", got, b.String())
	}
}

// wrrCycle is an independent model of IPVS wrr without overload: the
// scheduler visits weight levels mw, mw-di, ... > 0 and at each level picks,
// in list order, every server whose weight reaches the level.
func wrrCycle(weights []uint32) []int {
	var g, max uint32
	for _, w := range weights {
		if w > 0 {
			g = gcd(g, w)
		}
		max = maxU32(max, w)
	}
	if g == 0 {
		return nil
	}
	var seq []int
	for cw := int64(max) - int64(g-1); cw > 0; cw -= int64(g) {
		for i, w := range weights {
			if int64(w) >= cw {
				seq = append(seq, i)
			}
		}
	}
	return seq
}

func TestWRRMatchesCycleModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 300 {
		n := 1 + rng.IntN(8)
		weights := make([]uint32, n)
		for i := range weights {
			if rng.IntN(4) > 0 {
				weights[i] = uint32(rng.IntN(12)) * uint32(1+rng.IntN(3))
			}
		}
		svc := newService(t, "wrr", weights...)
		cycle := wrrCycle(weights)
		for k := range 3 * len(cycle) {
			want := cycle[k%len(cycle)]
			if p := svc.Sched.(Peeker).Peek(nil); p == nil || int(p.index) != want {
				t.Fatalf("iter %d weights %v pick %d: Peek = %v, want index %d", iter, weights, k, p, want)
			}
			r := svc.Sched.Schedule(nil)
			if r == nil || int(r.index) != want {
				t.Fatalf("iter %d weights %v pick %d: got %v, want index %d", iter, weights, k, r, want)
			}
		}
	}
}

// wrrStepRef is the kernel's ip_vs_wrr_schedule loop restated over an index
// list with explicit overload flags; -1 is the list head.
type wrrRef struct {
	w      []int
	over   []bool
	cl, cw int
	di, mw int
}

func newWRRRef(w []int) *wrrRef {
	g, max := 0, 0
	for _, x := range w {
		if x > 0 {
			if g == 0 {
				g = x
			} else {
				g = int(gcd(uint32(g), uint32(x)))
			}
		}
		if x > max {
			max = x
		}
	}
	if g == 0 {
		g = 1
	}
	r := &wrrRef{w: w, over: make([]bool, len(w)), cl: -1, di: g, mw: max - (g - 1)}
	r.cw = r.mw
	return r
}

func (m *wrrRef) next() int {
	if m.mw == 0 {
		return -1
	}
	n := len(m.w)
	last, stop := m.cl, -2
	lastPass, restarted := false, false
	d := m.cl
	for {
		d++
		for ; d < n; d++ {
			if !m.over[d] && m.w[d] >= m.cw {
				m.cl = d
				return d
			}
			if d == stop {
				m.cl = d
				return -1
			}
		}
		m.cw -= m.di
		if m.cw <= 0 {
			m.cw = m.mw
			if lastPass || last == -1 {
				m.cl = -1
				return -1
			}
			restarted = true
		}
		lastPass = m.cw <= m.di
		if lastPass && restarted && last != -1 {
			stop = last
		}
		d = -1
	}
}

func TestWRRWithOverloadMatchesKernelLoop(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for iter := range 200 {
		n := 1 + rng.IntN(6)
		weights := make([]uint32, n)
		iw := make([]int, n)
		for i := range weights {
			weights[i] = uint32(rng.IntN(7))
			iw[i] = int(weights[i])
		}
		svc := newService(t, "wrr", weights...)
		ref := newWRRRef(iw)
		for k := range 60 {
			if rng.IntN(5) == 0 {
				i := rng.IntN(n)
				ref.over[i] = !ref.over[i]
				setOverloaded(svc.Reals[i], ref.over[i])
			}
			want := ref.next()
			got := svc.Sched.Schedule(nil)
			if (want < 0) != (got == nil) || (got != nil && int(got.index) != want) {
				t.Fatalf("iter %d weights %v over %v step %d: got %v, want %d", iter, weights, ref.over, k, got, want)
			}
		}
	}
}

// linearRef is the kernel's loop for lc, wlc, sed, nq, fo and ovf, written
// the way the C code reads, over plain numbers.
type refReal struct {
	w, active, inactive int64
	over                bool
}

func linearRef(sched string, rs []refReal) int {
	oh := func(r refReal) int64 { return r.active*256 + r.inactive }
	least := -1
	switch sched {
	case "lc":
		var loh int64
		for i, r := range rs {
			if r.over || r.w == 0 {
				continue
			}
			if doh := oh(r); least < 0 || doh < loh {
				least, loh = i, doh
			}
		}
	case "wlc", "sed":
		cost := oh
		if sched == "sed" {
			cost = func(r refReal) int64 { return r.active + 1 }
		}
		i := 0
		for ; i < len(rs); i++ {
			if !rs[i].over && rs[i].w > 0 {
				break
			}
		}
		if i == len(rs) {
			return -1
		}
		least = i
		loh := cost(rs[i])
		for i++; i < len(rs); i++ {
			if rs[i].over {
				continue
			}
			doh := cost(rs[i])
			if loh*rs[i].w > doh*rs[least].w {
				least, loh = i, doh
			}
		}
	case "nq":
		var loh int64
		for i, r := range rs {
			if r.over || r.w == 0 {
				continue
			}
			doh := r.active + 1
			if r.active == 0 {
				return i
			}
			if least < 0 || loh*r.w > doh*rs[least].w {
				least, loh = i, doh
			}
		}
	case "fo":
		for i, r := range rs {
			if !r.over && r.w > 0 && (least < 0 || r.w > rs[least].w) {
				least = i
			}
		}
	case "ovf":
		for i, r := range rs {
			if r.over || r.active > r.w || r.w == 0 {
				continue
			}
			if least < 0 || r.w > rs[least].w {
				least = i
			}
		}
	}
	return least
}

func TestTreeMatchesLinearReference(t *testing.T) {
	defer func(old int) { treeMinReals = old }(treeMinReals)
	for _, minReals := range []int{1, treeMinReals} {
		treeMinReals = minReals // 1: even tiny services use the tree
		for _, sched := range []string{"lc", "wlc", "sed", "nq", "fo", "ovf"} {
			t.Run(fmt.Sprintf("%s/tree-from-%d", sched, minReals), func(t *testing.T) {
				testTreeMatchesLinearReference(t, sched)
			})
		}
	}
}

func testTreeMatchesLinearReference(t *testing.T, sched string) {
	{
		{
			rng := rand.New(rand.NewPCG(5, uint64(len(sched))))
			for iter := range 40 {
				n, steps := 1+rng.IntN(40), 150
				if iter == 0 {
					n, steps = 1000, 40
				}
				weights := make([]uint32, n)
				for i := range weights {
					switch rng.IntN(6) {
					case 0:
						weights[i] = 0
					case 1:
						weights[i] = MaxWeight
					default:
						weights[i] = uint32(1 + rng.IntN(5))
					}
				}
				svc := newService(t, sched, weights...)
				rs := make([]refReal, n)
				for i := range rs {
					rs[i].w = int64(weights[i])
				}
				svc.Sched.Schedule(nil) // claim the counters' notifications
				for step := range steps {
					// Change a few servers, then ask.
					for range 1 + rng.IntN(3) {
						i := rng.IntN(n)
						r := svc.Reals[i]
						switch rng.IntN(5) {
						case 0:
							rs[i].over = !rs[i].over
							setOverloaded(r, rs[i].over)
						case 1:
							if rs[i].active > 0 {
								r.Move(ConnActive, ConnInactive)
								rs[i].active--
								rs[i].inactive++
							}
						default:
							rs[i].active = int64(rng.IntN(8))
							rs[i].inactive = int64(rng.IntN(300))
							setCounts(r, int32(rs[i].active), int32(rs[i].inactive))
							// Unbind clears a flag set without thresholds, as
							// IPVS does; put the forced state back.
							setOverloaded(r, rs[i].over)
						}
					}
					want := linearRef(sched, rs)
					got := svc.Sched.Schedule(nil)
					if (want < 0) != (got == nil) || (got != nil && int(got.index) != want) {
						t.Fatalf("iter %d step %d: tree picks %v, linear scan %d", iter, step, got, want)
					}
					if got != nil && got != svc.Sched.(*pickTree).linear() {
						t.Fatalf("iter %d step %d: tree and built-in linear scan disagree", iter, step)
					}
				}
			}
		}
	}
}

func TestLeastConnectionTieBreaks(t *testing.T) {
	tests := []struct {
		name     string
		sched    string
		weights  []uint32
		active   []int32
		inactive []int32
		want     int // index, -1 for nil
	}{
		{"lc first of equal", "lc", []uint32{1, 1, 1}, []int32{1, 0, 0}, []int32{0, 0, 0}, 1},
		{"lc 256 inactive = 1 active", "lc", []uint32{1, 1}, []int32{1, 0}, []int32{0, 256}, 0},
		{"lc 255 inactive < 1 active", "lc", []uint32{1, 1}, []int32{1, 0}, []int32{0, 255}, 1},
		{"wlc weight scales", "wlc", []uint32{1, 3}, []int32{1, 2}, []int32{0, 0}, 1},
		{"wlc equal ratio first", "wlc", []uint32{1, 2}, []int32{1, 2}, []int32{0, 0}, 0},
		{"wlc skips weight 0 first", "wlc", []uint32{0, 1}, []int32{0, 5}, []int32{0, 0}, 1},
		{"sed ignores inactive", "sed", []uint32{1, 1}, []int32{1, 1}, []int32{0, 900}, 0},
		{"sed (a+1)/w", "sed", []uint32{1, 2}, []int32{0, 1}, []int32{0, 0}, 0},
		{"sed (a+1)/w heavier wins", "sed", []uint32{1, 3}, []int32{0, 1}, []int32{0, 0}, 1},
		{"nq idle beats better ratio", "nq", []uint32{100, 1}, []int32{1, 0}, []int32{0, 0}, 1},
		{"nq first idle", "nq", []uint32{1, 1, 9}, []int32{3, 0, 0}, []int32{0, 0, 0}, 1},
		{"nq else sed", "nq", []uint32{1, 3}, []int32{1, 2}, []int32{0, 0}, 1},
		{"fo tie first", "fo", []uint32{3, 7, 7}, nil, nil, 1},
		{"ovf overflows", "ovf", []uint32{2, 5, 3}, []int32{0, 6, 0}, []int32{0, 0, 0}, 2},
		{"ovf at weight still ok", "ovf", []uint32{2, 5, 3}, []int32{0, 5, 0}, []int32{0, 0, 0}, 1},
		{"ovf all full", "ovf", []uint32{1, 1}, []int32{2, 2}, []int32{0, 0}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := newService(t, tt.sched, tt.weights...)
			for i := range tt.active {
				setCounts(svc.Reals[i], tt.active[i], tt.inactive[i])
			}
			got := svc.Sched.Schedule(nil)
			if (tt.want < 0) != (got == nil) || (got != nil && int(got.index) != tt.want) {
				t.Errorf("picked %v, want index %d", got, tt.want)
			}
		})
	}
}

func TestThresholdsOverload(t *testing.T) {
	for _, sched := range []string{"rr", "wrr", "swrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "twos"} {
		t.Run(sched, func(t *testing.T) {
			c := serviceConfig(sched, 1, 1)
			c.Reals[0].UpperThreshold = 4
			c.Reals[0].Weight = 100 // fo/ovf prefer it while it can take connections
			svc := mustTable(t, nil, c).Services()[0]
			a := svc.Reals[0]
			for range 4 {
				if a.Stats.Overloaded() {
					t.Fatal("overloaded below the upper threshold")
				}
				a.Bind(ConnInactive)
			}
			if !a.Stats.Overloaded() {
				t.Fatal("not overloaded at the upper threshold")
			}
			for range 20 {
				if r := svc.Sched.Schedule(nil); r != svc.Reals[1] {
					t.Fatalf("scheduled %v while A is overloaded", r)
				}
			}
			a.Unbind(ConnInactive) // 3 conns: 3*4 < 4*3 is false, still overloaded
			if !a.Stats.Overloaded() {
				t.Fatal("left overload at 3/4 of the upper threshold; IPVS needs below")
			}
			a.Unbind(ConnInactive) // 2 conns: below 3/4
			if a.Stats.Overloaded() {
				t.Fatal("still overloaded below 3/4 of the upper threshold")
			}
			a.Unbind(ConnInactive)
			a.Unbind(ConnInactive) // now as idle as B, so every scheduler may pick it
			seenA := false
			for range 50 {
				seenA = seenA || svc.Sched.Schedule(nil) == a
			}
			if !seenA {
				t.Error("A never scheduled again after leaving overload")
			}
		})
	}
}

func TestLowerThreshold(t *testing.T) {
	c := serviceConfig("rr", 1)
	c.Reals[0].UpperThreshold, c.Reals[0].LowerThreshold = 10, 2
	r := mustTable(t, nil, c).Services()[0].Reals[0]
	for range 10 {
		r.Bind(ConnActive)
	}
	if !r.Stats.Overloaded() {
		t.Fatal("not overloaded at 10")
	}
	for range 8 {
		r.Unbind(ConnActive)
	}
	if !r.Stats.Overloaded() {
		t.Fatal("left overload at the lower threshold; IPVS needs below it")
	}
	r.Unbind(ConnActive)
	if r.Stats.Overloaded() {
		t.Fatal("still overloaded below the lower threshold")
	}
}

func TestTwosPickMatchesKernelLoop(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for iter := range 500 {
		n := 1 + rng.IntN(10)
		weights := make([]uint32, n)
		rs := make([]refReal, n)
		for i := range weights {
			weights[i] = uint32(rng.IntN(5))
			rs[i].w = int64(weights[i])
		}
		svc := newService(t, "twos", weights...)
		var total int64
		for i, r := range svc.Reals {
			rs[i].over = rng.IntN(5) == 0
			rs[i].active, rs[i].inactive = int64(rng.IntN(4)), int64(rng.IntN(300))
			setCounts(r, int32(rs[i].active), int32(rs[i].inactive))
			setOverloaded(r, rs[i].over)
			if !rs[i].over {
				total += rs[i].w
			}
		}
		if total == 0 {
			continue
		}
		r1, r2 := rng.Int64N(total+1), rng.Int64N(total+1)
		// Kernel loop restated.
		c1, c2, w1, w2 := -1, -1, int64(-1), int64(-1)
		a, b := r1, r2
		for i, r := range rs {
			if r.over || r.w <= 0 {
				continue
			}
			a -= r.w
			b -= r.w
			if a <= 0 && w1 == -1 {
				c1, w1 = i, r.w
			}
			if b <= 0 && w2 == -1 {
				c2, w2 = i, r.w
			}
			if w1 != -1 && w2 != -1 {
				break
			}
		}
		oh := func(i int) int64 { return rs[i].active*256 + rs[i].inactive }
		want := c1
		if c2 >= 0 && w2*oh(c1) > w1*oh(c2) {
			want = c2
		}
		got := svc.Sched.(*twoChoices).pick(r1, r2)
		if got == nil || int(got.index) != want {
			t.Fatalf("iter %d r=(%d,%d) state %+v: got %v want %d", iter, r1, r2, rs, got, want)
		}
	}
}

func TestTwosDistribution(t *testing.T) {
	// With equal (zero) load the first choice always wins, so picks follow
	// the weights (plus the kernel's one extra chance for the first server).
	svc := newService(t, "twos", 1, 2, 0, 5)
	counts := make([]int, 4)
	const n = 80000
	for range n {
		counts[svc.Sched.Schedule(nil).index]++
	}
	want := []float64{2.0 / 9, 2.0 / 9, 0, 5.0 / 9}
	for i, c := range counts {
		if got := float64(c) / n; got < want[i]-0.015 || got > want[i]+0.015 {
			t.Errorf("server %d got share %.3f, want %.3f (counts %v)", i, got, want[i], counts)
		}
	}
}

func TestTwosPrefersLessLoaded(t *testing.T) {
	svc := newService(t, "twos", 100, 100)
	setCounts(svc.Reals[0], 10, 0)
	counts := make([]int, 2)
	for range 4000 {
		counts[svc.Sched.Schedule(nil).index]++
	}
	// B wins unless both picks land on A: (101/201)^2, about a quarter.
	if counts[1] < 2*counts[0] {
		t.Errorf("loaded server got %d picks, idle one %d; want the idle one to dominate", counts[0], counts[1])
	}
}

func TestNewSchedulerUnknown(t *testing.T) {
	_, err := NewScheduler(&Service{Scheduler: "fastest"})
	if err == nil || !strings.Contains(err.Error(), "wlc") || !strings.Contains(err.Error(), "fastest") {
		t.Fatalf("error %v should name the bad scheduler and list the known ones", err)
	}
	s, err := NewScheduler(&Service{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*pickTree); !ok || s.(*pickTree).mode != modeWLC {
		t.Errorf("empty scheduler name built %T, want wlc", s)
	}
}
