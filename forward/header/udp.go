package header

import "encoding/binary"

// UDP header (RFC 768):
//
//	 0      7 8     15 16    23 24    31
//	+--------+--------+--------+--------+
//	|     Source      |   Destination   |
//	|      Port       |      Port       |
//	+--------+--------+--------+--------+
//	|     Length      |    Checksum     |
//	+--------+--------+--------+--------+
const (
	udpSrcPort  = 0
	udpDstPort  = 2
	udpLength   = 4
	udpChecksum = 6

	// UDPHeaderLen is the length of a UDP header.
	UDPHeaderLen = 8
	// UDPChecksumOffset is the checksum field's offset in the header.
	UDPChecksumOffset = udpChecksum
)

// UDP is a view of a UDP header (and, when longer, its payload). IsValid
// must hold before the other methods are used.
//
// Over IPv4 a checksum of zero means "no checksum" (RFC 768): the
// ...WithChecksumUpdate methods leave it zero, and a computed zero is
// written as 0xFFFF, its one's complement twin.
type UDP []byte

// IsValid reports whether b holds a whole header.
func (b UDP) IsValid() bool { return len(b) >= UDPHeaderLen }

// SrcPort returns the source port.
func (b UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(b[udpSrcPort:]) }

// DstPort returns the destination port.
func (b UDP) DstPort() uint16 { return binary.BigEndian.Uint16(b[udpDstPort:]) }

// Length returns the length field (header and payload).
func (b UDP) Length() uint16 { return binary.BigEndian.Uint16(b[udpLength:]) }

// Checksum returns the checksum field.
func (b UDP) Checksum() uint16 { return binary.BigEndian.Uint16(b[udpChecksum:]) }

// SetChecksum sets the checksum field.
func (b UDP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[udpChecksum:], v) }

// SetSrcPort sets the source port without touching the checksum.
func (b UDP) SetSrcPort(p uint16) { binary.BigEndian.PutUint16(b[udpSrcPort:], p) }

// SetDstPort sets the destination port without touching the checksum.
func (b UDP) SetDstPort(p uint16) { binary.BigEndian.PutUint16(b[udpDstPort:], p) }

// updateChecksum16 patches a non-zero checksum for one changed word.
func (b UDP) updateChecksum16(old, new uint16) {
	if hc := b.Checksum(); hc != 0 {
		b.SetChecksum(NormalizeUDPChecksum(checksumUpdate16(hc, old, new)))
	}
}

// SetSrcPortWithChecksumUpdate sets the source port and patches a non-zero
// checksum.
func (b UDP) SetSrcPortWithChecksumUpdate(p uint16) {
	b.updateChecksum16(b.SrcPort(), p)
	b.SetSrcPort(p)
}

// SetDstPortWithChecksumUpdate sets the destination port and patches a
// non-zero checksum.
func (b UDP) SetDstPortWithChecksumUpdate(p uint16) {
	b.updateChecksum16(b.DstPort(), p)
	b.SetDstPort(p)
}

// UpdateChecksumPseudoHeaderAddress patches a non-zero checksum for an
// address of the pseudo-header changing from old to new.
func (b UDP) UpdateChecksumPseudoHeaderAddress(old, new [4]byte) {
	if hc := b.Checksum(); hc != 0 {
		b.SetChecksum(NormalizeUDPChecksum(checksumUpdate32(hc, old, new)))
	}
}

// ComputeChecksum returns the checksum computed from scratch over the
// pseudo-header and b (exactly the datagram), skipping the checksum field,
// with a computed zero written as 0xFFFF.
func (b UDP) ComputeChecksum(src, dst [4]byte) uint16 {
	s := PseudoHeaderChecksum(ProtoUDP, src, dst, uint16(len(b)))
	s = Checksum(b[:udpChecksum], s)
	return NormalizeUDPChecksum(^Checksum(b[udpChecksum+2:], s))
}

// IsChecksumValid reports whether the datagram b, sent from src to dst,
// has no checksum (zero) or a correct one.
func (b UDP) IsChecksumValid(src, dst [4]byte) bool {
	return b.Checksum() == 0 ||
		Checksum(b, PseudoHeaderChecksum(ProtoUDP, src, dst, uint16(len(b)))) == 0xffff
}

// NormalizeUDPChecksum returns c, or 0xFFFF when c is 0: an IPv4 UDP
// checksum that computes to zero is transmitted as all ones, because zero
// on the wire means "no checksum" (RFC 768).
func NormalizeUDPChecksum(c uint16) uint16 {
	if c == 0 {
		return 0xffff
	}
	return c
}
