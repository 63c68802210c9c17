package forward

import "github.com/ulvs/ulvs/forward/header"

// The rewriters change a decoded frame for its real server and return
// DropNone, or a DropReason and leave the frame untouched. They take the
// Parsed that Decode filled for this very frame and keep it in step with
// the bytes they change, so the caller can keep using it. They never
// allocate and never touch bytes outside the frame.
//
// Every rewriter writes srcMAC (the egress interface's address) and dstMAC
// (the real server's, or the next hop's) and keeps any VLAN tags as they
// are: a frame leaves on the VLAN it arrived on. Routed methods (NAT, TUN)
// decrement the TTL as IPVS's decrement_ttl does and refuse a TTL of 1 or
// less with DropTTLExpired, for which the caller may send
// BuildTimeExceeded; DR does not act as a router and leaves L3 alone.

// setMACs writes the Ethernet destination and source addresses.
func setMACs(frame []byte, srcMAC, dstMAC [6]byte) {
	eth := header.Ethernet(frame)
	eth.SetDst(dstMAC)
	eth.SetSrc(srcMAC)
}

// DR rewrites a frame for direct routing (IPVS "Route", ipvsadm -g): only
// the two MAC addresses change; nothing at L3 or L4, not even the TTL,
// because the real server owns the VIP and sits on the same link. It
// returns DropNotOurs for frames that are not decoded IPv4.
func DR(frame []byte, p *Parsed, srcMAC, dstMAC [6]byte) DropReason {
	if p.L4 == 0 {
		return DropNotOurs
	}
	setMACs(frame, srcMAC, dstMAC)
	return DropNone
}
