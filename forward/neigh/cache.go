package neigh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
)

// Transport sends ARP requests and reads ARP packets on one interface.
// *arp.Client implements it.
type Transport interface {
	Request(ip netip.Addr) error
	Read() (*arp.Packet, *ethernet.Frame, error)
	SetReadDeadline(t time.Time) error
	Close() error
}

// Clock tells the time; tests step it by hand.
type Clock interface{ Now() time.Time }

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// Config tunes a Cache. Zero values take the defaults in brackets.
type Config struct {
	// Interface is where ARP runs when Transport is nil (Run dials it in
	// the calling thread's network namespace).
	Interface *net.Interface
	// Transport, when set, is used instead of dialling Interface. Run
	// closes it when it returns.
	Transport Transport
	Logger    *slog.Logger
	Clock     Clock // [wall clock]

	TTL           time.Duration // how long an answer is trusted [60s]
	RefreshBefore time.Duration // refresh this long before expiry [TTL/4]
	Retry         time.Duration // between requests for one address [1s]
	Attempts      int           // requests before a new address counts as failed [3]
	Queue         int           // Want queue length [256]
	Tick          time.Duration // how often timers are checked [100ms]

	// Static neighbours are served forever and never resolved.
	Static map[[4]byte][6]byte
}

// Stats are the cache's counters.
type Stats struct {
	Requests   uint64 // ARP requests sent
	Resolved   uint64 // addresses that got their first answer
	Refreshed  uint64 // answers that renewed a known entry
	Failures   uint64 // new addresses that never answered, plus entries that expired unanswered
	QueueDrops uint64 // Want calls dropped because the queue was full
}

// Cache resolves IPv4 next hops to MAC addresses. Lookup and Want are for
// packet workers: lock-free, allocation-free and non-blocking. Everything
// else runs on the control goroutine started by Run.
type Cache struct {
	cfg   Config
	log   *slog.Logger
	want  chan [4]byte
	learn chan answer
	snap  atomic.Pointer[view]

	mu      sync.Mutex // control state below; never taken by Lookup or Want
	entries map[[4]byte]*entry
	tr      Transport

	requests, resolved, refreshed, failures, queueDrops atomic.Uint64
}

type state uint8

const (
	stateIncomplete state = iota // first resolution in progress
	stateReachable               // answered within TTL
	stateRefreshing              // reachable, close to expiry, being re-asked
	stateFailed                  // never answered; held down for one Retry
	stateStatic
)

var stateNames = [...]string{"incomplete", "reachable", "refreshing", "failed", "static"}

type entry struct {
	state    state
	mac      [6]byte
	expires  time.Time // reachable/refreshing: end of trust; failed: end of hold-down
	nextTry  time.Time
	attempts int
	failures int
}

