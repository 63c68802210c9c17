// Package tunnel is the real-server side of LVS tunnelling (TUN) for hosts
// whose kernel lacks the ipip module: it takes IPIP packets (IPv4 protocol 4)
// addressed to this host off an interface with an AF_PACKET socket, strips
// the outer header and hands the inner packet to the local stack through a
// TUN device. A server with the VIP on lo then answers the client directly,
// exactly as with the kernel's tunl0.
package tunnel

import (
	"encoding/binary"
	"fmt"
)

// DropReason says why a packet was not delivered.
type DropReason uint8

// The drop reasons, counted in Stats.Drops.
const (
	DropOuterHeader DropReason = iota // outer IPv4 header truncated, malformed or with a bad checksum
	DropFragment                      // outer packet is a fragment; fragments are not reassembled
	DropNotLocal                      // outer destination is not an address of this host
	DropInnerHeader                   // inner packet is not a valid IPv4 packet
	DropWrite                         // the TUN device refused the inner packet
	NumDropReasons
)

var dropNames = [NumDropReasons]string{
	DropOuterHeader: "outer-header",
	DropFragment:    "fragment",
	DropNotLocal:    "not-local",
	DropInnerHeader: "inner-header",
	DropWrite:       "tun-write",
}

// String returns a short metric-friendly name.
func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return fmt.Sprintf("drop(%d)", uint8(r))
}

// Stats are the decapsulator's counters.
type Stats struct {
	Received  uint64                 // IPIP packets seen on the interface
	Delivered uint64                 // inner packets written to the TUN device
	Drops     [NumDropReasons]uint64 // by reason
}

// Dropped is the sum of all drops.
func (s Stats) Dropped() uint64 {
	var n uint64
	for _, d := range s.Drops {
		n += d
	}
	return n
}

const protoIPIP = 4

// decap checks an IPIP packet (starting at the outer IPv4 header; trailing
// link-layer padding allowed) and returns the inner IPv4 packet, or a drop
// reason. isLocal reports whether an address belongs to this host.
func decap(pkt []byte, isLocal func([4]byte) bool) ([]byte, DropReason, bool) {
	outer, ok := ipv4Packet(pkt)
	if !ok {
		return nil, DropOuterHeader, false
	}
	if outer[9] != protoIPIP {
		return nil, DropOuterHeader, false
	}
	if binary.BigEndian.Uint16(outer[6:])&0x3fff != 0 { // MF flag or fragment offset
		return nil, DropFragment, false
	}
	if !isLocal([4]byte(outer[16:20])) {
		return nil, DropNotLocal, false
	}
	inner, ok := ipv4Packet(outer[int(outer[0]&0x0f)*4:])
	if !ok {
		return nil, DropInnerHeader, false
	}
	return inner, 0, true
}

// ipv4Packet validates an IPv4 header and returns b cut to its total length.
func ipv4Packet(b []byte) ([]byte, bool) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return nil, false
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || total < ihl || total > len(b) {
		return nil, false
	}
	if checksum(b[:ihl]) != 0 {
		return nil, false
	}
	return b[:total], true
}

// checksum is the Internet checksum (RFC 1071); over a header that carries
// its checksum it is 0 when the header is intact.
func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
