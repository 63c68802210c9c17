package header

import (
	"encoding/binary"
	"net/netip"
)

// IPv4 header (RFC 791 section 3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	ipVerIHL    = 0
	ipTOS       = 1
	ipTotalLen  = 2
	ipID        = 4
	ipFlagsFrag = 6
	ipTTL       = 8
	ipProto     = 9
	ipChecksum  = 10
	ipSrc       = 12
	ipDst       = 16

	// IPv4MinHeaderLen is the length of an IPv4 header without options.
	IPv4MinHeaderLen = 20
	// IPv4MaxHeaderLen is the longest header IHL can describe.
	IPv4MaxHeaderLen = 60
	// IPv4MinMTU is the smallest MTU every IPv4 link must carry (RFC 791).
	IPv4MinMTU = 68
)

// Bits of the flags/fragment-offset word.
const (
	IPv4FlagDF         uint16 = 0x4000 // don't fragment
	IPv4FlagMF         uint16 = 0x2000 // more fragments
	IPv4FragOffsetMask uint16 = 0x1fff // in units of 8 bytes
)

// IP protocol numbers the director handles.
const (
	ProtoICMP uint8 = 1
	ProtoIPIP uint8 = 4
	ProtoTCP  uint8 = 6
	ProtoUDP  uint8 = 17
)

// IPv4 is a view of an IPv4 header (and, when the slice is longer, what
// follows it). IsValid must hold before the other methods are used.
type IPv4 []byte

// IsValid reports whether b starts with a structurally sound IPv4 header:
// version 4, IHL of at least 5, the header and the total length within b.
// It does not check the checksum; see IsChecksumValid.
func (b IPv4) IsValid() bool {
	if len(b) < IPv4MinHeaderLen || b[ipVerIHL]>>4 != 4 {
		return false
	}
	hl := b.HeaderLength()
	tl := int(b.TotalLength())
	return hl >= IPv4MinHeaderLen && hl <= tl && tl <= len(b)
}

// Version returns the IP version field.
func (b IPv4) Version() uint8 { return b[ipVerIHL] >> 4 }

// HeaderLength returns the header length in bytes (IHL * 4).
func (b IPv4) HeaderLength() int { return int(b[ipVerIHL]&0x0f) * 4 }

// TOS returns the type-of-service (DSCP and ECN) byte.
func (b IPv4) TOS() uint8 { return b[ipTOS] }

// TotalLength returns the total length of the datagram in bytes.
func (b IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(b[ipTotalLen:]) }

// ID returns the identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[ipID:]) }

// FlagsFragment returns the flags and fragment-offset word.
func (b IPv4) FlagsFragment() uint16 { return binary.BigEndian.Uint16(b[ipFlagsFrag:]) }

// DF reports whether the don't-fragment flag is set.
func (b IPv4) DF() bool { return b.FlagsFragment()&IPv4FlagDF != 0 }

// MF reports whether the more-fragments flag is set.
func (b IPv4) MF() bool { return b.FlagsFragment()&IPv4FlagMF != 0 }

// FragmentOffset returns the fragment offset in bytes.
func (b IPv4) FragmentOffset() int { return int(b.FlagsFragment()&IPv4FragOffsetMask) * 8 }

// IsFragment reports whether the datagram is a fragment: MF set or a
// non-zero offset.
func (b IPv4) IsFragment() bool { return b.FlagsFragment()&(IPv4FlagMF|IPv4FragOffsetMask) != 0 }

// TTL returns the time-to-live.
func (b IPv4) TTL() uint8 { return b[ipTTL] }

// Protocol returns the payload's IP protocol number.
func (b IPv4) Protocol() uint8 { return b[ipProto] }

// Checksum returns the header checksum field.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[ipChecksum:]) }

// Src returns the source address.
func (b IPv4) Src() [4]byte { return [4]byte(b[ipSrc : ipSrc+4]) }

// Dst returns the destination address.
func (b IPv4) Dst() [4]byte { return [4]byte(b[ipDst : ipDst+4]) }

// SrcAddr returns the source address as a netip.Addr.
func (b IPv4) SrcAddr() netip.Addr { return netip.AddrFrom4(b.Src()) }

// DstAddr returns the destination address as a netip.Addr.
func (b IPv4) DstAddr() netip.Addr { return netip.AddrFrom4(b.Dst()) }

// Options returns the options area (empty when IHL is 5).
func (b IPv4) Options() []byte { return b[IPv4MinHeaderLen:b.HeaderLength()] }

// Payload returns the bytes after the header up to the total length.
func (b IPv4) Payload() []byte { return b[b.HeaderLength():b.TotalLength()] }

// SetTOS sets the type-of-service byte without touching the checksum.
func (b IPv4) SetTOS(v uint8) { b[ipTOS] = v }

// SetTotalLength sets the total length without touching the checksum.
func (b IPv4) SetTotalLength(v uint16) { binary.BigEndian.PutUint16(b[ipTotalLen:], v) }

// SetID sets the identification without touching the checksum.
func (b IPv4) SetID(v uint16) { binary.BigEndian.PutUint16(b[ipID:], v) }

// SetTTL sets the TTL without touching the checksum.
func (b IPv4) SetTTL(v uint8) { b[ipTTL] = v }

// SetChecksum sets the header checksum field.
func (b IPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[ipChecksum:], v) }

// SetSrc sets the source address without touching any checksum.
func (b IPv4) SetSrc(a [4]byte) { copy(b[ipSrc:ipSrc+4], a[:]) }

