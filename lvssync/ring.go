package lvssync

import (
	"net/netip"
	"sync/atomic"
)

// Event is the fixed-size record a packet worker hands to the sender for
// one connection to sync: no pointers, so a ring of them is one
// allocation and a push is a copy.
type Event struct {
	CAddr, VAddr, DAddr [16]byte // an IPv4 address in the first 4 bytes
	Flags               uint32
	FWMark              uint32
	Timeout             uint32 // seconds
	State               uint16
	CPort, VPort, DPort uint16
	Protocol            uint8
	IPv6                bool
}

// SetConn fills ev from c (its options are not carried: ulvs makes no
// sequence adjustments and has no persistence engines).
func (ev *Event) SetConn(c *Conn) {
	*ev = Event{Flags: c.Flags, FWMark: c.FWMark, Timeout: c.Timeout, State: c.State,
		CPort: c.CPort, VPort: c.VPort, DPort: c.DPort, Protocol: c.Protocol, IPv6: c.CAddr.Is6()}
	putAddr(&ev.CAddr, c.CAddr)
	putAddr(&ev.VAddr, c.VAddr)
	putAddr(&ev.DAddr, c.DAddr)
}

func putAddr(dst *[16]byte, a netip.Addr) {
	if a.Is4() {
		a4 := a.As4()
		copy(dst[:], a4[:])
		return
	}
	*dst = a.As16()
}

// Conn fills c from ev.
func (ev *Event) Conn(c *Conn) {
	*c = Conn{Protocol: ev.Protocol, Flags: ev.Flags, State: ev.State, CPort: ev.CPort, VPort: ev.VPort, DPort: ev.DPort,
		FWMark: ev.FWMark, Timeout: ev.Timeout}
	if ev.IPv6 {
		c.CAddr, c.VAddr, c.DAddr = netip.AddrFrom16(ev.CAddr), netip.AddrFrom16(ev.VAddr), netip.AddrFrom16(ev.DAddr)
	} else {
		c.CAddr = netip.AddrFrom4([4]byte(ev.CAddr[:4]))
		c.VAddr = netip.AddrFrom4([4]byte(ev.VAddr[:4]))
		c.DAddr = netip.AddrFrom4([4]byte(ev.DAddr[:4]))
	}
}

// Ring is a single-producer single-consumer queue of Events: one packet
// worker pushes, the sender goroutine pops. Push and Pop are a copy and
// two atomic loads and a store, with no lock, allocation or syscall; a
// full ring refuses the event and counts it (the connection is synced on
// its next state change, as when the kernel's sync_qlen_max is reached).
type Ring struct {
	tail atomic.Uint64 // next slot to write; written by the producer
	_    [56]byte      // keep the producer's and consumer's words on separate cache lines
	head atomic.Uint64 // next slot to read; written by the consumer
	_    [56]byte
	full atomic.Uint64
	mask uint64
	buf  []Event
}

// NewRing returns a ring of at least size slots (a power of two).
func NewRing(size int) *Ring {
	n := 1
	for n < size {
		n <<= 1
	}
	return &Ring{buf: make([]Event, n), mask: uint64(n - 1)}
}

// Push queues a copy of ev; false when the ring is full. Only one
// goroutine may push.
func (r *Ring) Push(ev *Event) bool {
	t := r.tail.Load()
	if t-r.head.Load() > r.mask {
		r.full.Add(1)
		return false
	}
	r.buf[t&r.mask] = *ev
	r.tail.Store(t + 1)
	return true
}

// Pop takes the oldest event into ev; false when the ring is empty. Only
// one goroutine may pop.
func (r *Ring) Pop(ev *Event) bool {
	h := r.head.Load()
	if h == r.tail.Load() {
		return false
	}
	*ev = r.buf[h&r.mask]
	r.head.Store(h + 1)
	return true
}

// Full is the number of events refused because the ring was full.
func (r *Ring) Full() uint64 { return r.full.Load() }
