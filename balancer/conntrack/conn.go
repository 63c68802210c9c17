package conntrack

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/ulvs/ulvs/balancer"
)

// Tuple4 is an IPv4 transport 5-tuple as read from a packet: addresses as
// [4]byte in network order, ports in host order. It is a plain value with no
// pointers; the zero value is the all-zero tuple.
type Tuple4 struct {
	Src, Dst         [4]byte
	SrcPort, DstPort uint16
	Proto            balancer.Protocol
}

// MakeTuple4 builds a Tuple4 from netip values; it is meant for tests and
// the control plane (the packet path fills the fields directly). Non-IPv4
// addresses become 0.0.0.0.
func MakeTuple4(proto balancer.Protocol, src, dst netip.AddrPort) Tuple4 {
	t := Tuple4{Proto: proto, SrcPort: src.Port(), DstPort: dst.Port()}
	if a := src.Addr().Unmap(); a.Is4() {
		t.Src = a.As4()
	}
	if a := dst.Addr().Unmap(); a.Is4() {
		t.Dst = a.As4()
	}
	return t
}

func connBE32(a [4]byte) uint32 {
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

func connAddr4(v uint32) [4]byte { return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

// Entry kinds. The kind is part of the inbound key, so a template never
// matches a connection lookup even when a client uses source port 0.
const (
	kindEmpty    uint8 = iota // free slot (the zero value)
	kindConn                  // a connection
	kindTemplate              // a persistence template (client network -> real server)
)

// Entry flags.
const (
	flagInactive    uint8 = 1 << iota // counted as inactive on its real server (else active)
	flagNoOutput                      // DR/TUN: no reply seen, use the input-only view
	flagControlled                    // created through a persistence template
	flagNoReal                        // template whose real server was purged
	flagMethodShift       = 4
	flagMethodMask  uint8 = 3 << flagMethodShift
)

// connEntry is one slot of a shard's open-addressing table: 32 bytes,
// pointer-free, two per cache line, so the GC never scans the table and an
// inbound lookup touches one line. The inbound key (addrs, ports, proto,
// kind) is stored inline; NAT entries are also reachable through the
// shard's outbound index.
//
// For kindTemplate, dst holds the persistence timeout in ticks and aux the
// number of connections the template controls; client is the masked client
// network and the client port is 0. For kindConn, dst is the real server
// address and aux holds the real port (high 16 bits) and, for controlled
// connections, the template's mask bits (low 8 bits).
type connEntry struct {
	addrs   uint64 // client address << 32 | virtual address
	ports   uint32 // client port << 16 | virtual port
	proto   balancer.Protocol
	kind    uint8
	state   ConnState
	flags   uint8
	dst     uint32
	aux     uint32
	expires Tick
	real    balancer.RealID
}

func (e *connEntry) client() uint32  { return uint32(e.addrs >> 32) }
func (e *connEntry) virtual() uint32 { return uint32(e.addrs) }
func (e *connEntry) cport() uint16   { return uint16(e.ports >> 16) }
func (e *connEntry) vport() uint16   { return uint16(e.ports) }
func (e *connEntry) dport() uint16   { return uint16(e.aux >> 16) }
func (e *connEntry) maskBits() uint8 { return uint8(e.aux) }
func (e *connEntry) method() balancer.Method {
	return balancer.Method((e.flags & flagMethodMask) >> flagMethodShift)
}
func (e *connEntry) hasOut() bool          { return e.kind == kindConn && e.method() == balancer.NAT }
func (e *connEntry) expired(now Tick) bool { return !now.before(e.expires) }

func (e *connEntry) connKind() balancer.ConnKind {
	switch {
	case e.kind == kindTemplate:
		return balancer.ConnTemplate
	case e.flags&flagInactive != 0:
		return balancer.ConnInactive
	}
	return balancer.ConnActive
}

// inKey is the inbound lookup key: what a client's packet to a virtual
// service carries, plus the entry kind.
type inKey struct {
	addrs uint64
	ports uint32
	proto balancer.Protocol
	kind  uint8
}

func makeInKey(client, vip [4]byte, cport, vport uint16, proto balancer.Protocol, kind uint8) inKey {
	return inKey{
		addrs: uint64(connBE32(client))<<32 | uint64(connBE32(vip)),
		ports: uint32(cport)<<16 | uint32(vport),
		proto: proto,
		kind:  kind,
	}
}

func (e *connEntry) inKey() inKey {
	return inKey{addrs: e.addrs, ports: e.ports, proto: e.proto, kind: e.kind}
}

func (e *connEntry) matchIn(k *inKey) bool {
	return e.addrs == k.addrs && e.ports == k.ports && e.proto == k.proto && e.kind == k.kind
}

// outKey is the outbound lookup key: what a real server's NAT reply carries.
type outKey struct {
	addrs uint64 // real << 32 | client
	ports uint32 // real port << 16 | client port
	proto balancer.Protocol
}

func (e *connEntry) outKey() outKey {
	return outKey{
		addrs: uint64(e.dst)<<32 | uint64(e.client()),
		ports: uint32(e.dport())<<16 | uint32(e.cport()),
		proto: e.proto,
	}
}

func (e *connEntry) matchOut(k *outKey) bool {
	return e.kind == kindConn && e.proto == k.proto && uint64(e.dst)<<32|uint64(e.client()) == k.addrs &&
		uint32(e.dport())<<16|uint32(e.cport()) == k.ports
}

// connHasher is a keyed hash over packed tuples: a folded 64x64->128
// multiply (the wyhash mixing step) with per-table random keys, so tuples
// cannot be chosen offline to collide. Not a cryptographic MAC; it keeps an
// attacker without the keys from building long probe chains cheaply.
type connHasher struct{ k0, k1, k2, k3 uint64 }

func newConnHasher() connHasher {
	return connHasher{rand.Uint64() | 1, rand.Uint64() | 1, rand.Uint64() | 1, rand.Uint64() | 1}
}

func connFold(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func (h *connHasher) in(k *inKey) uint64 {
	return connFold(k.addrs^h.k0, uint64(k.ports)<<16^uint64(k.proto)<<8^uint64(k.kind)^h.k1)
}

func (h *connHasher) out(k *outKey) uint64 {
	return connFold(k.addrs^h.k2, uint64(k.ports)<<16^uint64(k.proto)<<8^h.k1)
}

// shard picks the shard from what both directions share: client address,
// client port and protocol. An inbound and an outbound lookup of the same
// connection therefore lock the same shard.
func (h *connHasher) shard(client uint32, cport uint16, proto balancer.Protocol) uint64 {
	return connFold(uint64(client)<<24^uint64(cport)<<8^uint64(proto)^h.k3, h.k2)
}

// connHome maps a hash to a slot with Lemire's multiply-shift, so a shard's
// size need not be a power of two (memory stays close to the load target).
func connHome(h uint64, n uint32) uint32 { return uint32((h >> 32) * uint64(n) >> 32) }

// Out-index slots pack the high 32 bits of the outbound hash with the entry
// position + 1; zero is an empty slot. The stored hash bits give each
// slot's home without rehashing when deletion shifts slots back.
func connOutSlot(h uint64, pos uint32) uint64 { return h&^0xffffffff | uint64(pos+1) }
func connOutSlotPos(s uint64) uint32          { return uint32(s) - 1 }

// connShard is one lock-protected part of the connection table: entries in
// a linear-probing array (deletion by backward shift, so no tombstones ever
// accumulate) and an outbound index of NAT entries, also linear-probing.
//
// The arrays are the first n slots of the shard's fixed region of the
// table's flat arrays. n follows the live entries (connTable.insert grows
// it, connTable.shrink halves it), not the capacity: 10k connections in a table sized for a million stay in
// a few hundred kilobytes instead of being scattered over 53 MB, where
// nearly every lookup missed the TLB as well as the caches (measured as
// 7 % of the forwarding rate, docs/benchmarks.md). Slots past n are always
// zero.
type connShard struct {
	mu      sync.Mutex
	slots   []connEntry
	out     []uint64
	n       uint32 // len(slots) == len(out): the active slots
	used    uint32 // live entries in slots
	limit   uint32 // most entries this shard may hold
	nOut    uint32
	sweep   uint32 // next slot the incremental sweep looks at
	reclaim uint32 // next slot a full shard looks at for expired entries
	idx     uint32 // the shard's index in the table: which region it owns
	resizes uint32 // bumped by every resize, which moves entries
	_       [64]byte
}

func (s *connShard) next(i uint32) uint32 {
	if i++; i == s.n {
		return 0
	}
	return i
}

// findIn returns the position of the entry with key k, or -1.
func (s *connShard) findIn(k *inKey, h uint64) int {
	for i := connHome(h, s.n); ; i = s.next(i) {
		e := &s.slots[i]
		if e.kind == kindEmpty {
			return -1
		}
		if e.matchIn(k) {
			return int(i)
		}
	}
}

// findOut returns the position of the NAT entry with outbound key k, or -1.
func (s *connShard) findOut(k *outKey, h uint64) int {
	tag := h &^ 0xffffffff
	for i := connHome(h, s.n); ; i = s.next(i) {
		v := s.out[i]
		if v == 0 {
			return -1
		}
		if v&^0xffffffff == tag {
			p := connOutSlotPos(v)
			if s.slots[p].matchOut(k) {
				return int(p)
			}
		}
	}
}

// insert stores e (whose key is absent) and returns its position. The
// caller has checked the shard's limit, so a free slot exists; insert first
// grows the active part when the entry would fill it past the load factor.
// Positions taken before an insert are stale after it.
func (t *connTable) insert(s *connShard, e *connEntry) uint32 {
	if (s.used+1)*connLoadDen > s.n*connLoadNum && s.n < t.region {
		t.resize(s, min(2*s.n, t.region))
	}
	return s.place(&t.hash, e)
}

// place stores e in the active slots, which have room for it.
func (s *connShard) place(hs *connHasher, e *connEntry) uint32 {
	k := e.inKey()
	i := connHome(hs.in(&k), s.n)
	for s.slots[i].kind != kindEmpty {
		i = s.next(i)
	}
	s.slots[i] = *e
	s.used++
	if e.hasOut() {
		s.addOut(hs, i)
	}
	return i
}

// resize rehashes s (locked) into its region's first n slots, which must
// hold its entries below the load factor. The entries are copied out into
// the table's scratch, the old slots cleared (slots past n stay zero) and
// the entries placed again; every position changes, so the sweep and
// reclaim cursors start over. It allocates nothing.
func (t *connTable) resize(s *connShard, n uint32) {
	t.scratchMu.Lock()
	defer t.scratchMu.Unlock()
	tmp := t.scratch[:0]
	for i := range s.slots {
		if s.slots[i].kind != kindEmpty {
			tmp = append(tmp, s.slots[i])
		}
	}
	clear(s.slots)
	clear(s.out)
	base := s.idx * t.region
	s.slots = t.slots[base : base+n : base+n]
	s.out = t.out[base : base+n : base+n]
	s.n, s.used, s.nOut = n, 0, 0
	s.sweep, s.reclaim = 0, 0
	s.resizes++
	for i := range tmp {
		s.place(&t.hash, &tmp[i])
	}
	t.sizes[s.idx].Store(n)
}

// shrink halves s's active slots (locked) while fewer than one in eight
// would be in use, down to connMinSlots, so that a shard a flood of
// connections grew compacts again once they expire. Sweep calls it at the
// end of each pass over the shard.
func (t *connTable) shrink(s *connShard) {
	n := s.n
	for n/2 >= connMinSlots && s.used*8 < n {
		n /= 2
	}
	if n < s.n {
		t.resize(s, n)
	}
}

func (s *connShard) addOut(hs *connHasher, pos uint32) {
	k := s.slots[pos].outKey()
	h := hs.out(&k)
	j := connHome(h, s.n)
	for s.out[j] != 0 {
		j = s.next(j)
	}
	s.out[j] = connOutSlot(h, pos)
	s.nOut++
}

// outPos finds the out-index slot that points at entry position pos.
func (s *connShard) outPos(hs *connHasher, pos uint32) int {
	k := s.slots[pos].outKey()
	h := hs.out(&k)
	want := connOutSlot(h, pos)
	for j := connHome(h, s.n); ; j = s.next(j) {
		switch s.out[j] {
		case want:
			return int(j)
		case 0:
			return -1
		}
	}
}

// connBetween reports whether home h lies cyclically in (i, j].
func connBetween(i, h, j uint32) bool {
	if i <= j {
		return i < h && h <= j
	}
	return i < h || h <= j
}

// remove deletes the entry at pos, shifting later entries of its probe run
// back so lookups never need tombstones. Entries that move keep their
// outbound index slot pointing at them.
func (s *connShard) remove(hs *connHasher, pos uint32) {
	if s.slots[pos].hasOut() {
		if j := s.outPos(hs, pos); j >= 0 {
			s.removeOut(uint32(j))
		}
	}
	i := pos
	for j := s.next(i); ; j = s.next(j) {
		e := &s.slots[j]
		if e.kind == kindEmpty {
			break
		}
		k := e.inKey()
		if connBetween(i, connHome(hs.in(&k), s.n), j) {
			continue
		}
		if e.hasOut() {
			if o := s.outPos(hs, j); o >= 0 {
				s.out[o] = s.out[o]&^0xffffffff | uint64(i+1)
			}
		}
		s.slots[i] = *e
		i = j
	}
	s.slots[i] = connEntry{}
	s.used--
}

func (s *connShard) removeOut(i uint32) {
	for j := s.next(i); ; j = s.next(j) {
		v := s.out[j]
		if v == 0 {
			break
		}
		if connBetween(i, connHome(v, s.n), j) {
			continue
		}
		s.out[i] = v
		i = j
	}
	s.out[i] = 0
	s.nOut--
}

// connTable is the sharded IPv4 connection table. All access to a shard's
// entries happens under that shard's mutex; a caller never holds two shard
// locks at once (scratchMu, taken under one, is a leaf). An IPv6 table
// would be a parallel type with 16-byte addresses and the same shard logic.
type connTable struct {
	hash   connHasher
	shards []connShard
	count  atomic.Int64 // live entries, all shards
	limit  int64        // MaxConns
	// slots and out are every shard's regions back to back (shard i's is
	// [i*region, (i+1)*region)), allocated for the full capacity at once so
	// a big table spans whole huge pages; a shard uses the first n slots of
	// its region.
	slots  []connEntry
	out    []uint64
	region uint32
	// sizes mirrors each shard's n. Written under the shard lock on a
	// resize and read without it, so a batch can compute where an entry
	// lives without touching the shard's contended cache line; a stale
	// size only makes a prefetch hint miss.
	sizes []atomic.Uint32
	// scratch holds a shard's entries while resize rehashes them.
	scratchMu sync.Mutex
	scratch   []connEntry
}

// homeEntry is where the search for a client packet of shard i with hash h
// starts, and homeOut the same for a reply's outbound index slot, by the
// shard's size as last published. They are prefetch hints: read without
// the lock, the size may be stale, but the address is always inside the
// shard's region.
func (t *connTable) homeEntry(i int, h uint64) *connEntry {
	return &t.slots[uint32(i)*t.region+connHome(h, t.sizes[i].Load())]
}

func (t *connTable) homeOut(i int, h uint64) *uint64 {
	return &t.out[uint32(i)*t.region+connHome(h, t.sizes[i].Load())]
}

// connLoadFactor is the most a shard's slot array is filled, as a fraction
// num/den. Linear probing stays short (expected probe ~2.5 on a miss) at 0.8.
const (
	connLoadNum = 4
	connLoadDen = 5
	// connShardSlack lets a shard hold a few percent more than its even share,
	// so random imbalance between shards does not refuse entries before the
	// table as a whole reaches MaxConns.
	connShardSlackPct = 6
	// connShardSlackSigmas is the least slack in standard deviations of a
	// shard's share; with 64 shards, 5 sigma leaves about one table in
	// 50,000 unable to reach MaxConns.
	connShardSlackSigmas = 5
	// connMinSlots is the fewest active slots a shard shrinks to (or
	// starts with, when its region is larger): 64 shards of 64 slots are
	// 160 KB.
	connMinSlots = 64
)

func newConnTable(maxConns, shards int) *connTable {
	t := &connTable{hash: newConnHasher(), shards: make([]connShard, shards), limit: int64(maxConns)}
	per := (maxConns + shards - 1) / shards
	// The slack must also cover the random spread of entries over shards
	// (binomial, standard deviation about sqrt(per)): 6 % alone is only
	// 2.6 sigma at 100k entries in 64 shards, where a shard then refused
	// entries at 95 % of MaxConns in about one table of four.
	lim := per + max(per*connShardSlackPct/100, connShardSlackSigmas*int(math.Sqrt(float64(per)))) + 8
	region := lim*connLoadDen/connLoadNum + 1
	// One array for all shards, so a big table spans whole huge pages.
	slots := make([]connEntry, region*shards)
	out := make([]uint64, region*shards)
	connAdviseHuge(slots)
	connAdviseHuge(out)
	connPrefault(slots)
	connPrefault(out)
	t.slots, t.out, t.region = slots, out, uint32(region)
	t.sizes = make([]atomic.Uint32, shards)
	t.scratch = make([]connEntry, 0, region)
	n := min(region, connMinSlots)
	for i := range t.shards {
		s := &t.shards[i]
		base := i * region
		s.slots = slots[base : base+n : base+n]
		s.out = out[base : base+n : base+n]
		s.n = uint32(n)
		s.limit = uint32(lim)
		s.idx = uint32(i)
		t.sizes[i].Store(uint32(n))
	}
	return t
}

// shardAt picks a shard from the high bits of a shard hash; the low bits
// of a folded multiply are weaker.
func (t *connTable) shardAt(client uint32, cport uint16, proto balancer.Protocol) *connShard {
	return &t.shards[t.shardIndex(client, cport, proto)]
}

func (t *connTable) shardIndex(client uint32, cport uint16, proto balancer.Protocol) int {
	return int((t.hash.shard(client, cport, proto) >> 32) * uint64(len(t.shards)) >> 32)
}

func (t *connTable) shardOf(client [4]byte, cport uint16, proto balancer.Protocol) *connShard {
	return t.shardAt(connBE32(client), cport, proto)
}

// reserve takes one unit of the global capacity.
func (t *connTable) reserve() bool {
	if t.count.Add(1) > t.limit {
		t.count.Add(-1)
		return false
	}
	return true
}

func (t *connTable) release(n int) { t.count.Add(-int64(n)) }

// connSlotBytes is the memory the table holds per slot (entry + out index).
const connSlotBytes = 32 + 8
