package balancer

import (
	"fmt"
	"math/bits"
)

// Maglev table sizes. IPVS compiles in one of ten primes (251 ... 131071,
// default 4093); ulvs accepts any prime in range, so Katran's 65537 and
// larger tables work too.
const (
	MaglevDefaultTableSize = 4093
	MaglevMaxTableSize     = 1<<24 - 3 // largest prime below 2^24; 64 MiB of lookup table
)

// mhKey1 and mhKey2 are IPVS's fixed hsiphash keys (generate_hash_secret in
// ip_vs_mh.c). Fixed keys make every director build the same table from the
// same servers, so a flow survives a director failover without state sync.
var (
	mhKey1 = hsipKey{2654435761, 2654435761}
	mhKey2 = hsipKey{2654446892, 2654446892}
)

func init() {
	registerScheduler("mh", func(svc *Service) (Scheduler, error) { return newMaglev(svc) })
}

// maglev is IPVS's mh scheduler (ip_vs_mh.c), Maglev consistent hashing
// (Eisenbud et al., NSDI'16, section 3.4) with weights expressed as turns.
type maglev struct {
	lookup   []int32 // table slot -> index in reals, -1 when there are no servers
	reals    []*RealServer
	size     uint32
	port     bool // FlagSchedPort
	fallback bool // FlagSchedFallback
}

var _ Scheduler = (*maglev)(nil)

// mhSetup is a server's permutation state while the table is populated.
type mhSetup struct {
	perm  uint32 // next preferred slot
	skip  uint32
	turns uint32 // slots taken per round
}

func newMaglev(svc *Service) (*maglev, error) {
	size := svc.MaglevTableSize
	if size == 0 {
		size = MaglevDefaultTableSize
	}
	if size < 2 || size > MaglevMaxTableSize || !mhIsPrime(uint32(size)) {
		return nil, fmt.Errorf("mh table size %d for %v: use a prime between 2 and %d (IPVS uses 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521 or 131071; Katran 65537)",
			size, svc.Key, MaglevMaxTableSize)
	}
	if len(svc.Reals) > size {
		return nil, fmt.Errorf("mh service %v has %d real servers but a table of %d slots: raise the table size to a prime above 100 times the server count",
			svc.Key, len(svc.Reals), size)
	}
	m := &maglev{
		lookup:   make([]int32, size),
		reals:    svc.Reals,
		size:     uint32(size),
		port:     svc.Flags&FlagSchedPort != 0,
		fallback: svc.Flags&FlagSchedFallback != 0,
	}
	m.populate()
	return m, nil
}

// mhHashKey is ip_vs_mh_hashkey: hsiphash over offset + port + folded
// address, a 32-bit sum that wraps as in C.
func mhHashKey(fold, port, offset uint32, key hsipKey) uint32 {
	return hsipHash32(key, offset+port+fold)
}

// mhTurns returns the turns of each weight as ip_vs_mh_permutate does:
// (weight/gcd) >> rshift, at least 1 for a positive weight, where rshift
// keeps the largest turn count within the table's "MH highest bits"
// (IP_VS_MH_TAB_BITS, half the bit length of the table size).
//
// IPVS computes turns from last_weight, the latest non-zero weight, so a
// server quiesced to weight 0 keeps its slots. A Service snapshot carries only
// the current weight; a weight-0 server here takes no slots, as one added
// with weight 0 does in IPVS.
func mhTurns(reals []*RealServer, size uint32) []mhSetup {
	setups := make([]mhSetup, len(reals))
	var g, maxW uint32
	for _, r := range reals {
		if r.Weight > 0 {
			g = mhGCD(g, r.Weight)
		}
		maxW = max(maxW, r.Weight)
	}
	if g == 0 {
		return setups
	}
	shift := bits.Len32(maxW/g) - bits.Len32(size)/2
	shift = max(shift, 0)
	for i, r := range reals {
		t := (r.Weight / g) >> shift
		if t == 0 && r.Weight != 0 {
			t = 1
		}
		fold := foldAddr(r.Addr)
		port := uint32(r.Port)
		offset := mhHashKey(fold, port, 0, mhKey1) % size
		setups[i] = mhSetup{
			perm:  offset,
			skip:  mhHashKey(fold, port, 0, mhKey2)%(size-1) + 1,
			turns: t,
		}
	}
	return setups
}

// populate fills the lookup table as ip_vs_mh_populate does: servers in
// order, each taking turns slots per round at its next free preferred slot,
// until every slot is owned.
func (m *maglev) populate() {
	for i := range m.lookup {
		m.lookup[i] = -1
	}
	setups := mhTurns(m.reals, m.size)
	active := 0
	for _, s := range setups {
		if s.turns > 0 {
			active++
		}
	}
	if active == 0 {
		return
	}
	// The occupancy test runs against a bitmap (8 KiB for 65537 slots,
	// L1-resident) rather than the 4-byte-per-slot lookup table: most of
	// the build is probing taken slots near the end.
	lookup, size := m.lookup, m.size
	taken := make([]uint64, (size+63)/64)
	filled := uint32(0)
	for {
		for i := range setups {
			s := &setups[i]
			for t := uint32(0); t < s.turns; t++ {
				c := s.perm
				for taken[c>>6]&(1<<(c&63)) != 0 {
					c += s.skip
					if c >= size {
						c -= size
					}
				}
				s.perm = c
				taken[c>>6] |= 1 << (c & 63)
				lookup[c] = int32(i)
				if filled++; filled == size {
					return
				}
			}
		}
	}
}

// Schedule returns the server owning the client's slot; with mh-fallback an
// unusable owner sends the lookup round the table with offset rehashes
// (ip_vs_mh_get_fallback), else the result is nil.
func (m *maglev) Schedule(f *Flow) *RealServer {
	fold := foldAddr(f.Src)
	var port uint32
	if m.port {
		port = hashSourcePort(f)
	}
	h := mhHashKey(fold, port, 0, mhKey1) % m.size
	idx := m.lookup[h]
	if idx < 0 {
		return nil
	}
	r := m.reals[idx]
	if hashUsable(r) {
		return r
	}
	if !m.fallback || !m.anyUsable() {
		// Without a usable server the kernel's loop below would run all
		// size rounds and return NULL; stop early with the same answer.
		return nil
	}
	for off := uint32(0); off < m.size; off++ {
		roff := (off + h) % m.size
		r = m.reals[m.lookup[mhHashKey(fold, port, roff, mhKey1)%m.size]]
		if hashUsable(r) {
			return r
		}
	}
	return nil
}

// anyUsable reports whether some server that owns slots is usable.
func (m *maglev) anyUsable() bool {
	for _, r := range m.reals {
		if hashUsable(r) {
			return true
		}
	}
	return false
}

func mhGCD(a, b uint32) uint32 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// mhIsPrime is trial division; table sizes are below 2^24, so at most ~2,000
// divisions at build time.
func mhIsPrime(n uint32) bool {
	if n < 2 {
		return false
	}
	if n%2 == 0 {
		return n == 2
	}
	for d := uint32(3); d*d <= n; d += 2 {
		if n%d == 0 {
			return false
		}
	}
	return true
}
