package balancer

import (
	"sync"
	"sync/atomic"
)

func init() {
	registerScheduler("lc", treeScheduler(modeLC))
	registerScheduler("wlc", treeScheduler(modeWLC))
	registerScheduler("sed", treeScheduler(modeSED))
	registerScheduler("nq", treeScheduler(modeNQ))
}

// treeMode is the rule of a tree scheduler: which servers are candidates and
// which of two candidates IPVS's linear loop would keep.
type treeMode uint8

const (
	// modeLC is ip_vs_lc.c: least overhead (active*256 + inactive), weight
	// ignored except that 0 quiesces.
	modeLC treeMode = iota
	// modeWLC is ip_vs_wlc.c: least overhead/weight, compared as
	// loh*w_dest > doh*w_least in 64 bits.
	modeWLC
	// modeSED is ip_vs_sed.c: least (active+1)/weight.
	modeSED
	// modeNQ is ip_vs_nq.c: the first server with no active connection,
	// else SED.
	modeNQ
	// modeFO is ip_vs_fo.c: the highest weight.
	modeFO
	// modeOVF is ip_vs_ovf.c: the highest weight among servers whose active
	// connections do not exceed their weight.
	modeOVF
)

// treeScheduler returns the constructor of a scheduler of the given mode.
func treeScheduler(mode treeMode) func(*Service) (Scheduler, error) {
	return func(svc *Service) (Scheduler, error) { return newPickTree(mode, svc.Reals), nil }
}

// treeGen orders trees by creation, so that the newest snapshot's tree wins
// the servers' change notifications.
var treeGen atomic.Uint64

// pickTree is a scheduler for the IPVS rules that pick the best server under
// a total order: lc, wlc, sed, nq, fo and ovf. The kernel scans every
// destination per new connection; with 1,000 real servers that is 1,000
// comparisons. Here a tournament tree over the servers in list order holds
// in each node the better of its two children's winners, so the root is the
// server the linear scan would return (ties go to the lower index, the
// kernel's "first in list order"). Schedule reads the root: O(1). Every
// counter change (Bind, Unbind, Move) replays the one leaf-to-root path:
// O(log n) under a per-tree mutex.
//
// Concurrency: the root may lag a counter change by the time that change's
// own update takes, so two simultaneous new connections can both get the
// server the linear scan would have picked a moment earlier, exactly as two
// CPUs racing through the kernel's loop can. Schedule re-checks the root's
// availability (weight, overload flag, ovf's limit) against the live
// counters and falls back to the linear scan when it fails, so it never
// returns a server that is unavailable at that instant.
//
// Ownership: the servers' RealStats report changes to one tree at a time.
// The first Schedule on a tree claims its servers; a newer tree (a later
// snapshot) then takes them over and marks this one obsolete, after which
// this one schedules with the linear scan until its snapshot is dropped.
type pickTree struct {
	mode  treeMode
	reals []*RealServer
	size  int            // number of leaves, a power of two >= len(reals)
	node  []atomic.Int32 // heap order: node[1] is the root, leaves at [size, 2*size); -1 is "none"
	links []treeLink
	keys  []leafKey // per server, as of its last update; guarded by mu
	gen   uint64
	// useTree is false for services too small to gain from the tree: they
	// scan, and their servers report no changes.
	useTree bool

	mu       sync.Mutex // serialises node updates; readers never take it
	claimed  atomic.Bool
	obsolete atomic.Bool
}

// treeLink is what a RealStats points at: a tree and the server's leaf.
type treeLink struct {
	tree *pickTree
	leaf int32
}

func newPickTree(mode treeMode, reals []*RealServer) *pickTree {
	size := 1
	for size < len(reals) {
		size <<= 1
	}
	t := &pickTree{
		mode:  mode,
		reals: reals,
		size:  size,
		node:  make([]atomic.Int32, 2*size),
		links: make([]treeLink, len(reals)),
		keys:  make([]leafKey, len(reals)),
		gen:   treeGen.Add(1),

		useTree: len(reals) >= treeMinReals,
	}
	for i := range t.links {
		t.links[i] = treeLink{tree: t, leaf: int32(i)}
	}
	if t.useTree {
		t.rebuild()
	}
	return t
}

// treeMinReals is the service size from which a tree beats the scan: below
// it, a scan of a few cache lines costs less than keeping the tree up to
// date on every Bind and Unbind (see BenchmarkSchedule).
var treeMinReals = 16

// leafKey is what the linear scan reads of one server, captured at once.
type leafKey struct {
	oh, active, weight int64
	ok                 bool // a candidate at all
}

