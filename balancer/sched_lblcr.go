package balancer

import "time"

func init() {
	registerScheduler("lblcr", func(svc *Service) (Scheduler, error) { return newLBLCR(svc, localityMonotonicClock()), nil })
}

// lblcr is IPVS's locality-based least-connection with replication scheduler
// (ip_vs_lblcr.c): each destination address maps to a set of servers. A new
// connection goes to the set's weighted least-connection member; when that
// member is overloaded the service-wide least-connection server joins the
// set, and a set unchanged for the expiration sheds its most loaded member.
type lblcr struct {
	reals []*RealServer
	cache *localityCache
}

var _ Scheduler = (*lblcr)(nil)

func newLBLCR(svc *Service, now func() time.Duration) *lblcr {
	return &lblcr{reals: svc.Reals, cache: newLocalityCache(now)}
}

// Schedule returns a server for the flow's destination, or nil if none is
// usable.
func (l *lblcr) Schedule(f *Flow) *RealServer {
	key := f.Dst.As16()
	now := l.cache.now()
	s := l.cache.shard(foldAddr(f.Dst), now)
	defer s.mu.Unlock()
	e := s.lookup(key)
	if e == nil {
		i := localityLeastLoaded(l.reals)
		if i < 0 {
			return nil
		}
		if e = s.add(key, l.cache.hardPerShard, now); e != nil {
			e.set = append(e.set, i)
		}
		return l.reals[i]
	}
	e.lastUse = now
	least := l.setMin(e.set)
	if len(e.set) > 1 && now-e.lastMod > l.cache.expiration {
		if m := l.setMax(e.set); m >= 0 {
			e.set = lblcrRemove(e.set, m)
			e.lastMod = now
		}
	}
	if least >= 0 && !localityOverloaded(l.reals[least], l.reals) {
		return l.reals[least]
	}
	i := localityLeastLoaded(l.reals)
	if i < 0 {
		return nil
	}
	if !lblcrContains(e.set, i) {
		e.set = append(e.set, i)
		e.lastMod = now
	}
	return l.reals[i]
}

// setMin is ip_vs_dest_set_min: the usable member with the least
// overhead/weight. IPVS walks the set newest first, so ties go to the newest.
func (l *lblcr) setMin(set []int32) int32 {
	least := int32(-1)
	var loh int64
	for k := len(set) - 1; k >= 0; k-- {
		r := l.reals[set[k]]
		if !hashUsable(r) {
			continue
		}
		doh := r.Stats.Overhead()
		if least < 0 || loh*int64(r.Weight) > doh*int64(l.reals[least].Weight) {
			least, loh = set[k], doh
		}
	}
	return least
}

// setMax is ip_vs_dest_set_max: the member of positive weight with the most
// overhead/weight, newest first, ties to the newest.
func (l *lblcr) setMax(set []int32) int32 {
	most := int32(-1)
	var moh int64
	for k := len(set) - 1; k >= 0; k-- {
		r := l.reals[set[k]]
		if r.Weight == 0 {
			continue
		}
		doh := r.Stats.Overhead()
		if most < 0 || moh*int64(r.Weight) < doh*int64(l.reals[most].Weight) {
			most, moh = set[k], doh
		}
	}
	return most
}

func lblcrContains(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// lblcrRemove deletes the first v from s in place, keeping the order.
func lblcrRemove(s []int32, v int32) []int32 {
	for k, x := range s {
		if x == v {
			copy(s[k:], s[k+1:])
			return s[:len(s)-1]
		}
	}
	return s
}
