// Package lvssynctest has in-memory stand-ins for the connection
// tracker's two seams with lvssync: a Sink that records what a receiver
// installs, and a Table a bulk resync walks.
package lvssynctest

import (
	"net/netip"
	"sync"

	"github.com/ulvs/ulvs/lvssync"
)

// Key identifies a synced entry the way IPVS looks it up on a backup:
// protocol, client and virtual address and port.
type Key struct {
	Protocol    uint8
	Client, VIP netip.AddrPort
	Template    bool
}

// KeyOf is c's key.
func KeyOf(c *lvssync.Conn) Key {
	return Key{c.Protocol, netip.AddrPortFrom(c.CAddr, c.CPort), netip.AddrPortFrom(c.VAddr, c.VPort),
		c.Flags&lvssync.FlagTemplate != 0}
}

// Sink records received entries by key, the latest winning.
type Sink struct {
	mu      sync.Mutex
	entries map[Key]lvssync.Conn
	calls   int
}

// NewSink returns an empty sink.
func NewSink() *Sink { return &Sink{entries: make(map[Key]lvssync.Conn)} }

// SyncConn records c (options dropped: they are views into the message).
func (s *Sink) SyncConn(c *lvssync.Conn) {
	cc := *c
	cc.PEData, cc.PEName = nil, nil
	s.mu.Lock()
	s.entries[KeyOf(c)] = cc
	s.calls++
	s.mu.Unlock()
}

// Len is the number of distinct entries.
func (s *Sink) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// Calls is the number of SyncConn calls.
func (s *Sink) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Get returns the entry for k.
func (s *Sink) Get(k Key) (lvssync.Conn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.entries[k]
	return c, ok
}

// Table is a fixed list of connections; the cursor is an index.
type Table []lvssync.Conn

// Len is the number of entries.
func (t Table) Len() int { return len(t) }

// Walk implements lvssync.Table.
func (t Table) Walk(cursor uint64, max int, fn func(*lvssync.Conn)) (uint64, bool) {
	end := min(int(cursor)+max, len(t))
	for i := int(cursor); i < end; i++ {
		fn(&t[i])
	}
	return uint64(end), end == len(t)
}

// Generate returns n distinct IPv4 TCP connections to vip:80 spread over
// reals, ESTABLISHED (IPVS state 1) with timeout 900 s.
func Generate(n int, vip netip.Addr, reals []netip.Addr) Table {
	t := make(Table, n)
	for i := range t {
		t[i] = lvssync.Conn{
			Protocol: 6, State: 1, Timeout: 900,
			CAddr: netip.AddrFrom4([4]byte{10, 100 + byte(i>>24), byte(i >> 16), byte(i >> 8)}), CPort: uint16(1024 + i&0xff),
			VAddr: vip, VPort: 80, DAddr: reals[i%len(reals)], DPort: 8080,
		}
	}
	return t
}