// key reads server i's live state.
func (t *pickTree) key(i int32) leafKey {
	r := t.reals[i]
	st := r.Stats
	k := leafKey{active: int64(st.active.Load()), weight: int64(r.Weight)}
	k.oh = k.active<<8 + int64(st.inactive.Load())
	k.ok = k.weight > 0 && !st.overloaded.Load() && (t.mode != modeOVF || k.active <= k.weight)
	return k
}

// candidate reports whether the linear scan would consider reals[i] now.
func (t *pickTree) candidate(i int32) bool { return t.key(i).ok }

// bBetter reports whether the linear scan, holding a (earlier in the list),
// would switch to b. Both are candidates.
func (t *pickTree) bBetter(a, b *leafKey) bool {
	switch t.mode {
	case modeLC:
		return b.oh < a.oh
	case modeWLC:
		return a.oh*b.weight > b.oh*a.weight
	case modeNQ:
		if a.active == 0 || b.active == 0 {
			return a.active != 0
		}
		fallthrough
	case modeSED:
		return (a.active+1)*b.weight > (b.active+1)*a.weight
	default: // modeFO, modeOVF
		return b.weight > a.weight
	}
}

// better returns whichever of the tree's leaves a and b (a < b in list
// order, -1 for none) the linear scan keeps, by their cached keys.
func (t *pickTree) better(a, b int32) int32 {
	if a < 0 {
		return b
	}
	if b < 0 || !t.bBetter(&t.keys[a], &t.keys[b]) {
		return a
	}
	return b
}

// leafValue refreshes leaf i's cached key and returns the leaf's content:
// its index when it is a candidate.
func (t *pickTree) leafValue(i int32) int32 {
	if int(i) >= len(t.reals) {
		return -1
	}
	t.keys[i] = t.key(i)
	if t.keys[i].ok {
		return i
	}
	return -1
}

// rebuild recomputes every node from the live counters.
func (t *pickTree) rebuild() {
	for i := 0; i < t.size; i++ {
		t.node[t.size+i].Store(t.leafValue(int32(i)))
	}
	for p := t.size - 1; p >= 1; p-- {
		t.node[p].Store(t.better(t.node[2*p].Load(), t.node[2*p+1].Load()))
	}
}

// fix replays leaf i's path to the root after its counters changed.
func (t *pickTree) fix(i int) {
	t.mu.Lock()
	p := t.size + i
	t.node[p].Store(t.leafValue(int32(i)))
	for p > 1 {
		p >>= 1
		t.node[p].Store(t.better(t.node[2*p].Load(), t.node[2*p+1].Load()))
	}
	t.mu.Unlock()
}

// claim makes the servers report their changes to t, unless a newer tree
// already has them, and rebuilds t from the counters as they are now.
func (t *pickTree) claim() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.claimed.Load() {
		return
	}
	for i, r := range t.reals {
		for {
			old := r.Stats.link.Load()
			if old != nil && old.tree.gen > t.gen {
				// A later snapshot already schedules with these servers.
				t.obsolete.Store(true)
				t.claimed.Store(true)
				return
			}
			if r.Stats.link.CompareAndSwap(old, &t.links[i]) {
				if old != nil && old.tree != t {
					old.tree.obsolete.Store(true)
				}
				break
			}
		}
	}
	// A change that raced with the loop above went either to the old tree
	// (and is visible in the counters read now) or to t, which waits for mu.
	t.rebuild()
	t.claimed.Store(true)
}

// Schedule returns the server IPVS's linear scan would pick.
func (t *pickTree) Schedule(*Flow) *RealServer {
	if !t.useTree {
		return t.linear()
	}
	if !t.claimed.Load() {
		t.claim()
	}
	if !t.obsolete.Load() {
		if i := t.node[1].Load(); i >= 0 && t.candidate(i) {
			return t.reals[i]
		} else if i < 0 {
			return nil
		}
	}
	return t.linear()
}

// Peek is Schedule: these schedulers keep no state of their own.
func (t *pickTree) Peek(f *Flow) *RealServer { return t.Schedule(f) }

// linear is the kernel's scan, used when the tree cannot be trusted.
func (t *pickTree) linear() *RealServer {
	best := int32(-1)
	var bk leafKey
	for i := range t.reals {
		k := t.key(int32(i))
		if !k.ok {
			continue
		}
		if best < 0 || t.bBetter(&bk, &k) {
			best, bk = int32(i), k
		}
		if t.mode == modeNQ && k.active == 0 {
			break // nq takes the first idle server at once
		}
	}
	if best < 0 {
		return nil
	}
	return t.reals[best]
}
