package bench

import (
	"encoding/binary"

	"github.com/ulvs/ulvs/forward/header"
)

// ipipGap is the room an IPIP encapsulation needs in front of a frame: one
// option-less outer IPv4 header.
const ipipGap = header.IPv4MinHeaderLen

// encapIPIP turns the n-byte untagged Ethernet frame at slot[ipipGap:] into
// an IPIP frame at slot[0:], in place, and returns its length: an IPv4
// EtherType, an outer IPv4 header from src to dst (protocol 4, DF, TTL 64),
// then the frame's IPv4 datagram unchanged; the MACs are the caller's to
// set. The copied Ethernet header is overwritten by the outer header. A
// frame that is not IPv4 is moved to slot[0:] as it is. It is the
// null-ipip subject's only work per frame: what a TUN director's frames
// cost the I/O path, without any of the director's own work (lookups,
// inner TTL).
func encapIPIP(slot []byte, n int, src, dst [4]byte) int {
	frame := slot[ipipGap : ipipGap+n]
	if n < header.EthernetHeaderLen+header.IPv4MinHeaderLen || binary.BigEndian.Uint16(frame[12:14]) != 0x0800 {
		return copy(slot, frame)
	}
	binary.BigEndian.PutUint16(slot[12:14], 0x0800)
	header.IPv4(slot[header.EthernetHeaderLen:]).EncodeFields(0, uint16(n-header.EthernetHeaderLen+ipipGap), 0, header.IPv4FlagDF, 64,
		header.ProtoIPIP, binary.BigEndian.Uint32(src[:]), binary.BigEndian.Uint32(dst[:]))
	return n + ipipGap
}
