package conntrack

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// connAdviseHuge asks the kernel to back the 2 MB-aligned part of a table
// array with transparent huge pages (MADV_HUGEPAGE; it has no effect where
// THP is "never"). A random lookup in a table of tens of megabytes
// otherwise misses the TLB as well as the cache on every packet. Failure
// only costs speed, so it is ignored.
func connAdviseHuge[T any](s []T) {
	if len(s) == 0 {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), uintptr(len(s))*unsafe.Sizeof(s[0]))
	if lo, hi, ok := connHugeRange(uintptr(unsafe.Pointer(&b[0])), uintptr(len(b))); ok {
		_ = unix.Madvise(b[lo:hi], unix.MADV_HUGEPAGE)
	}
}
