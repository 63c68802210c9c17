// Package tunnel is the real-server side of LVS tunnelling (TUN) for hosts
// whose kernel lacks the ipip module: it takes IPIP packets (IPv4 protocol 4)
// addressed to this host off an interface with an AF_PACKET socket, strips
// the outer header and hands the inner packet to the local stack through a
// TUN device. A server with the VIP on lo then answers the client directly,
// exactly as with the kernel's tunl0.
package tunnel

import "github.com/ulvs/ulvs/forward/header"

//go:generate go tool stringer -type DropReason -linecomment

// DropReason says why a packet was not delivered.
type DropReason uint8

// The drop reasons, counted in Stats.Drops, each with its name (snake_case,
// as a metric label would be) as the line comment, from which `go generate`
// writes String.
const (
	// Outer IPv4 header truncated, malformed or with a bad checksum.
	DropOuterHeader DropReason = iota // outer_header
	// Outer packet is a fragment; fragments are not reassembled.
	DropFragment // fragment
	// Outer destination is not an address of this host.
	DropNotLocal // not_local
	// Inner packet is not a valid IPv4 packet.
	DropInnerHeader // inner_header
	// The TUN device refused the inner packet.
	DropWrite // tun_write

	// NumDropReasons is the number of reasons, for sizing arrays. It is
	// no reason, and String names it unknown.
	NumDropReasons // unknown
)

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
	if !ok || outer.Protocol() != header.ProtoIPIP {
		return nil, DropOuterHeader, false
	}
	if outer.IsFragment() {
		return nil, DropFragment, false
	}
	if !isLocal(outer.Dst()) {
		return nil, DropNotLocal, false
	}
	inner, ok := ipv4Packet(outer[outer.HeaderLength():])
	if !ok {
		return nil, DropInnerHeader, false
	}
	return inner, 0, true
}

// ipv4Packet validates an IPv4 header, its checksum included, and returns
// b cut to its total length.
func ipv4Packet(b []byte) (header.IPv4, bool) {
	ip := header.IPv4(b)
	if !ip.IsValid() || !ip.IsChecksumValid() {
		return nil, false
	}
	return ip[:ip.TotalLength()], true
}
