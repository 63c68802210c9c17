package forward

import "github.com/ulvs/ulvs/forward/header"

// The director sends two ICMP errors of its own: fragmentation needed (a
// DF datagram that no longer fits once tunnelled) and time exceeded (TTL
// expiring on a routed method). Sending them is the caller's decision and
// must be rate-limited by the caller, as the kernel's icmp_ratelimit does.

// icmpErrorTOS is the TOS the kernel's icmp_send uses for errors
// (IPTOS_PREC_INTERNETCONTROL).
const icmpErrorTOS = 0xc0

// icmpErrorTTL is the TTL of errors the director sends (Linux's default
// ip_default_ttl).
const icmpErrorTTL = 64

// BuildFragNeeded writes into dst an ICMP destination-unreachable,
// fragmentation-needed message (RFC 792, RFC 1191) about frame, advertising
// mtu as the next-hop MTU, and returns its length, or 0 when no error may
// or can be sent (see BuildTimeExceeded). For TUN pass the egress MTU minus
// TUNOverhead.
func BuildFragNeeded(dst, frame []byte, p *Parsed, mtu int, srcIP [4]byte, srcMAC, dstMAC [6]byte) int {
	if mtu < header.IPv4MinMTU || mtu > 0xffff {
		return 0
	}
	return buildICMPError(dst, frame, p, header.ICMPDestUnreach, header.ICMPCodeFragNeeded, uint32(mtu), srcIP, srcMAC, dstMAC)
}

// BuildTimeExceeded writes into dst an ICMP time-exceeded (TTL expired in
// transit) message about frame and returns its length, or 0 when no error
// may or can be sent.
//
// The message goes back to the datagram's source: Ethernet header from
// srcMAC to dstMAC with the frame's VLAN tags, an IPv4 header from srcIP
// (TOS 0xC0, TTL 64, DF clear, identification 0 since a message this short
// never fragments) and as much of the original datagram as fits in 576
// bytes (RFC 1812 4.3.2.3). srcIP is the director's choice: the kernel
// would use the VIP for a datagram addressed to it, and its own address
// otherwise.
//
// It returns 0, following RFC 1122 3.2.2 and the kernel's icmp_send, when
// the frame is an ICMP error itself, a non-first fragment, sent to a
// multicast or broadcast address (L2 or L3), or from an address no reply
// can go to; and when dst is too short.
func BuildTimeExceeded(dst, frame []byte, p *Parsed, srcIP [4]byte, srcMAC, dstMAC [6]byte) int {
	return buildICMPError(dst, frame, p, header.ICMPTimeExceeded, header.ICMPCodeTTLExpired, 0, srcIP, srcMAC, dstMAC)
}

func buildICMPError(dst, frame []byte, p *Parsed, typ, code uint8, rest uint32, srcIP [4]byte, srcMAC, dstMAC [6]byte) int {
	if p.L4 == 0 || p.ICMPError || p.FragOffset != 0 || p.End > len(frame) {
		return 0
	}
	if header.IsMulticastOrBroadcast(p.Dst) || header.IsMartianSource(p.Src) ||
		header.IsGroupAddress(header.Ethernet(frame).Dst()) {
		return 0
	}
	quote := min(p.End-p.L3, header.ICMPErrorMaxLen-header.IPv4MinHeaderLen-header.ICMPHeaderLen)
	icmpLen := header.ICMPHeaderLen + quote
	n := p.L3 + header.IPv4MinHeaderLen + icmpLen
	if len(dst) < n {
		return 0
	}
	copy(dst[:p.L3], frame[:p.L3])
	setMACs(dst, srcMAC, dstMAC)
	icmp := header.ICMPv4(dst[p.L3+header.IPv4MinHeaderLen : n])
	copy(icmp[header.ICMPHeaderLen:], frame[p.L3:p.L3+quote])
	icmp.EncodeError(typ, code, rest)
	header.IPv4(dst[p.L3:]).Encode(&header.IPv4Fields{
		TOS:         icmpErrorTOS,
		TotalLength: uint16(header.IPv4MinHeaderLen + icmpLen),
		TTL:         icmpErrorTTL,
		Protocol:    header.ProtoICMP,
		Src:         srcIP,
		Dst:         p.Src,
	})
	return n
}
