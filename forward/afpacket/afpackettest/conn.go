// Package afpackettest is an in-memory afpacket.Conn for tests, benchmarks
// and tools that run the data plane without sockets (ulvs inspect): the
// caller queues received frames and reads what the loop committed.
package afpackettest

import (
	"sync/atomic"

	"github.com/ulvs/ulvs/forward/afpacket"
)

// DefaultSlot is the TX slot size of New: room for any frame of a
// 1500-byte MTU with tags.
const DefaultSlot = 2048

// Conn is an in-memory afpacket.Conn. Receive hands out RX in order;
// TxSlot returns a slot of a TX ring (one slot unless built by NewRing),
// and Commit counts the frame, keeps a copy when Keep is set and passes
// it to OnCommit. It allocates nothing after construction unless Keep is
// set. Like a real Conn it is for one goroutine, but for Close and Stats.
type Conn struct {
	Name string
	// RX are the frames Receive returns next.
	RX [][]byte
	// Keep makes Commit append a copy of each frame to Sent.
	Keep bool
	Sent [][]byte
	// OnCommit, when set, sees each committed frame (a view of the TX
	// slot, valid until the next TxSlot).
	OnCommit func(frame []byte)
	// NSent and Flushes count Commit and Flush calls.
	NSent, Flushes int

	ring        []byte
	slot, slots int
	head        int
	closed      atomic.Bool
}

var _ afpacket.Conn = (*Conn)(nil)

// New returns a Conn with one TX slot of DefaultSlot bytes.
func New(name string) *Conn { return NewSized(name, DefaultSlot) }

// NewSized returns a Conn with one TX slot of size bytes.
func NewSized(name string, size int) *Conn { return NewRing(name, 1, size) }

// NewRing returns a Conn whose TX slots walk a ring of slots slots of size
// bytes, so that a benchmark pays the cache misses a real TX ring costs
// (afpacket.DefaultTxFrames slots of afpacket.DefaultFrameSize match the
// default ring).
func NewRing(name string, slots, size int) *Conn {
	return &Conn{Name: name, ring: make([]byte, slots*size), slot: size, slots: slots}
}

// Receive moves up to len(frames) frames from RX into frames. With RX
// empty it returns 0 and nil, or afpacket.ErrClosed after Close.
func (c *Conn) Receive(frames []afpacket.Frame) (int, error) {
	if c.closed.Load() {
		return 0, afpacket.ErrClosed
	}
	n := 0
	for n < len(frames) && len(c.RX) > 0 {
		frames[n] = afpacket.Frame{Data: c.RX[0], Len: uint32(len(c.RX[0]))}
		c.RX = c.RX[1:]
		n++
	}
	return n, nil
}

// Release does nothing: RX frames belong to the caller.
func (c *Conn) Release() {}

// TxSlot returns the current TX slot.
func (c *Conn) TxSlot() []byte { return c.ring[c.head*c.slot : (c.head+1)*c.slot] }

// Commit takes the first n bytes of the current slot as a sent frame and
// moves to the next slot.
func (c *Conn) Commit(n int) {
	c.NSent++
	if c.Keep || c.OnCommit != nil {
		f := c.ring[c.head*c.slot : c.head*c.slot+n]
		if c.Keep {
			c.Sent = append(c.Sent, append([]byte(nil), f...))
		}
		if c.OnCommit != nil {
			c.OnCommit(f)
		}
	}
	if c.head++; c.head == c.slots {
		c.head = 0
	}
}

// Flush counts the call.
func (c *Conn) Flush() error { c.Flushes++; return nil }

// Stats returns zero counters: nothing is ever dropped.
func (c *Conn) Stats() afpacket.Stats { return afpacket.Stats{} }

// Close makes later Receives return afpacket.ErrClosed.
func (c *Conn) Close() error { c.closed.Store(true); return nil }
