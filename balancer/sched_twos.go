package balancer

import "math/rand/v2"

func init() { registerScheduler("twos", newTwoChoices) }

// twoChoices is IPVS's power of two choices (ip_vs_twos.c, Linux 6.x): two
// independent weighted-random picks among the available servers, keeping
// the one with the lower overhead/weight (the first pick on a tie).
//
// As in the kernel each random value is uniform over [0, total weight], so
// the first available server gets one extra chance in total+1. The kernel
// multiplies in 32-bit int; here the products are 64-bit and cannot
// overflow. The random numbers come from math/rand/v2's top-level source,
// which is per-thread in the runtime: no lock, no allocation. The walk is
// O(number of real servers), as in the kernel.
type twoChoices struct {
	reals []*RealServer
}

func newTwoChoices(svc *Service) (Scheduler, error) {
	return &twoChoices{reals: svc.Reals}, nil
}

// Schedule picks the lower-loaded of two weighted-random servers.
func (s *twoChoices) Schedule(*Flow) *RealServer {
	var total uint64
	for _, r := range s.reals {
		if available(r) {
			total += uint64(r.Weight)
		}
	}
	if total == 0 {
		return nil
	}
	total++
	x := rand.Uint64()
	return s.pick(int64(uint64(uint32(x))%total), int64((x>>32)%total))
}

// pick walks the list once, subtracting weights from the two random values
// r1 and r2 (each in [0, total]); the server that takes a value to <= 0 is
// that value's choice.
func (s *twoChoices) pick(r1, r2 int64) *RealServer {
	var c1, c2, lastAvail *RealServer
	for _, r := range s.reals {
		if !available(r) {
			continue
		}
		lastAvail = r
		w := int64(r.Weight)
		r1 -= w
		r2 -= w
		if r1 <= 0 && c1 == nil {
			c1 = r
		}
		if r2 <= 0 && c2 == nil {
			c2 = r
		}
		if c1 != nil && c2 != nil {
			break
		}
	}
	if c1 == nil {
		// The weights changed under the walk; the kernel keeps the last
		// available server as its first choice then.
		c1 = lastAvail
	}
	if c1 == nil {
		return nil
	}
	if c2 != nil && int64(c2.Weight)*c1.Stats.Overhead() > int64(c1.Weight)*c2.Stats.Overhead() {
		return c2
	}
	return c1
}
