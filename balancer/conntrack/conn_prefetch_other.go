//go:build !amd64 || purego

package conntrack

import "unsafe"

// prefetch is the portable fallback of the PREFETCHT0 helper: an ordinary
// one-byte load. It still overlaps misses as far as the CPU's out-of-order
// window allows, but unlike a real prefetch it holds up retirement until
// the line arrives. p must point into live memory.
func prefetch(p unsafe.Pointer) { prefetchLoad(p) }

// prefetchLoad is not inlined so the compiler cannot drop the unused load.
//
//go:noinline
func prefetchLoad(p unsafe.Pointer) uint8 { return *(*uint8)(p) }
