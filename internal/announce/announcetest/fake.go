// Package announcetest has a fake announce.Speaker for tests.
package announcetest

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/ulvs/ulvs/internal/announce"
)

// Speaker records what a Controller asks of it. Fail makes the next calls
// for a prefix fail.
type Speaker struct {
	mu        sync.Mutex
	neighbors []announce.Neighbor
	prefixes  map[netip.Prefix]bool
	calls     []string
	Fail      map[netip.Prefix]bool
	closed    bool
}

// New returns an empty fake.
func New() *Speaker {
	return &Speaker{prefixes: map[netip.Prefix]bool{}, Fail: map[netip.Prefix]bool{}}
}

func (s *Speaker) SetNeighbors(ns []announce.Neighbor) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.neighbors = slices.Clone(ns)
	return nil
}

func (s *Speaker) Announce(p netip.Prefix) error { return s.set(p, true) }

func (s *Speaker) Withdraw(p netip.Prefix) error { return s.set(p, false) }

func (s *Speaker) set(p netip.Prefix, on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	verb := "withdraw"
	if on {
		verb = "announce"
	}
	if s.Fail[p] {
		return fmt.Errorf("announcetest: %s %v fails", verb, p)
	}
	s.calls = append(s.calls, verb+" "+p.String())
	if on {
		s.prefixes[p] = true
	} else {
		delete(s.prefixes, p)
	}
	return nil
}

func (s *Speaker) Neighbors() []announce.NeighborStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []announce.NeighborStatus
	for _, n := range s.neighbors {
		out = append(out, announce.NeighborStatus{Addr: n.Addr, RemoteAS: n.RemoteAS, State: "established"})
	}
	return out
}

func (s *Speaker) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Calls returns and forgets the announce/withdraw calls made so far.
func (s *Speaker) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

// Announced returns the prefixes announced now, sorted.
func (s *Speaker) Announced() []netip.Prefix {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []netip.Prefix
	for p := range s.prefixes {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}
