package balancer

// connHugePage is the x86-64 and arm64 (4 KB granule) huge page size.
const connHugePage = 2 << 20

// connHugeRange returns the offsets [lo, hi) of the whole huge pages inside
// size bytes starting at address start, and false when there is none.
func connHugeRange(start, size uintptr) (lo, hi uintptr, ok bool) {
	first := (start + connHugePage - 1) &^ (connHugePage - 1)
	end := (start + size) &^ (connHugePage - 1)
	if end <= first {
		return 0, 0, false
	}
	return first - start, end - start, true
}
