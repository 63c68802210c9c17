package header

import (
	"encoding/binary"
	"math/bits"
)

// Checksum returns the 16-bit one's complement sum (RFC 1071) of b, added to
// initial, folded to 16 bits but not complemented. An odd trailing byte is
// padded with a zero byte, as RFC 1071 requires. The checksum field of a
// header is ^Checksum(header with a zero field, 0); a header whose stored
// checksum is correct sums to 0xFFFF.
//
// The sum is taken 64 bits at a time: one's complement addition is
// associative and byte-order independent (RFC 1071 section 2), so adding
// big-endian 64-bit words with end-around carry and folding gives the same
// result as adding 16-bit words.
func Checksum(b []byte, initial uint16) uint16 {
	sum := uint64(initial)
	var carry uint64
	for len(b) >= 32 {
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[0:8]), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[8:16]), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[16:24]), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[24:32]), carry)
		b = b[32:]
	}
	for len(b) >= 8 {
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b), carry)
		b = b[8:]
	}
	sum, carry = bits.Add64(sum, 0, carry)
	sum += carry // sum was all ones minus at most one: cannot carry again
	if len(b) >= 4 {
		sum, carry = bits.Add64(sum, uint64(binary.BigEndian.Uint32(b)), 0)
		sum += carry
		b = b[4:]
	}
	if len(b) >= 2 {
		sum, carry = bits.Add64(sum, uint64(binary.BigEndian.Uint16(b)), 0)
		sum += carry
		b = b[2:]
	}
	if len(b) == 1 {
		sum, carry = bits.Add64(sum, uint64(b[0])<<8, 0)
		sum += carry
	}
	return fold64(sum)
}

// fold64 folds a 64-bit one's complement sum to 16 bits.
func fold64(s uint64) uint16 {
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return uint16(s)
}

// ChecksumCombine returns the one's complement sum of a and b.
func ChecksumCombine(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s) + uint16(s>>16)
}

// PseudoHeaderChecksum returns the one's complement sum (not complemented)
// of the IPv4 pseudo-header that TCP and UDP checksums cover: source and
// destination address, zero, protocol and the L4 length (RFC 9293 section
// 3.1, RFC 768).
func PseudoHeaderChecksum(proto uint8, src, dst [4]byte, l4Len uint16) uint16 {
	s := uint32(src[0])<<8 | uint32(src[1])
	s += uint32(src[2])<<8 | uint32(src[3])
	s += uint32(dst[0])<<8 | uint32(dst[1])
	s += uint32(dst[2])<<8 | uint32(dst[3])
	s += uint32(proto) + uint32(l4Len)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return uint16(s)
}

// checksumUpdate16 returns the stored checksum field hc updated for one
// 16-bit word of the covered data changing from old to new.
//
// RFC 1624 section 3, eqn. 3: HC' = ~(~HC + ~m + m'), in one's complement
// arithmetic (RFC 1071 section 2: the sum is commutative, so only the
// changed word matters). Eqn. 3 rather than RFC 1141's HC' = HC + m - m'
// because it never turns a correct checksum into -0 (0xFFFF) where a full
// recomputation would give +0: both lie in [0x0000, 0xFFFE] and agree.
func checksumUpdate16(hc, old, new uint16) uint16 {
	s := uint32(^hc) + uint32(^old) + uint32(new)
	s = (s & 0xffff) + (s >> 16)
	s = (s & 0xffff) + (s >> 16)
	return ^uint16(s)
}

// checksumUpdate32 is checksumUpdate16 for a 4-byte field (an IPv4
// address), which is two 16-bit words of the covered data.
func checksumUpdate32(hc uint16, old, new [4]byte) uint16 {
	s := uint32(^hc)
	s += uint32(^(uint16(old[0])<<8 | uint16(old[1])))
	s += uint32(^(uint16(old[2])<<8 | uint16(old[3])))
	s += uint32(uint16(new[0])<<8 | uint16(new[1]))
	s += uint32(uint16(new[2])<<8 | uint16(new[3]))
	s = (s & 0xffff) + (s >> 16)
	s = (s & 0xffff) + (s >> 16)
	return ^uint16(s)
}

// ChecksumUpdate16 returns checksum field hc updated for one 16-bit word of
// the covered data changing from old to new (RFC 1624 eqn. 3; see
// checksumUpdate16). The word must sit at an even offset from the start of
// the covered data.
func ChecksumUpdate16(hc, old, new uint16) uint16 { return checksumUpdate16(hc, old, new) }

// ChecksumUpdateAddress returns checksum field hc updated for an IPv4
// address in the covered data (or the pseudo-header) changing from old to
// new.
func ChecksumUpdateAddress(hc uint16, old, new [4]byte) uint16 {
	return checksumUpdate32(hc, old, new)
}

// ChecksumDelta is an unfolded one's complement sum of changes to covered
// data, built with AddWord and AddAddress and applied to any number of
// checksum fields with Apply. A NAT rewrite builds the address change once
// and applies it to both the IPv4 header and the TCP/UDP pseudo-header,
// folding once per field: RFC 1624 eqn. 3, HC' = ~(~HC + sum(~m + m')).
// Up to 16384 words fit without overflow; a rewrite uses a handful.
type ChecksumDelta uint32

// AddWord adds one 16-bit word changing from old to new.
func (d ChecksumDelta) AddWord(old, new uint16) ChecksumDelta {
	return d + ChecksumDelta(^old) + ChecksumDelta(new)
}

// AddAddress adds an IPv4 address (two words) changing from old to new.
func (d ChecksumDelta) AddAddress(old, new [4]byte) ChecksumDelta {
	d += ChecksumDelta(^(uint16(old[0])<<8 | uint16(old[1])))
	d += ChecksumDelta(^(uint16(old[2])<<8 | uint16(old[3])))
	d += ChecksumDelta(uint16(new[0])<<8 | uint16(new[1]))
	return d + ChecksumDelta(uint16(new[2])<<8|uint16(new[3]))
}

// Apply returns checksum field hc updated for the changes in d.
func (d ChecksumDelta) Apply(hc uint16) uint16 {
	s := uint32(^hc) + uint32(d)
	s = (s & 0xffff) + (s >> 16)
	s = (s & 0xffff) + (s >> 16)
	return ^uint16(s)
}