// New returns a cache; call Run to start resolving.
func New(cfg Config) *Cache {
	if cfg.Clock == nil {
		cfg.Clock = wallClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 60 * time.Second
	}
	if cfg.RefreshBefore <= 0 || cfg.RefreshBefore >= cfg.TTL {
		cfg.RefreshBefore = cfg.TTL / 4
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 256
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	c := &Cache{cfg: cfg, log: cfg.Logger, want: make(chan [4]byte, cfg.Queue), learn: make(chan answer, cfg.Queue), entries: make(map[[4]byte]*entry)}
	for ip, mac := range cfg.Static {
		c.entries[ip] = &entry{state: stateStatic, mac: mac}
	}
	c.publish()
	return c
}

// Lookup returns the MAC for ip if it is known. It does not lock or
// allocate. An entry being refreshed is still returned.
func (c *Cache) Lookup(ip [4]byte) (mac [6]byte, ok bool) {
	mac, ok = c.snap.Load().macs[ip]
	return mac, ok
}

// Version identifies the state Lookup answers from: it changes whenever
// an answer may have. A packet loop that memoizes lookups keeps them for
// as long as Version stays the same. It does not lock or allocate.
func (c *Cache) Version() uint64 { return c.snap.Load().version }

// view is one published state of the cache, immutable once stored.
type view struct {
	version uint64
	macs    map[[4]byte][6]byte
}

// Want asks the control goroutine to resolve ip. It never blocks: when the
// queue is full the request is dropped and counted.
func (c *Cache) Want(ip [4]byte) {
	select {
	case c.want <- ip:
	default:
		c.queueDrops.Add(1)
	}
}

// Learn tells the cache that ip was seen using mac in a frame the packet
// loop received, as the kernel's arp_process learns the sender of an ARP
// request addressed to it. The loop calls it for ARP requests for a VIP and
// for the first frame of a connection from an on-link client, so that the
// first NAT reply need not wait for a resolution. The entry then ages and
// refreshes like a resolved one. Learn never blocks: when the queue is full
// the hint is dropped and counted.
func (c *Cache) Learn(ip [4]byte, mac [6]byte) {
	select {
	case c.learn <- answer{ip: ip, mac: mac}:
	default:
		c.queueDrops.Add(1)
	}
}

func (c *Cache) handleLearn(a answer) {
	c.mu.Lock()
	if _, ok := c.entries[a.ip]; !ok {
		c.entries[a.ip] = &entry{state: stateIncomplete}
	}
	c.mu.Unlock()
	c.handleAnswer(a)
}

// SetStatic installs a neighbour that is never resolved or expired.
func (c *Cache) SetStatic(ip [4]byte, mac [6]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[ip] = &entry{state: stateStatic, mac: mac}
	c.publish()
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	return Stats{
		Requests:   c.requests.Load(),
		Resolved:   c.resolved.Load(),
		Refreshed:  c.refreshed.Load(),
		Failures:   c.failures.Load(),
		QueueDrops: c.queueDrops.Load(),
	}
}

// Neighbor is one cache entry, for status output.
type Neighbor struct {
	IP       netip.Addr
	MAC      net.HardwareAddr // nil until answered
	State    string           // incomplete, reachable, refreshing, failed, static
	Expires  time.Time        // zero for static entries
	Failures int              // unanswered resolutions so far
}

// Neighbors lists the entries ordered by address.
func (c *Cache) Neighbors() []Neighbor {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Neighbor, 0, len(c.entries))
	for ip, e := range c.entries {
		n := Neighbor{IP: netip.AddrFrom4(ip), State: stateNames[e.state], Failures: e.failures}
		if e.state != stateIncomplete && e.state != stateFailed {
			n.MAC = net.HardwareAddr(e.mac[:])
		}
		if e.state != stateStatic {
			n.Expires = e.expires
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b Neighbor) int { return a.IP.Compare(b.IP) })
	return out
}

type answer struct {
	ip  [4]byte
	mac [6]byte
}

// Run resolves until ctx is cancelled, then closes the transport. It opens
// an ARP socket on Config.Interface unless Config.Transport is set.
func (c *Cache) Run(ctx context.Context) error {
	tr := c.cfg.Transport
	if tr == nil {
		if c.cfg.Interface == nil {
			return errors.New("neigh: set Config.Interface (or Config.Transport) to resolve neighbours")
		}
		cl, err := arp.Dial(c.cfg.Interface)
		if err != nil {
			return fmt.Errorf("neigh: ARP on %s: %w (needs CAP_NET_RAW and an IPv4 address on the interface)", c.cfg.Interface.Name, err)
		}
		tr = cl
	}
	c.mu.Lock()
	c.tr = tr
	c.mu.Unlock()

	answers := make(chan answer, 64)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			p, _, err := tr.Read()
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				c.log.Debug("neigh: unreadable ARP packet", "err", err)
				continue
			}
			if !p.SenderIP.Is4() || p.SenderIP.IsUnspecified() {
				continue
			}
			a := answer{ip: p.SenderIP.As4()}
			copy(a.mac[:], p.SenderHardwareAddr)
			select {
			case answers <- a:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		_ = tr.SetReadDeadline(time.Unix(1, 0))
		<-readDone
		_ = tr.Close()
	}()

	tick := time.NewTicker(c.cfg.Tick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ip := <-c.want:
			c.handleWant(ip)
		case a := <-answers:
			c.handleAnswer(a)
		case a := <-c.learn:
			c.handleLearn(a)
		case <-tick.C:
			c.handleTick()
		}
	}
}

