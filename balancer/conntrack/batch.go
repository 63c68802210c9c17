package conntrack

import (
	"unsafe"

	"github.com/ulvs/ulvs/balancer"
)

// connBatchMax is how many packets a batch call hashes and prefetches
// ahead; longer batches are taken in chunks of this size. It matches the
// packet loop's receive batch.
const connBatchMax = 256

// connPrefetchAhead is how many packets ahead of the one being decided a
// batch prefetches. Prefetching the whole batch first and then deciding
// would serialise the two: the CPU can only keep about ten misses in
// flight, so it would first wait for memory and then compute. Running the
// prefetches a fixed distance ahead overlaps them with the decisions; 16
// packets (~0.7 us of work) cover a DRAM miss with room to spare. Replies
// take two steps (index slot, then entry), each this far apart.
const connPrefetchAhead = 16

// fetch starts loading what the slot's lookup reads first: the home entry
// of a client packet, the home outbound index slot of a reply.
func (s *packet) fetch() {
	if s.kind != connSlotNone {
		prefetch(s.home)
	}
}

// fetchEntry starts loading the entry a reply's home index slot points at,
// once fetch has brought that slot in. It does nothing under the race
// detector (see peekOut).
func (s *packet) fetchEntry(tab *connTable) {
	if s.kind != connSlotReply {
		return
	}
	if p, ok := tab.peekOut(int(s.shard), s.h, (*uint64)(s.home)); ok {
		prefetch(unsafe.Pointer(p))
	}
}

// connFetchAhead runs the prefetches due when packet i of b is decided:
// the first step for packet i+2d and the second for packet i+d, d being
// connPrefetchAhead.
func connFetchAhead(tab *connTable, b []packet, i int) {
	if j := i + 2*connPrefetchAhead; j < len(b) {
		b[j].fetch()
	}
	if connPeekOK {
		if j := i + connPrefetchAhead; j < len(b) {
			b[j].fetchEntry(tab)
		}
	}
}

// connFetchStart issues the prefetches packets 0..2d-1 would have issued
// for themselves had the batch started earlier.
func connFetchStart(tab *connTable, b []packet) {
	for j := range min(2*connPrefetchAhead, len(b)) {
		b[j].fetch()
	}
	if connPeekOK {
		for j := range min(connPrefetchAhead, len(b)) {
			b[j].fetchEntry(tab)
		}
	}
}

// inboundBatch decides a batch of client packets: res[i] is what
// Inbound(src, tuples[i], flags[i], now) would return, and the packets are
// decided in slice order, so the results and the table afterwards are
// exactly those of calling Inbound for each in turn. It first hashes every
// tuple and prefetches the cache line of each one's home slot, then does
// the locked lookups; in a table larger than the CPU caches the misses
// overlap instead of costing one memory latency each. The forwarded,
// not-service and new-connection counters are added once per batch.
//
// flags and res must be at least as long as tuples. inboundBatch does not
// allocate.
func (w *Worker) inboundBatch(src ServiceSource, tuples []Tuple4, flags []TCPFlags, now Tick, res []InboundResult) {
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
		if t := &tuples[i]; t.Proto == balancer.TCP || t.Proto == balancer.UDP {
			b[i].flags = flags[i]
			tab.hashIn(&b[i], t)
		} else {
			b[i].kind = connSlotNone
		}
	}
	connFetchStart(tab, b)
	var tally connTally
	for i := range tuples {
		connFetchAhead(tab, b, i)
		t := &tuples[i]
		if t.Proto != balancer.TCP && t.Proto != balancer.UDP {
			res[i] = w.untracked(src, t, &tally)
		} else {
			s := &b[i]
			res[i] = w.inbound(src, s, t, now, &tally)
		}
	}
	tally.flush(&w.ctr)
}

// outboundBatch decides a batch of NAT replies: res[i] is what
// Outbound(src, tuples[i], flags[i], now) would return, decided in slice
// order. Like inboundBatch it hashes the whole batch first and prefetches
// the outbound index slots, then (outside the race detector) the entries
// those slots point at, so both misses of an outbound hit overlap across
// the batch.
//
// flags and res must be at least as long as tuples. outboundBatch does not
// allocate.
func (w *Worker) outboundBatch(src ServiceSource, tuples []Tuple4, flags []TCPFlags, now Tick, res []OutboundResult) {
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
		b[i].flags = flags[i]
		tab.hashOut(&b[i], &tuples[i])
	}
	connFetchStart(tab, b)
	var tally connTally
	for i := range tuples {
		connFetchAhead(tab, b, i)
		s := &b[i]
		res[i] = w.outbound(src, s, now, &tally)
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
// or Outbound for each packet in turn. It prefetches like inboundBatch and
// outboundBatch, and decides the plain hits shard by shard under one lock
// per shard (decideHitsByShard). It does not allocate.
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
	for i := range pkts {
		switch p := &pkts[i]; {
		case p.Reply:
			b[i].flags = p.Flags
			tab.hashOut(&b[i], &p.Tuple)
		case p.Tuple.Proto == balancer.TCP || p.Tuple.Proto == balancer.UDP:
			b[i].flags = p.Flags
			tab.hashIn(&b[i], &p.Tuple)
		default:
			b[i].kind = connSlotNone
		}
	}
	var tally connTally
	grouped := len(tab.shards) <= connGroupMaxShards
	if grouped {
		w.decideHitsByShard(src, pkts, now, &tally)
	} else {
		connFetchStart(tab, b)
		for i := range w.pending[:len(pkts)] {
			w.pending[i] = true
		}
	}
	for i := range pkts {
		if !w.pending[i] {
			continue // decided by decideHitsByShard
		}
		if !grouped {
			connFetchAhead(tab, b, i)
		}
		p, s := &pkts[i], &b[i]
		// The results are stored field by field: a whole-struct assignment
		// goes through a stack temporary whose wide reload cannot be
		// forwarded from the narrow stores that built it.
		switch {
		case p.Reply:
			p.In = InboundResult{}
			o := w.outbound(src, s, now, &tally)
			p.Out.Action, p.Out.VIP, p.Out.VPort, p.Out.Real = o.Action, o.VIP, o.VPort, o.Real
		case p.Tuple.Proto != balancer.TCP && p.Tuple.Proto != balancer.UDP:
			p.In, p.Out = w.untracked(src, &p.Tuple, &tally), OutboundResult{}
		default:
			r := w.inbound(src, s, &p.Tuple, now, &tally)
			p.In.Action, p.In.Reason, p.In.Real, p.In.Service, p.In.New = r.Action, r.Reason, r.Real, r.Service, r.New
			p.Out = OutboundResult{}
		}
	}
	tally.flush(&w.ctr)
}

