package balancer

import (
	"math/bits"
	"net/netip"
)

// Hash helpers shared by the hashing schedulers (sh, dh, mh, lblc, lblcr).
// They reproduce the kernel's arithmetic bit for bit, so that a ulvs director
// and an IPVS director with the same configuration pick the same real server.

// ipvsGoldenRatio32 is the kernel's GOLDEN_RATIO_32 (include/linux/hash.h).
const ipvsGoldenRatio32 = 0x61C88647

// ipvsHash32 is the kernel's hash_32(val, bits): multiply by the golden
// ratio and keep the top bits. bits must be in 1..32.
func ipvsHash32(val uint32, bits uint) uint32 {
	return (val * ipvsGoldenRatio32) >> (32 - bits)
}

// foldAddr is IPVS's addr_fold in host byte order: an IPv4 address as a
// big-endian integer, an IPv6 address as the XOR of its four 32-bit words.
// IPv4-mapped IPv6 addresses fold as IPv4, which is what a packet carrying
// the same client over IPv4 would hash to.
func foldAddr(a netip.Addr) uint32 {
	b := a.As16()
	if a.Is4() || a.Is4In6() {
		return foldBE32(b[12:16])
	}
	return foldBE32(b[0:4]) ^ foldBE32(b[4:8]) ^ foldBE32(b[8:12]) ^ foldBE32(b[12:16])
}

func foldBE32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// hashSourcePort is the source port IPVS mixes into sh and mh hashes with
// sh-port/mh-port: the transport source port for TCP, UDP and SCTP, zero for
// anything else (ip_vs_sh_get_port, ip_vs_mh_get_port).
func hashSourcePort(f *Flow) uint32 {
	switch f.Proto {
	case TCP, UDP, SCTP:
		return uint32(f.SrcPort)
	}
	return 0
}

// hsipKey is a kernel hsiphash_key_t on a 64-bit kernel: two 64-bit words.
type hsipKey struct{ k0, k1 uint64 }

// The SipHash initialisation constants ("somepseudorandomlygeneratedbytes").
const (
	sipConst0 = 0x736f6d6570736575
	sipConst1 = 0x646f72616e646f6d
	sipConst2 = 0x6c7967656e657261
	sipConst3 = 0x7465646279746573
)

// sipRound is one SipRound (Aumasson and Bernstein, "SipHash: a fast
// short-input PRF", 2012).
func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// hsipHash32 is the kernel's hsiphash(&v, 4, key) on a 64-bit kernel, where
// hsiphash is SipHash-1-3 truncated to 32 bits (lib/siphash.c). The four
// message bytes are v in little-endian order, which is how an x86 or arm64
// kernel lays out the unsigned int it hashes. 32-bit kernels use
// HalfSipHash-1-3 instead and so build different mh tables; ulvs follows the
// 64-bit kernels that directors run today.
func hsipHash32(key hsipKey, v uint32) uint32 {
	v0 := sipConst0 ^ key.k0
	v1 := sipConst1 ^ key.k1
	v2 := sipConst2 ^ key.k0
	v3 := sipConst3 ^ key.k1
	b := uint64(4)<<56 | uint64(v)
	v3 ^= b
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= b
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return uint32(v0 ^ v1 ^ v2 ^ v3)
}

// hashUsable reports whether r may take a new connection: IPVS's
// is_unavailable negated (weight above zero and no overload flag).
func hashUsable(r *RealServer) bool {
	return r.Weight > 0 && !r.Stats.Overloaded()
}
