package balancer

import "unsafe"

// connBatchMax is how many packets a batch call hashes and prefetches
// ahead; longer batches are taken in chunks of this size. It matches the
// packet loop's receive batch.
const connBatchMax = 256

// connBatchSlot is a batch call's per-packet scratch: the hashing done
// ahead of the locked lookups.
type connBatchSlot struct {
	sh  *connShard
	h   uint64
	in  inKey
	out outKey
}

// prepareIn hashes client tuple t (TCP or UDP) into s and prefetches the
// cache line of its home slot.
func (tab *connTable) prepareIn(s *connBatchSlot, t *Tuple4) {
	s.sh = tab.shardOf(t.Src, t.SrcPort, t.Proto)
	s.in = makeInKey(t.Src, t.Dst, t.SrcPort, t.DstPort, t.Proto, kindConn)
	s.h = tab.hash.in(&s.in)
	prefetch(unsafe.Pointer(&s.sh.slots[connHome(s.h, s.sh.n)]))
}

// prepareOut hashes reply tuple t into s and prefetches the cache line of
// its home slot in the outbound index.
func (tab *connTable) prepareOut(s *connBatchSlot, t *Tuple4) {
	s.sh = tab.shardOf(t.Dst, t.DstPort, t.Proto)
	s.out = makeOutKey(t)
	s.h = tab.hash.out(&s.out)
	prefetch(unsafe.Pointer(&s.sh.out[connHome(s.h, s.sh.n)]))
}

// prefetchOutEntry prefetches the entry a prepared reply's home index slot
// points at, once that slot has had time to arrive. It does nothing under
// the race detector (see peekOut).
func (s *connBatchSlot) prefetchOutEntry() {
	if p, ok := s.sh.peekOut(s.h); ok {
		prefetch(unsafe.Pointer(&s.sh.slots[p]))
	}
}

// InboundBatch decides a batch of client packets: res[i] is what
// Inbound(src, tuples[i], flags[i], now) would return, and the packets are
// decided in slice order, so the results and the table afterwards are
// exactly those of calling Inbound for each in turn. It first hashes every
// tuple and prefetches the cache line of each one's home slot, then does
// the locked lookups; in a table larger than the CPU caches the misses
// overlap instead of costing one memory latency each. The forwarded,
// not-service and new-connection counters are added once per batch.
//
// flags and res must be at least as long as tuples. InboundBatch does not
// allocate.
func (w *Worker) InboundBatch(src ServiceSource, tuples []Tuple4, flags []TCPFlags, now Tick, res []InboundResult) {
	flags, res = flags[:len(tuples)], res[:len(tuples)]
	for len(tuples) > 0 {
		n := min(len(tuples), connBatchMax)
		w.inboundChunk(src, tuples[:n], flags[:n], now, res[:n])
		tuples, flags, res = tuples[n:], flags[n:], res[n:]
	}
}

func (w *Worker) inboundChunk(src ServiceSource, tuples []Tuple4, flags []TCPFlags, now Tick, res []InboundResult) {
	tab := w.d.tab
	b := w.batch[:len(tuples)]
	for i := range tuples {
		if t := &tuples[i]; t.Proto == TCP || t.Proto == UDP {
			tab.prepareIn(&b[i], t)
		}
	}
	var tally connTally
	for i := range tuples {
		t := &tuples[i]
		if t.Proto != TCP && t.Proto != UDP {
			res[i] = w.untracked(src, t, &tally)
		} else {
			s := &b[i]
			res[i] = w.inbound(src, s.sh, &s.in, s.h, t, flags[i], now, &tally)
		}
	}
	tally.flush(&w.ctr)
}

// OutboundBatch decides a batch of NAT replies: res[i] is what
// Outbound(src, tuples[i], flags[i], now) would return, decided in slice
// order. Like InboundBatch it hashes the whole batch first and prefetches
// the outbound index slots, then (outside the race detector) the entries
// those slots point at, so both misses of an outbound hit overlap across
// the batch.
//
// flags and res must be at least as long as tuples. OutboundBatch does not
// allocate.
func (w *Worker) OutboundBatch(src ServiceSource, tuples []Tuple4, flags []TCPFlags, now Tick, res []OutboundResult) {
	flags, res = flags[:len(tuples)], res[:len(tuples)]
	for len(tuples) > 0 {
		n := min(len(tuples), connBatchMax)
		w.outboundChunk(src, tuples[:n], flags[:n], now, res[:n])
		tuples, flags, res = tuples[n:], flags[n:], res[n:]
	}
}

func (w *Worker) outboundChunk(src ServiceSource, tuples []Tuple4, flags []TCPFlags, now Tick, res []OutboundResult) {
	tab := w.d.tab
	b := w.batch[:len(tuples)]
	for i := range tuples {
		tab.prepareOut(&b[i], &tuples[i])
	}
	if connPeekOK {
		for i := range b {
			b[i].prefetchOutEntry()
		}
	}
	var tally connTally
	for i := range tuples {
		s := &b[i]
		res[i] = w.outbound(src, s.sh, &s.out, s.h, flags[i], now, &tally)
	}
	tally.flush(&w.ctr)
}

// BatchPacket is one packet of a DecideBatch call: what the packet loop
// parsed, and the decision DecideBatch fills in.
type BatchPacket struct {
	Tuple Tuple4
	Flags TCPFlags
	// Reply marks a NAT reply from a real server (real -> client), decided
	// as Outbound decides; otherwise the packet is a client's (client ->
	// virtual service), decided as Inbound decides.
	Reply bool
	In    InboundResult  // the decision for a client packet (zero for a reply)
	Out   OutboundResult // the decision for a reply (zero for a client packet)
}

// DecideBatch decides a batch that may mix client packets and NAT replies,
// as a one-armed director receives them, in slice order: each packet's
// decision, and the table afterwards, are exactly those of calling Inbound
// or Outbound for each packet in turn. It prefetches like InboundBatch and
// OutboundBatch. It does not allocate.
func (w *Worker) DecideBatch(src ServiceSource, pkts []BatchPacket, now Tick) {
	for len(pkts) > 0 {
		n := min(len(pkts), connBatchMax)
		w.decideChunk(src, pkts[:n], now)
		pkts = pkts[n:]
	}
}

func (w *Worker) decideChunk(src ServiceSource, pkts []BatchPacket, now Tick) {
	tab := w.d.tab
	b := w.batch[:len(pkts)]
	replies := false
	for i := range pkts {
		switch p := &pkts[i]; {
		case p.Reply:
			tab.prepareOut(&b[i], &p.Tuple)
			replies = true
		case p.Tuple.Proto == TCP || p.Tuple.Proto == UDP:
			tab.prepareIn(&b[i], &p.Tuple)
		}
	}
	if connPeekOK && replies {
		for i := range pkts {
			if pkts[i].Reply {
				b[i].prefetchOutEntry()
			}
		}
	}
	var tally connTally
	for i := range pkts {
		p, s := &pkts[i], &b[i]
		switch {
		case p.Reply:
			p.In = InboundResult{}
			p.Out = w.outbound(src, s.sh, &s.out, s.h, p.Flags, now, &tally)
		case p.Tuple.Proto != TCP && p.Tuple.Proto != UDP:
			p.In, p.Out = w.untracked(src, &p.Tuple, &tally), OutboundResult{}
		default:
			p.In, p.Out = w.inbound(src, s.sh, &s.in, s.h, &p.Tuple, p.Flags, now, &tally), OutboundResult{}
		}
	}
	tally.flush(&w.ctr)
}
