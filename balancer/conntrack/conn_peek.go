//go:build !race

package conntrack

// connPeekOK says whether peekOut may read the outbound index without the
// shard lock. It is off under the race detector, which would rightly see
// the unlocked read as a race.
const connPeekOK = true

// peekOut reads, without the shard lock, the outbound index slot at home
// (shard i's home slot for outbound hash h) and returns the entry it points
// at when its hash tag matches. The answer is only a prefetch hint: a
// concurrent writer may make it stale, but an aligned 64-bit read is never
// torn on the 64-bit targets and any value ever stored there names a slot
// inside the shard's region (checked anyway), so acting on it is harmless.
func (t *connTable) peekOut(i int, h uint64, home *uint64) (*connEntry, bool) {
	v := *home
	if v == 0 || v&^0xffffffff != h&^0xffffffff {
		return nil, false
	}
	p := connOutSlotPos(v)
	if p >= t.region {
		return nil, false
	}
	return &t.slots[uint32(i)*t.region+p], true
}
