package balancer

import "sync"

func init() { registerScheduler("swrr", newSmoothWeightedRoundRobin) }

// smoothWeightedRoundRobin is nginx's smooth weighted round-robin. It is NOT
// an IPVS scheduler (ipvsadm and keepalived do not know the name); ulvs
// offers it because IPVS's wrr sends bursts to the heaviest server (5,1,1
// gives AAAAABC) where smooth WRR interleaves (AABACAA).
//
// Each call adds every available server's weight to its running current
// weight, picks the highest current weight (first in list order on a tie)
// and subtracts the total of the available weights from the winner. Servers
// with weight 0 or overloaded take no part and keep their current weight.
// The walk is O(number of real servers) under a per-service mutex.
type smoothWeightedRoundRobin struct {
	reals   []*RealServer
	mu      sync.Mutex
	current []int64
}

func newSmoothWeightedRoundRobin(svc *Service) (Scheduler, error) {
	return &smoothWeightedRoundRobin{reals: svc.Reals, current: make([]int64, len(svc.Reals))}, nil
}

// Schedule picks the next server of the smooth rotation.
func (s *smoothWeightedRoundRobin) Schedule(*Flow) *RealServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	best, total := -1, int64(0)
	for i, r := range s.reals {
		if !available(r) {
			continue
		}
		s.current[i] += int64(r.Weight)
		total += int64(r.Weight)
		if best < 0 || s.current[i] > s.current[best] {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	s.current[best] -= total
	return s.reals[best]
}

// Peek returns what Schedule would return, without advancing.
func (s *smoothWeightedRoundRobin) Peek(*Flow) *RealServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	best, bestCur := -1, int64(0)
	for i, r := range s.reals {
		if !available(r) {
			continue
		}
		if c := s.current[i] + int64(r.Weight); best < 0 || c > bestCur {
			best, bestCur = i, c
		}
	}
	if best < 0 {
		return nil
	}
	return s.reals[best]
}