// SetDst sets the destination address without touching any checksum.
func (b IPv4) SetDst(a [4]byte) { copy(b[ipDst:ipDst+4], a[:]) }

// SetSrcWithChecksumUpdate sets the source address and patches the header
// checksum. The L4 pseudo-header checksum is the caller's to update (see
// TCP.UpdateChecksumPseudoHeaderAddress).
func (b IPv4) SetSrcWithChecksumUpdate(a [4]byte) {
	b.SetChecksum(checksumUpdate32(b.Checksum(), b.Src(), a))
	b.SetSrc(a)
}

// SetDstWithChecksumUpdate sets the destination address and patches the
// header checksum. The L4 pseudo-header checksum is the caller's to update.
func (b IPv4) SetDstWithChecksumUpdate(a [4]byte) {
	b.SetChecksum(checksumUpdate32(b.Checksum(), b.Dst(), a))
	b.SetDst(a)
}

// DecTTLWithChecksumUpdate decrements the TTL by one and patches the header
// checksum. The caller checks TTL > 1 first: a router drops a datagram whose
// TTL would reach zero (RFC 1812 section 5.3.1).
func (b IPv4) DecTTLWithChecksumUpdate() {
	ttl, sum := b.DecrementedTTL()
	b[ipTTL] = ttl
	b.SetChecksum(sum)
}

// DecrementedTTL returns the TTL and header checksum that
// DecTTLWithChecksumUpdate would write, without writing them: for a copy
// that should only ever be stored to (a TX ring slot), whose own bytes a
// read would have to wait for.
func (b IPv4) DecrementedTTL() (ttl uint8, checksum uint16) {
	old := binary.BigEndian.Uint16(b[ipTTL:]) // TTL is the high byte of the TTL/protocol word
	return b[ipTTL] - 1, checksumUpdate16(b.Checksum(), old, old-0x0100)
}

// ComputeChecksum returns the header checksum computed from scratch over
// the header bytes, skipping the checksum field itself.
func (b IPv4) ComputeChecksum() uint16 {
	hl := b.HeaderLength()
	s := Checksum(b[:ipChecksum], 0)
	return ^Checksum(b[ipChecksum+2:hl], s)
}

// IsChecksumValid reports whether the header checksum is correct.
func (b IPv4) IsChecksumValid() bool {
	return Checksum(b[:b.HeaderLength()], 0) == 0xffff
}

// IPv4Fields holds the fields Encode writes into an option-less header.
type IPv4Fields struct {
	TOS         uint8
	TotalLength uint16
	ID          uint16
	Flags       uint16 // IPv4FlagDF and/or IPv4FlagMF; the fragment offset is zero
	TTL         uint8
	Protocol    uint8
	Src, Dst    [4]byte
}

// Encode writes a 20-byte header from f into b, with a freshly computed
// checksum. b must be at least IPv4MinHeaderLen bytes long.
func (b IPv4) Encode(f *IPv4Fields) {
	b.EncodeFields(f.TOS, f.TotalLength, f.ID, f.Flags, f.TTL, f.Protocol,
		binary.BigEndian.Uint32(f.Src[:]), binary.BigEndian.Uint32(f.Dst[:]))
}

// EncodeFields is Encode with the fields as arguments (addresses as
// big-endian words), for a hot path: they stay in registers, where an
// IPv4Fields would be built on the stack and read back. b is usually a
// TX ring slot, so the header goes out in three wide stores (ring stores
// drain slowly and each takes a store-buffer entry), and the checksum is
// summed from the arguments, never read back from b.
func (b IPv4) EncodeFields(tos uint8, totalLength, id, flags uint16, ttl, proto uint8, src, dst uint32) {
	_ = b[IPv4MinHeaderLen-1]
	flags &^= IPv4FragOffsetMask
	sum := uint32(0x45)<<8 + uint32(tos)
	sum += uint32(totalLength) + uint32(id) + uint32(flags)
	sum += uint32(ttl)<<8 + uint32(proto)
	sum += src>>16 + src&0xffff + dst>>16 + dst&0xffff
	sum = sum&0xffff + sum>>16
	sum = sum&0xffff + sum>>16
	binary.BigEndian.PutUint64(b[0:], 0x45<<56|uint64(tos)<<48|uint64(totalLength)<<32|uint64(id)<<16|uint64(flags))
	binary.BigEndian.PutUint64(b[8:], uint64(ttl)<<56|uint64(proto)<<48|uint64(^uint16(sum))<<32|uint64(src))
	binary.BigEndian.PutUint32(b[16:], dst)
}

// IsMartianSource reports whether a is an address no datagram may come
// from, as the kernel's ip_route_input_slow judges it: multicast
// (224.0.0.0/4), limited broadcast (255.255.255.255), "this network"
// (0.0.0.0/8) and loopback (127.0.0.0/8, martian unless route_localnet).
// Like Linux, it accepts the reserved 240.0.0.0/4 block.
func IsMartianSource(a [4]byte) bool {
	return IsMulticastOrBroadcast(a) || a[0] == 0 || a[0] == 127
}

// IsMulticastOrBroadcast reports whether a is a multicast address
// (224.0.0.0/4) or the limited broadcast address.
func IsMulticastOrBroadcast(a [4]byte) bool {
	return a[0]&0xf0 == 0xe0 || a == [4]byte{255, 255, 255, 255}
}
