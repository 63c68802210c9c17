package balancer

// shTabBits is IPVS's IP_VS_SH_TAB_BITS (CONFIG_IP_VS_SH_TAB_BITS default 8):
// the sh table has 256 buckets. dh uses the same size.
const (
	shTabBits = 8
	shTabSize = 1 << shTabBits
	shTabMask = shTabSize - 1
)

func init() {
	registerScheduler("sh", func(svc *Service) (Scheduler, error) { return newSourceHash(svc), nil })
}

// sourceHash is IPVS's sh scheduler (ip_vs_sh.c): a static 256-bucket table
// indexed by a hash of the client address (and port with sh-port). Any change
// to the real servers or their weights rebuilds the table and reshuffles
// clients; mh is the consistent alternative.
type sourceHash struct {
	buckets  [shTabSize]*RealServer
	port     bool // FlagSchedPort
	fallback bool // FlagSchedFallback
}

var _ Scheduler = (*sourceHash)(nil)

func newSourceHash(svc *Service) *sourceHash {
	s := &sourceHash{
		port:     svc.Flags&FlagSchedPort != 0,
		fallback: svc.Flags&FlagSchedFallback != 0,
	}
	s.buckets = shAssign(svc.Reals)
	return s
}

// shAssign fills the buckets as ip_vs_sh_reassign does: walk the servers in
// order, round robin, giving each one weight consecutive buckets. A server of
// weight 0 still takes one bucket (the kernel's d_count test is ">=" after the
// increment), and lookups that land on it find it unavailable.
func shAssign(reals []*RealServer) [shTabSize]*RealServer {
	var b [shTabSize]*RealServer
	if len(reals) == 0 {
		return b
	}
	d, count := 0, uint32(0)
	for i := range b {
		r := reals[d]
		b[i] = r
		if count++; count >= r.Weight {
			d = (d + 1) % len(reals)
			count = 0
		}
	}
	return b
}

// shHashKey is ip_vs_sh_hashkey: offset is added after hashing, as the kernel
// does, so the fallback probes walk buckets 2h, 2h+1, ... modulo 256.
func shHashKey(fold, port, offset uint32) uint32 {
	return (offset + ipvsHash32(port+fold, shTabBits)) & shTabMask
}

// Schedule returns the server of the client's bucket, or with sh-fallback
// the first usable server found by rehashing with offsets, or nil.
func (s *sourceHash) Schedule(f *Flow) *RealServer {
	fold := foldAddr(f.Src)
	var port uint32
	if s.port {
		port = hashSourcePort(f)
	}
	h := shHashKey(fold, port, 0)
	r := s.buckets[h]
	if r == nil {
		return nil
	}
	if hashUsable(r) {
		return r
	}
	if !s.fallback {
		return nil
	}
	// ip_vs_sh_get_fallback: at most 256 probes, deterministic per client.
	for off := uint32(0); off < shTabSize; off++ {
		r = s.buckets[shHashKey(fold, port, (off+h)%shTabSize)]
		if hashUsable(r) {
			return r
		}
	}
	return nil
}
