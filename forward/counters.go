package forward

import (
	"sync/atomic"

	"github.com/ulvs/ulvs/balancer/conntrack"
)

// workerCounters are one worker's counters: written by it alone, read by
// Stats from any goroutine.
type workerCounters struct {
	rx, tx, inbound, outbound, arp, icmpSent, icmpLimited atomic.Uint64
	// txN, inboundN and outboundN count the current batch's frames in
	// plain fields (only the worker touches them) and settle adds them to
	// the shared counters once per batch: a locked add per frame would
	// also wait for the frame's stores into the TX ring to drain.
	txN, inboundN, outboundN uint64
	drops                    Counters
	balancer                 [conntrack.NumDropReasons]atomic.Uint64
	// last is the reason of the latest drop, for the trace; worker only.
	last TraceReason
}

func (c *workerCounters) init() {}

// settle publishes the batch counts; handleBatch calls it once per batch.
func (c *workerCounters) settle() {
	if c.txN != 0 {
		c.tx.Add(c.txN)
		c.txN = 0
	}
	if c.inboundN != 0 {
		c.inbound.Add(c.inboundN)
		c.inboundN = 0
	}
	if c.outboundN != 0 {
		c.outbound.Add(c.outboundN)
		c.outboundN = 0
	}
}

func (c *workerCounters) drop(r DropReason) {
	c.drops.Inc(r)
	c.last = FrameDrop(r)
}

func (c *workerCounters) balancerDrop(r conntrack.DropReason) {
	c.balancer[r].Add(1)
	c.last = BalancerDrop(r)
}

func (c *workerCounters) addTo(s *LoopStats) {
	s.RxFrames += c.rx.Load()
	s.TxFrames += c.tx.Load()
	s.Inbound += c.inbound.Load()
	s.Outbound += c.outbound.Load()
	s.ARPReplies += c.arp.Load()
	s.ICMPSent += c.icmpSent.Load()
	for i := range s.Drops {
		s.Drops[i] += c.drops.Load(DropReason(i))
	}
	for i := range s.BalancerDrops {
		s.BalancerDrops[i] += c.balancer[i].Load()
	}
}
