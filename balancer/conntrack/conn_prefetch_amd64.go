//go:build !purego

package conntrack

import "unsafe"

// prefetch asks the CPU to start loading the cache line holding p
// (PREFETCHT0). It is only a hint: it never faults and it retires without
// waiting for the line, so a batch can have many misses in flight at once.
// Go has no prefetch intrinsic outside the runtime, hence the
// one-instruction assembly function.
//
//go:noescape
func prefetch(p unsafe.Pointer)
