package announce

import (
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/ulvs/ulvs/internal/status"
)

// Neighbor is one BGP peer to keep a session with.
type Neighbor struct {
	Addr     netip.Addr
	RemoteAS uint32
	HoldTime time.Duration // 0: 90 s; the keepalive is a third of it
	Password string        // TCP MD5 key; empty: none
	Port     uint16        // 0: 179
}

// NeighborStatus is a neighbour's session as the Speaker reports it.
type NeighborStatus = status.BGPNeighbor

// Speaker is the BGP implementation: it keeps sessions with the
// neighbours and advertises the prefixes it is given with next hop self.
type Speaker interface {
	// SetNeighbors makes the neighbour set exactly ns: sessions of
	// neighbours whose settings did not change are kept.
	SetNeighbors(ns []Neighbor) error
	Announce(p netip.Prefix) error
	Withdraw(p netip.Prefix) error
	Neighbors() []NeighborStatus
	Close() error
}

// Controller applies Decide to a Speaker: it remembers what it announced
// and sends only the changes.
type Controller struct {
	log *slog.Logger
	sp  Speaker

	mu        sync.Mutex
	in        Input
	announced map[netip.Prefix]bool
	routes    []Route
}

// NewController drives sp.
func NewController(sp Speaker, log *slog.Logger) *Controller {
	return &Controller{log: log, sp: sp, announced: map[netip.Prefix]bool{}}
}

// Update takes the director's new state (the Drained field is ignored:
// Drain and Undrain own it) and announces or withdraws what changed.
func (c *Controller) Update(in Input) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	in.Drained = c.in.Drained
	c.in = in
	return c.apply()
}

// Drain withdraws every prefix until Undrain.
func (c *Controller) Drain() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.in.Drained = true
	return c.apply()
}

// Undrain announces again what the state allows.
func (c *Controller) Undrain() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.in.Drained = false
	return c.apply()
}

// Drained reports whether Drain is in force.
func (c *Controller) Drained() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.in.Drained
}

// apply announces and withdraws the difference between the decision and
// what was sent; a prefix that failed is retried on the next apply.
func (c *Controller) apply() error {
	c.routes = Decide(c.in)
	var errs []error
	want := map[netip.Prefix]bool{}
	for _, r := range c.routes {
		if !r.Announce {
			continue
		}
		want[r.Prefix] = true
		if c.announced[r.Prefix] {
			continue
		}
		if err := c.sp.Announce(r.Prefix); err != nil {
			errs = append(errs, err)
			continue
		}
		c.announced[r.Prefix] = true
		c.log.Info("bgp: announcing", "prefix", r.Prefix, "reason", r.Reason)
	}
	for p := range c.announced {
		if want[p] {
			continue
		}
		if err := c.sp.Withdraw(p); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(c.announced, p)
		c.log.Info("bgp: withdrawn", "prefix", p, "reason", c.reason(p))
	}
	return errors.Join(errs...)
}

// reason is why p is not announced now (it may be gone from the config).
func (c *Controller) reason(p netip.Prefix) string {
	for _, r := range c.routes {
		if r.Prefix == p {
			return r.Reason.String()
		}
	}
	return "removed"
}

// Status is the announcement state for `ulvs list --json` and metrics.
type Status = status.BGP

// PrefixStatus is one VIP prefix and why it is or is not announced.
type PrefixStatus = status.BGPPrefix

// Status returns the current state.
func (c *Controller) Status() Status {
	ns := c.sp.Neighbors()
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Status{Drained: c.in.Drained, Neighbors: ns, Prefixes: make([]PrefixStatus, 0, len(c.routes))}
	for _, r := range c.routes {
		st.Prefixes = append(st.Prefixes, PrefixStatus{Prefix: r.Prefix, Announced: c.announced[r.Prefix], Reason: r.Reason.String()})
	}
	slices.SortFunc(st.Neighbors, func(a, b NeighborStatus) int { return a.Addr.Compare(b.Addr) })
	return st
}
