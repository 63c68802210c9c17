package balancer

import (
	"sync"
	"time"
)

// IPVS's locality cache constants (ip_vs_lblc.c, ip_vs_lblcr.c).
const (
	// localityExpiration is the lblc_expiration and lblcr_expiration sysctl
	// default: an entry unused this long is collected, and an lblcr server
	// set unchanged this long sheds its most loaded member.
	localityExpiration = 24 * time.Hour
	// localityEntryTimeout is ENTRY_TIMEOUT: once the cache holds more than
	// its nominal size, entries unused this long are collected.
	localityEntryTimeout = 6 * time.Minute
	// localityMaxSize is the nominal cache size, IP_VS_LBLC_TAB_SIZE*16.
	localityMaxSize = 1 << 10 * 16
	// localityHardLimit bounds memory: past it, new destinations are
	// scheduled but not cached, as IPVS does when an entry cannot be
	// allocated.
	localityHardLimit = 4 * localityMaxSize
	// The cache is split in localityShards shards so that workers
	// scheduling new connections for different destinations rarely share
	// a lock.
	localityShardBits = 4
	localityShards    = 1 << localityShardBits
	// localitySweep is how many cache slots each Schedule call examines
	// for expiry: IPVS's periodic timer walk, spread over calls so that no
	// call does unbounded work.
	localitySweep = 4
)

func init() {
	registerScheduler("lblc", func(svc *Service) (Scheduler, error) { return newLBLC(svc, localityMonotonicClock()), nil })
}

// localityMonotonicClock returns a clock reading monotonic time since its creation.
func localityMonotonicClock() func() time.Duration {
	start := time.Now()
	return func() time.Duration { return time.Since(start) }
}

// localityEntry caches the server(s) of one destination address.
type localityEntry struct {
	addr    [16]byte
	lastUse time.Duration
	real    int32   // lblc: index in Service.Reals
	set     []int32 // lblcr: indexes in Service.Reals, oldest first
	lastMod time.Duration
	inUse   bool
}

// localityShard is one lock's worth of the cache: a map from destination to
// a slot of a slab of entries, reused through a free list so that a warm
// cache does not allocate.
type localityShard struct {
	mu      sync.Mutex
	index   map[[16]byte]int32
	entries []localityEntry
	free    []int32
	rover   int
	_       [64]byte // keep neighbouring shards' locks off one cache line
}

// localityCache is the per-service destination cache of lblc and lblcr.
type localityCache struct {
	shards       [localityShards]localityShard
	now          func() time.Duration
	expiration   time.Duration
	entryTimeout time.Duration
	maxPerShard  int
	hardPerShard int
}

func newLocalityCache(now func() time.Duration) *localityCache {
	c := &localityCache{
		now:          now,
		expiration:   localityExpiration,
		entryTimeout: localityEntryTimeout,
		maxPerShard:  localityMaxSize / localityShards,
		hardPerShard: localityHardLimit / localityShards,
	}
	for i := range c.shards {
		c.shards[i].index = make(map[[16]byte]int32)
	}
	return c
}

// shard locks and returns the shard of a destination, after expiring a few
// entries.
func (c *localityCache) shard(fold uint32, now time.Duration) *localityShard {
	s := &c.shards[ipvsHash32(fold, localityShardBits)]
	s.mu.Lock()
	c.sweep(s, now)
	return s
}

// sweep examines the next few slab slots and frees entries unused for the
// expiration, or, while the shard is over its nominal size, for the entry
// timeout (ip_vs_lblc_full_check and ip_vs_lblc_check_expire).
func (c *localityCache) sweep(s *localityShard, now time.Duration) {
	n := len(s.entries)
	if n == 0 {
		return
	}
	for range min(localitySweep, n) {
		if s.rover >= n {
			s.rover = 0
		}
		e := &s.entries[s.rover]
		s.rover++
		if !e.inUse {
			continue
		}
		idle := now - e.lastUse
		if idle >= c.expiration || (len(s.index) > c.maxPerShard && idle >= c.entryTimeout) {
			s.remove(e)
		}
	}
}

