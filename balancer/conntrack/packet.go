package conntrack

import (
	"unsafe"
)

// packet is one packet on its way through the tracker: its TCP flags and
// the hashing done before any lock is taken (its shard, its entry's key
// and hash, the cache line to prefetch). Inbound and Outbound build one on
// the stack; the batch calls keep one per batch slot, hashed for the whole
// batch before the locked lookups. It is one cache line: a plain hit needs
// nothing else, and the paths that schedule take the packet's tuple beside
// it. (A tuple copy would take a second line per slot, and a tuple pointer
// would move Inbound's tuple to the heap: escape analysis does not tell a
// struct's pointer fields apart, and the shard pointer leaks to its
// mutex.)
type packet struct {
	sh    *connShard
	h     uint64
	in    inKey
	out   outKey
	flags TCPFlags
	kind  uint8
	shard uint16 // index of sh, for grouping (DecideBatch)
	// home is the cache line fetch loads: the home entry of a client
	// packet, the home outbound index slot of a reply. It is computed from
	// the table's flat arrays, so fetching reads nothing of the shard.
	home unsafe.Pointer
}

// packet kinds.
const (
	connSlotNone  uint8 = iota // not looked up (an untracked protocol)
	connSlotIn                 // a client packet
	connSlotReply              // a NAT reply
)

// hashIn hashes client tuple t into p; the caller sets p.flags.
func (tab *connTable) hashIn(p *packet, t *Tuple4) {
	i := tab.shardIndex(connBE32(t.Src), t.SrcPort, t.Proto)
	p.sh, p.shard = &tab.shards[i], uint16(i)
	p.in = makeInKey(t.Src, t.Dst, t.SrcPort, t.DstPort, t.Proto, kindConn)
	p.h = tab.hash.in(&p.in)
	p.kind = connSlotIn
	p.home = unsafe.Pointer(tab.homeEntry(i, p.h))
}

// hashOut hashes reply tuple t into p, as hashIn does.
func (tab *connTable) hashOut(p *packet, t *Tuple4) {
	i := tab.shardIndex(connBE32(t.Dst), t.DstPort, t.Proto)
	p.sh, p.shard = &tab.shards[i], uint16(i)
	p.out = makeOutKey(t)
	p.h = tab.hash.out(&p.out)
	p.kind = connSlotReply
	p.home = unsafe.Pointer(tab.homeOut(i, p.h))
}

// makeOutKey is the outbound key of a reply tuple (real -> client).
func makeOutKey(t *Tuple4) outKey {
	return outKey{addrs: uint64(connBE32(t.Src))<<32 | uint64(connBE32(t.Dst)), ports: uint32(t.SrcPort)<<16 | uint32(t.DstPort), proto: t.Proto}
}
