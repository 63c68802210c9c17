package forward

import (
	"encoding/binary"

	"github.com/ulvs/ulvs/forward/header"
)

// NATInbound rewrites, in place, a client-to-VIP frame for a NAT real
// server (IPVS "Masq", ipvsadm -m): destination address and port become
// realIP and realPort, the TTL drops by one, the IPv4 header checksum and
// the TCP/UDP checksum (pseudo-header and port) are patched incrementally
// (RFC 1624). A UDP checksum of 0 stays 0; a result of 0 is written as
// 0xFFFF. The client's source is left as is: IPVS NAT does not SNAT.
//
// For an ICMP error related to a connection (p.ICMPRelated: it quotes a
// real-server-to-client packet, now VIP-to-client), it does what IPVS's
// ip_vs_nat_icmp does inbound: outer destination to realIP, the quoted
// source address and port to realIP and realPort; and patches the outer,
// the quoted IPv4 and the quoted TCP/UDP checksums (when quoted) and the
// ICMP checksum. IPVS recomputes the ICMP checksum over the message and
// leaves the quoted L4 checksum stale; patching both keeps the quote
// consistent at constant cost.
//
// It returns DropNATUnsupported for anything but TCP, UDP and related ICMP
// errors quoting TCP or UDP, and DropTTLExpired for TTL <= 1.
func NATInbound(frame []byte, p *Parsed, realIP [4]byte, realPort uint16, srcMAC, dstMAC [6]byte) DropReason {
	return nat(frame, p, realIP, realPort, srcMAC, dstMAC, true)
}

// NATOutbound rewrites, in place, a real-server-to-client frame of a NAT
// connection: source address and port become vip and vport, with the same
// TTL and checksum handling as NATInbound.
//
// For a related ICMP error coming from the real server's side (it quotes a
// client-to-real-server packet) it does what IPVS's ip_vs_nat_icmp does
// outbound: outer source to vip (whoever sent the error, as IPVS does), the
// quoted destination address and port to vip and vport, with every
// checksum patched.
func NATOutbound(frame []byte, p *Parsed, vip [4]byte, vport uint16, srcMAC, dstMAC [6]byte) DropReason {
	return nat(frame, p, vip, vport, srcMAC, dstMAC, false)
}

// nat rewrites the destination (inbound) or the source (outbound).
func nat(frame []byte, p *Parsed, addr [4]byte, port uint16, srcMAC, dstMAC [6]byte, inbound bool) DropReason {
	if p.ICMPRelated {
		return natICMP(frame, p, addr, port, srcMAC, dstMAC, inbound)
	}
	if !p.HasPorts || p.ICMPError || (p.Proto != header.ProtoTCP && p.Proto != header.ProtoUDP) {
		return DropNATUnsupported
	}
	if p.TTL <= 1 {
		return DropTTLExpired
	}
	// One address delta serves the IPv4 header and the pseudo-header;
	// each checksum field is folded once.
	ip := header.IPv4(frame[p.L3:p.L4])
	l4 := frame[p.L4:p.End]
	var addrDelta header.ChecksumDelta
	ttlWord := uint16(p.TTL)<<8 | uint16(p.Proto)
	if inbound {
		addrDelta = addrDelta.AddAddress(p.Dst, addr)
		ip.SetDst(addr)
		rewriteL4(l4, p.Proto, addrDelta.AddWord(p.DstPort, port), 2, port)
		p.Dst, p.DstPort = addr, port
	} else {
		addrDelta = addrDelta.AddAddress(p.Src, addr)
		ip.SetSrc(addr)
		rewriteL4(l4, p.Proto, addrDelta.AddWord(p.SrcPort, port), 0, port)
		p.Src, p.SrcPort = addr, port
	}
	ip.SetChecksum(addrDelta.AddWord(ttlWord, ttlWord-0x0100).Apply(ip.Checksum()))
	ip.SetTTL(p.TTL - 1)
	p.TTL--
	setMACs(frame, srcMAC, dstMAC)
	return DropNone
}

// rewriteL4 sets the port at portOff (0 source, 2 destination) of a TCP or
// UDP header l4 and applies delta (the port and pseudo-header address
// change) to its checksum. It returns the old and new checksum words,
// equal when the checksum was not touched (a UDP zero, or a quote too
// short to hold the checksum), so that an enclosing ICMP checksum can be
// patched for them.
func rewriteL4(l4 []byte, proto uint8, delta header.ChecksumDelta, portOff int, port uint16) (oldSum, newSum uint16) {
	binary.BigEndian.PutUint16(l4[portOff:], port)
	off := header.TCPChecksumOffset
	if proto == header.ProtoUDP {
		off = header.UDPChecksumOffset
	}
	if len(l4) < off+2 {
		return 0, 0
	}
	oldSum = binary.BigEndian.Uint16(l4[off:])
	if proto == header.ProtoUDP {
		if oldSum == 0 {
			return 0, 0 // no checksum: stays zero (RFC 768)
		}
		newSum = header.NormalizeUDPChecksum(delta.Apply(oldSum))
	} else {
		newSum = delta.Apply(oldSum)
	}
	binary.BigEndian.PutUint16(l4[off:], newSum)
	return oldSum, newSum
}

// natICMP rewrites a related ICMP error and the datagram it quotes.
func natICMP(frame []byte, p *Parsed, addr [4]byte, port uint16, srcMAC, dstMAC [6]byte, inbound bool) DropReason {
	in := &p.Inner
	if !in.HasPorts {
		return DropNATUnsupported
	}
	if p.TTL <= 1 {
		return DropTTLExpired
	}
	ip := header.IPv4(frame[p.L3:p.L4])
	icmp := header.ICMPv4(frame[p.L4:p.End])
	qip := header.IPv4(frame[in.L3:in.L4])
	ql4 := frame[in.L4:in.End]
	ip.DecTTLWithChecksumUpdate()
	p.TTL--

	// The outer header; ICMP's checksum has no pseudo-header.
	var oldQ [4]byte
	var oldPort uint16
	var portOff int
	if inbound {
		ip.SetDstWithChecksumUpdate(addr)
		p.Dst = addr
		oldQ, oldPort, portOff = in.Src, in.SrcPort, 0
	} else {
		ip.SetSrcWithChecksumUpdate(addr)
		p.Src = addr
		oldQ, oldPort, portOff = in.Dst, in.DstPort, 2
	}

	// The quoted header: its address and checksum words are covered by the
	// ICMP checksum, so each change is patched there too.
	oldQsum := qip.Checksum()
	if inbound {
		qip.SetSrcWithChecksumUpdate(addr)
		in.Src, in.SrcPort = addr, port
	} else {
		qip.SetDstWithChecksumUpdate(addr)
		in.Dst, in.DstPort = addr, port
	}
	icmp.UpdateChecksumAddress(oldQ, addr)
	icmp.UpdateChecksum16(oldQsum, qip.Checksum())

	// The quoted transport header: the port, and its checksum when quoted.
	var delta header.ChecksumDelta
	oldSum, newSum := rewriteL4(ql4, in.Proto, delta.AddAddress(oldQ, addr).AddWord(oldPort, port), portOff, port)
	icmp.UpdateChecksum16(oldPort, port)
	if oldSum != newSum {
		icmp.UpdateChecksum16(oldSum, newSum)
	}

	setMACs(frame, srcMAC, dstMAC)
	return DropNone
}
