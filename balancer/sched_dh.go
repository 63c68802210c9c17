package balancer

func init() {
	registerScheduler("dh", func(svc *Service) (Scheduler, error) { return newDestinationHash(svc), nil })
}

// destinationHash is IPVS's dh scheduler (ip_vs_dh.c): a static 256-bucket
// table indexed by a hash of the packet's destination address, meant for
// cache clusters where the same origin should hit the same cache. Buckets go
// to the servers round robin, one each; weights only decide availability.
type destinationHash struct {
	buckets [shTabSize]*RealServer
}

var _ Scheduler = (*destinationHash)(nil)

func newDestinationHash(svc *Service) *destinationHash {
	d := &destinationHash{}
	if len(svc.Reals) == 0 {
		return d
	}
	for i := range d.buckets {
		d.buckets[i] = svc.Reals[i%len(svc.Reals)]
	}
	return d
}

// Schedule returns the server of the destination's bucket, or nil when that
// server has weight 0 or is overloaded (dh has no fallback in IPVS).
func (d *destinationHash) Schedule(f *Flow) *RealServer {
	r := d.buckets[ipvsHash32(foldAddr(f.Dst), shTabBits)]
	if r == nil || !hashUsable(r) {
		return nil
	}
	return r
}
