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

// InboundBatch decides a batch of client packets: res[i] is what
// Inbound(src, tuples[i], flags[i], now) would return, and the packets are
// decided in slice order, so the results and the table afterwards are
// exactly those of calling Inbound for each in turn. It first hashes every
// tuple and prefetches the cache line of each one's home slot, then does
// the locked lookups; in a table larger than the CPU caches the misses
// overlap instead of costing one memory latency each.
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
		t := &tuples[i]
		if t.Proto != TCP && t.Proto != UDP {
			continue
		}
		s := &b[i]
		s.sh = tab.shardOf(t.Src, t.SrcPort, t.Proto)
		s.in = makeInKey(t.Src, t.Dst, t.SrcPort, t.DstPort, t.Proto, kindConn)
		s.h = tab.hash.in(&s.in)
		prefetch(unsafe.Pointer(&s.sh.slots[connHome(s.h, s.sh.n)]))
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
		t := &tuples[i]
		s := &b[i]
		s.sh = tab.shardOf(t.Dst, t.DstPort, t.Proto)
		s.out = makeOutKey(t)
		s.h = tab.hash.out(&s.out)
		prefetch(unsafe.Pointer(&s.sh.out[connHome(s.h, s.sh.n)]))
	}
	if connPeekOK {
		for i := range b {
			s := &b[i]
			if p, ok := s.sh.peekOut(s.h); ok {
				prefetch(unsafe.Pointer(&s.sh.slots[p]))
			}
		}
	}
	var tally connTally
	for i := range tuples {
		s := &b[i]
		res[i] = w.outbound(src, s.sh, &s.out, s.h, flags[i], now, &tally)
	}
	tally.flush(&w.ctr)
}