// connGroupMaxShards is the most shards decideHitsByShard groups a batch
// by (one bucket per shard); bigger tables take every packet through the
// per-packet path.
const connGroupMaxShards = 256

// decideHitsByShard is DecideBatch's first pass. A batch of random flows
// meets every shard a few times, and a lock and an unlock per packet were
// the largest single cost of a hit (~20 ns of ~50). So the batch's
// tracked packets are visited shard by shard, each shard locked once, and
// every plain hit (a live entry that the packet just refreshes, which is
// what Inbound's and Outbound's fast paths decide) is decided there. The
// first packet of a shard that is anything else, and every later packet of
// that shard, is left pending for the second pass, which takes pending and
// untracked packets through the per-packet paths in slice order.
//
// The outcome is that of deciding in slice order: within a shard the order
// is kept up to the first pending packet, after which the shard is left to
// the second pass; and a plain hit reads and writes only its own entry,
// which no packet of another shard touches (a connection's client packets
// and replies live in the same shard), and adds to counters, which
// commute. Scheduling, which has order-dependent state, only happens in
// the second pass, in slice order.
func (w *Worker) decideHitsByShard(src ServiceSource, pkts []BatchPacket, now Tick, tally *connTally) {
	tab := w.d.tab
	b := w.batch[:len(pkts)]
	// A counting sort of the tracked packets by shard, stable: order holds
	// packet indexes grouped by shard, in slice order within a shard.
	// Only the table's shards are summed: 65 counts for the default 64,
	// not all 257.
	var countAll [connGroupMaxShards + 1]uint16
	count := countAll[:len(tab.shards)+1]
	for i := range b {
		w.pending[i] = b[i].kind == connSlotNone
		if !w.pending[i] {
			count[b[i].shard+1]++
		}
	}
	for i := 1; i < len(count); i++ {
		if count[i] != 0 {
			// Shard i-1 will be locked: start loading its lock's line.
			prefetch(unsafe.Pointer(&tab.shards[i-1]))
		}
		count[i] += count[i-1]
	}
	n := int(count[len(count)-1])
	order := w.order[:n]
	for i := range b {
		if b[i].kind != connSlotNone {
			order[count[b[i].shard]] = uint16(i)
			count[b[i].shard]++
		}
	}
	connFetchStartOrder(tab, b, order)
	// The placement left count[s] at the end of shard s's run in order
	// (and count[s-1] at its start), so the runs are read off count
	// instead of found by comparing each packet's shard with the next.
	start := 0
	for si, end16 := range count[:len(tab.shards)] {
		end := int(end16)
		if start == end {
			continue
		}
		sh := &tab.shards[si]
		sh.mu.Lock()
		rest := false
		for j := start; j < end; j++ {
			connFetchAheadOrder(tab, b, order, j)
			i := order[j]
			if !rest && w.decideHitLocked(src, &b[i], &pkts[i], now, tally) {
				continue
			}
			rest = true
			w.pending[i] = true
		}
		sh.mu.Unlock()
		start = end
	}
}

// decideHitLocked decides p, with its shard locked, when it is a plain hit
// (hitInLocked, hitOutLocked: what Inbound's and Outbound's fast paths
// decide), and reports whether it did; otherwise it changes nothing.
func (w *Worker) decideHitLocked(src ServiceSource, s *packet, p *BatchPacket, now Tick, tally *connTally) bool {
	if s.kind == connSlotReply {
		if _, hit := w.d.hitOutLocked(src, s, now, &p.Out); !hit {
			return false
		}
		p.In = InboundResult{}
	} else {
		cur, _ := w.d.hitInLocked(src, s, now)
		if cur == nil {
			return false
		}
		p.In.Action, p.In.Reason, p.In.Real, p.In.Service, p.In.New = ActionForward, 0, cur, nil, false
		p.Out = OutboundResult{}
	}
	w.countForward(tally, false)
	return true
}

// connFetchStartOrder and connFetchAheadOrder are connFetchStart and
// connFetchAhead for packets visited in the order of order.
func connFetchStartOrder(tab *connTable, b []packet, order []uint16) {
	for _, i := range order[:min(2*connPrefetchAhead, len(order))] {
		b[i].fetch()
	}
	if connPeekOK {
		for _, i := range order[:min(connPrefetchAhead, len(order))] {
			b[i].fetchEntry(tab)
		}
	}
}

func connFetchAheadOrder(tab *connTable, b []packet, order []uint16, j int) {
	if k := j + 2*connPrefetchAhead; k < len(order) {
		b[order[k]].fetch()
	}
	if connPeekOK {
		if k := j + connPrefetchAhead; k < len(order) {
			b[order[k]].fetchEntry(tab)
		}
	}
}
