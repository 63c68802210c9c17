package balancer

import "sync/atomic"

func init() { registerScheduler("wrr", newWeightedRoundRobin) }

// weightedRoundRobin is IPVS's interleaved wrr (ip_vs_wrr.c). The state is
// the last pick cl and the current weight cw. Each call walks on from cl and
// takes the first available server whose weight is >= cw; at the end of the
// list cw drops by di, the gcd of the positive weights, and when it reaches
// zero it restarts at mw = max weight - (di - 1). Weights 4,3,2 give
// AABABCABC; 5,1,1 give AAAAABC (bursty, unlike nginx's smooth swrr).
//
// The kernel holds a spinlock around the walk. Here (cl, cw) are packed in
// one atomic word and advanced by compare-and-swap, so the sequence is
// exactly the kernel's and no worker ever blocks another.
//
// A new Table snapshot starts a fresh rotation (cl at the list head, cw =
// mw). The kernel instead keeps cw across a destination change, rounded to
// the new gcd; after a reload the two agree again within one rotation.
type weightedRoundRobin struct {
	reals []*RealServer
	di    int32 // gcd of positive weights, 1 when there are none
	mw    int32 // max weight - (di - 1); 0 when no server has weight
	state atomic.Uint64
}

func newWeightedRoundRobin(svc *Service) (Scheduler, error) {
	s := &weightedRoundRobin{reals: svc.Reals}
	var g, max uint32
	for _, r := range svc.Reals {
		if r.Weight > 0 {
			g = gcd(g, r.Weight)
		}
		max = maxU32(max, r.Weight)
	}
	if g == 0 {
		g = 1
	}
	s.di = int32(g)
	s.mw = int32(max) - (s.di - 1)
	s.state.Store(packWRR(-1, s.mw))
	return s, nil
}

func gcd(a, b uint32) uint32 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func maxU32(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}

func packWRR(cl, cw int32) uint64 { return uint64(uint32(cl))<<32 | uint64(uint32(cw)) }

func unpackWRR(v uint64) (cl, cw int32) { return int32(v >> 32), int32(uint32(v)) }

// step runs one kernel walk from (cl, cw) and returns the picked index (-1
// for none) and the new state, including the kernel's state updates on
// failure.
func (s *weightedRoundRobin) step(cl, cw int32) (pick, ncl, ncw int32) {
	if s.mw == 0 {
		return -1, cl, cw
	}
	n := int32(len(s.reals))
	last, stop := cl, int32(-2) // -1 is the list head; -2 means no stop yet
	lastPass, restarted := false, false
	d := cl
	for {
		for d++; d < n; d++ {
			r := s.reals[d]
			if !r.Stats.overloaded.Load() && int32(r.Weight) >= cw {
				return d, d, cw
			}
			if d == stop {
				return -1, d, cw
			}
		}
		cw -= s.di
		if cw <= 0 {
			cw = s.mw
			// Every server was already tried at weight >= 1: either this
			// was the last pass, or the walk began at the list head.
			if lastPass || last == -1 {
				return -1, -1, cw
			}
			restarted = true
		}
		lastPass = cw <= s.di
		if lastPass && restarted && last != -1 {
			// The weight >= 1 pass so far only covered the servers after
			// last; now cover those up to last.
			stop = last
		}
		d = -1
	}
}

// Schedule picks the next server of the interleaved rotation.
func (s *weightedRoundRobin) Schedule(*Flow) *RealServer {
	for {
		old := s.state.Load()
		cl, cw := unpackWRR(old)
		pick, ncl, ncw := s.step(cl, cw)
		if s.state.CompareAndSwap(old, packWRR(ncl, ncw)) {
			if pick < 0 {
				return nil
			}
			return s.reals[pick]
		}
	}
}

// Peek returns what Schedule would return, without advancing.
func (s *weightedRoundRobin) Peek(*Flow) *RealServer {
	if pick, _, _ := s.step(unpackWRR(s.state.Load())); pick >= 0 {
		return s.reals[pick]
	}
	return nil
}