func (s *localityShard) lookup(key [16]byte) *localityEntry {
	i, ok := s.index[key]
	if !ok {
		return nil
	}
	return &s.entries[i]
}

// add returns a fresh entry for key, or nil when the shard is at its hard
// limit; the caller then schedules without caching.
func (s *localityShard) add(key [16]byte, hard int, now time.Duration) *localityEntry {
	var i int32
	switch {
	case len(s.free) > 0:
		i = s.free[len(s.free)-1]
		s.free = s.free[:len(s.free)-1]
	case len(s.entries) < hard:
		s.entries = append(s.entries, localityEntry{})
		i = int32(len(s.entries) - 1)
	default:
		return nil
	}
	e := &s.entries[i]
	e.addr, e.lastUse, e.lastMod, e.inUse = key, now, now, true
	e.set = e.set[:0]
	s.index[key] = i
	return e
}

func (s *localityShard) remove(e *localityEntry) {
	i := s.index[e.addr]
	delete(s.index, e.addr)
	e.inUse = false
	s.free = append(s.free, i)
}

// len returns the number of cached destinations, for tests.
func (c *localityCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.index)
		s.mu.Unlock()
	}
	return n
}

// localityLeastLoaded is __ip_vs_lblc_schedule: the usable server with the
// least overhead/weight, compared as loh*w > doh*wl in 64 bits, ties to the
// earlier server. It returns -1 when no server is usable.
func localityLeastLoaded(reals []*RealServer) int32 {
	least := int32(-1)
	var loh int64
	for i, r := range reals {
		if !hashUsable(r) {
			continue
		}
		doh := r.Stats.Overhead()
		if least < 0 || loh*int64(r.Weight) > doh*int64(reals[least].Weight) {
			least, loh = int32(i), doh
		}
	}
	return least
}

// localityOverloaded is IPVS's lblc/lblcr is_overloaded: r has more active
// connections than its weight while some server is below half of its own.
func localityOverloaded(r *RealServer, reals []*RealServer) bool {
	if int64(r.Stats.ActiveConns()) <= int64(r.Weight) {
		return false
	}
	for _, d := range reals {
		if int64(d.Stats.ActiveConns())*2 < int64(d.Weight) {
			return true
		}
	}
	return false
}

// lblc is IPVS's locality-based least-connection scheduler (ip_vs_lblc.c):
// each destination address keeps the server it was last given until that
// server is unusable or overloaded, then gets the weighted least-connection
// server. Built for web cache clusters.
type lblc struct {
	reals []*RealServer
	cache *localityCache
}

var _ Scheduler = (*lblc)(nil)

func newLBLC(svc *Service, now func() time.Duration) *lblc {
	return &lblc{reals: svc.Reals, cache: newLocalityCache(now)}
}

// Schedule returns the destination's cached server if still good, else the
// weighted least-connection server, which it caches; nil if none is usable.
//
// IPVS keeps a cached server that carries the overload flag (-x threshold)
// as long as its active connections stay within its weight; ulvs treats the
// flag as unusable here, as every other scheduler does.
func (l *lblc) Schedule(f *Flow) *RealServer {
	key := f.Dst.As16()
	now := l.cache.now()
	s := l.cache.shard(foldAddr(f.Dst), now)
	defer s.mu.Unlock()
	e := s.lookup(key)
	if e != nil {
		e.lastUse = now
		r := l.reals[e.real]
		if hashUsable(r) && !localityOverloaded(r, l.reals) {
			return r
		}
	}
	i := localityLeastLoaded(l.reals)
	if i < 0 {
		return nil
	}
	// ip_vs_lblc_new: an entry pointing elsewhere is replaced by one used
	// now, which the lookup above already stamped.
	if e == nil {
		e = s.add(key, l.cache.hardPerShard, now)
	}
	if e != nil {
		e.real = i
	}
	return l.reals[i]
}