func (c *Cache) handleWant(ip [4]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Clock.Now()
	e := c.entries[ip]
	switch {
	case e == nil:
		e = &entry{}
		c.entries[ip] = e
	case e.state == stateFailed && now.After(e.expires):
	default:
		return // known, in progress, static, or held down after a failure
	}
	e.state, e.attempts = stateIncomplete, 0
	c.request(ip, e, now)
}

// request sends one ARP request for ip; caller holds mu.
func (c *Cache) request(ip [4]byte, e *entry, now time.Time) {
	e.attempts++
	e.nextTry = now.Add(c.cfg.Retry)
	if c.tr == nil {
		return
	}
	c.requests.Add(1)
	if err := c.tr.Request(netip.AddrFrom4(ip)); err != nil {
		c.log.Warn("neigh: ARP request failed", "ip", netip.AddrFrom4(ip), "err", err)
	}
}

func (c *Cache) handleAnswer(a answer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[a.ip]
	if e == nil || e.state == stateStatic {
		return // only addresses we asked about; never learn from strangers
	}
	now := c.cfg.Clock.Now()
	switch e.state {
	case stateIncomplete, stateFailed:
		c.resolved.Add(1)
		c.log.Debug("neigh: resolved", "ip", netip.AddrFrom4(a.ip), "mac", net.HardwareAddr(a.mac[:]))
	default:
		c.refreshed.Add(1)
		if e.mac != a.mac {
			c.log.Info("neigh: neighbour changed MAC", "ip", netip.AddrFrom4(a.ip),
				"old", net.HardwareAddr(e.mac[:]), "new", net.HardwareAddr(a.mac[:]))
		}
	}
	changed := e.state != stateReachable && e.state != stateRefreshing || e.mac != a.mac
	e.state, e.mac, e.expires, e.attempts = stateReachable, a.mac, now.Add(c.cfg.TTL), 0
	if changed {
		c.publish()
	}
}

func (c *Cache) handleTick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Clock.Now()
	dirty := false
	for ip, e := range c.entries {
		switch e.state {
		case stateReachable:
			if !now.Before(e.expires.Add(-c.cfg.RefreshBefore)) {
				e.state, e.attempts = stateRefreshing, 0
				c.request(ip, e, now)
			}
		case stateRefreshing:
			if !now.Before(e.expires) {
				// The stale entry served until here; now it is gone.
				c.failures.Add(1)
				e.failures++
				e.state, e.expires = stateFailed, now.Add(c.cfg.Retry)
				dirty = true
				c.log.Info("neigh: neighbour stopped answering", "ip", netip.AddrFrom4(ip))
			} else if !now.Before(e.nextTry) {
				c.request(ip, e, now)
			}
		case stateIncomplete:
			if now.Before(e.nextTry) {
				continue
			}
			if e.attempts >= c.cfg.Attempts {
				c.failures.Add(1)
				e.failures++
				e.state, e.expires = stateFailed, now.Add(c.cfg.Retry)
				c.log.Debug("neigh: no answer", "ip", netip.AddrFrom4(ip), "attempts", e.attempts)
				continue
			}
			c.request(ip, e, now)
		}
	}
	if dirty {
		c.publish()
	}
}

// publish swaps in a new read snapshot; caller holds mu (or owns c).
func (c *Cache) publish() {
	m := make(map[[4]byte][6]byte, len(c.entries))
	for ip, e := range c.entries {
		switch e.state {
		case stateReachable, stateRefreshing, stateStatic:
			m[ip] = e.mac
		}
	}
	var version uint64
	if old := c.snap.Load(); old != nil {
		version = old.version + 1
	}
	c.snap.Store(&view{version: version, macs: m})
}
