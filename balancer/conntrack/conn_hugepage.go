package conntrack

import "unsafe"

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

// connPrefault touches every 4 KiB page of a freshly allocated table array
// once, at New, so that the kernel backs it with memory now. Left
// untouched, the first connections into each page would take a page fault
// (or a 2 MB huge page's zeroing) on the packet path: measured as 5 % of a
// freshly started director's samples while its first 10k flows arrived.
func connPrefault[T any](s []T) {
	if len(s) == 0 {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), uintptr(len(s))*unsafe.Sizeof(s[0]))
	for i := 0; i < len(b); i += 4096 {
		b[i] = 0
	}
}
