package bench

import (
	"encoding/binary"

	"github.com/ulvs/ulvs/forward/header"
)

// ipipGap is the room an IPIP encapsulation needs in front of a frame: one
// option-less outer IPv4 header.
const ipipGap = header.IPv4MinHeaderLen

// encapIPIP turns the n-byte untagged Ethernet frame at slot[ipipGap:] into
// an IPIP frame at slot[0:], in place, and returns its length: Ethernet
// (srcMAC to dstMAC), an outer IPv4 header from src to dst (protocol 4,
// DF, TTL 64), then the frame's IPv4 datagram unchanged. The copied
// Ethernet header is overwritten by the outer header. A frame that is not
// IPv4 is moved to slot[0:] with only its MACs set. It is the null-ipip subject's only
// work per frame: what a TUN director's frames cost the I/O path, without
// any of the director's own work (lookups, inner TTL).
func encapIPIP(slot []byte, n int, src, dst [4]byte, srcMAC, dstMAC [6]byte) int {
	frame := slot[ipipGap : ipipGap+n]
	if n < header.EthernetHeaderLen+header.IPv4MinHeaderLen || binary.BigEndian.Uint16(frame[12:14]) != 0x0800 {
		n = copy(slot, frame)
		copy(slot[0:6], dstMAC[:])
		copy(slot[6:12], srcMAC[:])
		return n
	}
	inner := n - header.EthernetHeaderLen
	copy(slot[0:6], dstMAC[:])
	copy(slot[6:12], srcMAC[:])
	binary.BigEndian.PutUint16(slot[12:14], 0x0800)
	header.IPv4(slot[header.EthernetHeaderLen:]).EncodeFields(0, uint16(inner+ipipGap), 0, header.IPv4FlagDF, 64, header.ProtoIPIP,
		binary.BigEndian.Uint32(src[:]), binary.BigEndian.Uint32(dst[:]))
	return n + ipipGap
}
