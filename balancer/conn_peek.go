//go:build !race

package balancer

// connPeekOK says whether peekOut may read the outbound index without the
// shard lock. It is off under the race detector, which would rightly see
// the unlocked read as a race.
const connPeekOK = true

// peekOut reads, without the shard lock, the home slot of outbound hash h
// and returns the entry position it points at when its hash tag matches.
// The answer is only a prefetch hint: a concurrent writer may make it
// stale, but an aligned 64-bit read is never torn on the 64-bit targets
// and any value ever stored there names a slot inside the shard (checked
// anyway), so acting on it is harmless.
func (s *connShard) peekOut(h uint64) (uint32, bool) {
	v := s.out[connHome(h, s.n)]
	if v == 0 || v&^0xffffffff != h&^0xffffffff {
		return 0, false
	}
	p := connOutSlotPos(v)
	return p, p < s.n
}
