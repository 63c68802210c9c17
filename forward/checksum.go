package forward

import "github.com/ulvs/ulvs/forward/header"

// CompleteChecksum finishes the TCP or UDP checksum of a frame that carries
// a partial one, and must run before any incremental update.
//
// Frames a local socket sends across a veth reach the ring with
// CHECKSUM_PARTIAL (the ring header says TP_STATUS_CSUMNOTREADY): the
// transport's checksum field holds only the folded pseudo-header sum, and
// the sum over the segment is left to hardware that a frame read from a
// packet socket never meets. Completing it is what skb_checksum_help does:
// sum from the transport header (csum_start) to the end of the segment,
// seeded field included, and store the complement at csum_offset (16 for
// TCP, 6 for UDP). A UDP result of zero is stored as 0xFFFF.
//
// Other protocols are left alone. p must come from Decode with DropNone.
func CompleteChecksum(frame []byte, p *Parsed) DropReason {
	switch p.Proto {
	case header.ProtoTCP:
		t := header.TCP(frame[p.L4:p.End])
		t.SetChecksum(^header.Checksum(t, 0))
	case header.ProtoUDP:
		u := header.UDP(frame[p.L4:p.End])
		u = u[:u.Length()] // Decode checked 8 <= length <= len(u)
		u.SetChecksum(header.NormalizeUDPChecksum(^header.Checksum(u, 0)))
	default:
		return DropNone
	}
	p.ChecksumCompleted = true
	return DropNone
}
