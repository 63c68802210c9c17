package forward

import "github.com/ulvs/ulvs/balancer"

// realCacheSlots is the number of real servers a worker keeps at hand
// (a power of two). Servers whose RealIDs collide take turns in a slot.
const realCacheSlots = 64

// realCache is a worker's per-real-server memo, direct-mapped by RealID:
// the server's IPv4 address, the MAC of its next hop on the real-server
// side (valid while that port's neighbour cache keeps its version), and the
// batch's packet and byte counts, which endBatch adds to the server's
// shared counters once per batch instead of four atomic adds per packet.
//
// It replaces a scan of the last few destinations and of the batch's
// tallies: with frames spread at random over a service's servers, the exit
// of such a scan mispredicted a branch on nearly every frame (~10 ns),
// where a direct-mapped slot is one compare that hits.
type realCache struct {
	shard int // the worker's counter shard
	slots [realCacheSlots]realSlot
	// counted lists the slots holding counts not yet flushed.
	counted  [realCacheSlots]uint8
	nCounted int
}

// realSlot is one server's entry. A slot belongs to a *RealServer, that is
// to one table snapshot: after a reload the new snapshot's servers take
// their slots over, re-deriving the address and the MAC once.
type realSlot struct {
	real *balancer.RealServer
	ip   [4]byte
	mac  [6]byte
	// macVersion is the neighbour cache version mac was read at; macOK
	// says whether it was read at all.
	macVersion uint64
	macOK      bool
	counted    bool
	inPkts     int
	inBytes    int
	outPkts    int
	outBytes   int
}

// slot returns r's slot, taking it over (and flushing what its previous
// owner counted) when another server holds it.
func (c *realCache) slot(r *balancer.RealServer) *realSlot {
	s := &c.slots[r.ID&(realCacheSlots-1)]
	if s.real != r {
		c.takeOver(s, r)
	}
	return s
}

// takeOver gives s to r. It is kept out of slot so that slot inlines.
func (c *realCache) takeOver(s *realSlot, r *balancer.RealServer) {
	if s.counted {
		c.flushSlot(s)
	}
	*s = realSlot{real: r, ip: r.Addr.Unmap().As4()}
}

// countIn and countOut add a packet of the given length to s's tally.
func (c *realCache) countIn(s *realSlot, bytes int) {
	s.inPkts++
	s.inBytes += bytes
	c.markCounted(s)
}

func (c *realCache) countOut(s *realSlot, bytes int) {
	s.outPkts++
	s.outBytes += bytes
	c.markCounted(s)
}

func (c *realCache) markCounted(s *realSlot) {
	if s.counted {
		return
	}
	if c.nCounted == len(c.counted) {
		// Servers sharing a slot took it from each other often enough
		// to fill the list with stale indexes.
		c.flush()
	}
	s.counted = true
	c.counted[c.nCounted] = uint8(s.real.ID & (realCacheSlots - 1))
	c.nCounted++
}

// flush adds every tally to its server's counters on the worker's shard.
func (c *realCache) flush() {
	for _, i := range c.counted[:c.nCounted] {
		if s := &c.slots[i]; s.counted {
			c.flushSlot(s)
		}
	}
	c.nCounted = 0
}

func (c *realCache) flushSlot(s *realSlot) {
	s.real.CountN(c.shard, s.inPkts, s.inBytes, s.outPkts, s.outBytes)
	s.inPkts, s.inBytes, s.outPkts, s.outBytes = 0, 0, 0, 0
	s.counted = false
}
