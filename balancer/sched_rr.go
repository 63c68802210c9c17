package balancer

import "sync/atomic"

func init() { registerScheduler("rr", newRoundRobin) }

// roundRobin is IPVS's rr (ip_vs_rr.c): the first available server after the
// one picked last, in list order, wrapping once; the last one itself is the
// final candidate.
//
// The kernel keeps the last pick under a spinlock; here it is one atomic
// index advanced by compare-and-swap, so workers never block each other and
// the sequence is exactly the kernel's, whichever worker asks.
type roundRobin struct {
	reals []*RealServer
	last  atomic.Int32 // index of the last pick, -1 for "list head" (none yet)
}

func newRoundRobin(svc *Service) (Scheduler, error) {
	s := &roundRobin{reals: svc.Reals}
	s.last.Store(-1)
	return s, nil
}

// next returns the index of the server rr picks after last, or -1.
func (s *roundRobin) next(last int32) int32 {
	n := int32(len(s.reals))
	i := last + 1
	for k := int32(0); k < n; k++ {
		if i >= n {
			i = 0
		}
		if available(s.reals[i]) {
			return i
		}
		i++
	}
	return -1
}

// Schedule picks the next available server and advances the rotation.
func (s *roundRobin) Schedule(*Flow) *RealServer {
	for {
		last := s.last.Load()
		i := s.next(last)
		if i < 0 {
			return nil // IPVS leaves its position unchanged
		}
		if s.last.CompareAndSwap(last, i) {
			return s.reals[i]
		}
	}
}

// Peek returns what Schedule would return, without advancing.
func (s *roundRobin) Peek(*Flow) *RealServer {
	if i := s.next(s.last.Load()); i >= 0 {
		return s.reals[i]
	}
	return nil
}
