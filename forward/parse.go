package forward

import (
	"encoding/binary"

	"github.com/ulvs/ulvs/forward/header"
)

// maxVLANTags is how many stacked 802.1Q/802.1ad tags Decode walks (QinQ).
const maxVLANTags = 2

// Parsed is one frame decoded once: offsets into the frame, the flow tuple
// and the flags the balancer and the rewriters need. Each worker owns one
// Parsed and reuses it for every frame; Decode overwrites all of it. It
// holds no pointers and no reference to the frame, so the frame is passed
// again to every function that reads or rewrites it.
//
// Offsets are from the start of the frame. Fields past the point where
// Decode stopped keep their zero values.
type Parsed struct {
	// VLANs is the number of 802.1Q/802.1ad tags in the frame (0 to 2),
	// and VLANTCI their tag control information, outermost first. The
	// rewriters keep tags as they are: a frame leaves on the VLAN it came
	// in on. (When the NIC strips the tag into the ring header instead,
	// VLANs is 0 and the tag is the ring code's to restore.)
	VLANs   uint8
	VLANTCI [maxVLANTags]uint16
	// EtherType is the type after any tags.
	EtherType uint16

	// L3 is the offset of the IPv4 header or ARP packet.
	L3 int
	// L4 is the offset of the transport header (L3 + IHL*4).
	L4 int
	// Payload is the offset of the transport payload: after the TCP header
	// with options, the UDP header, or the 8-byte ICMP header (where an
	// error's quote starts). For other protocols it equals L4.
	Payload int
	// End is L3 plus the IPv4 total length. Bytes from End to the end of
	// the frame are Ethernet padding and are not part of the datagram.
	End int

	Proto    uint8
	TTL      uint8
	TOS      uint8
	Src, Dst [4]byte
	// SrcPort and DstPort are set when HasPorts is: TCP or UDP with its
	// header present.
	SrcPort, DstPort uint16
	HasPorts         bool
	// TCPFlags is the TCP flag byte (header.TCPFlagSYN, ...).
	TCPFlags uint8

	DF         bool
	MF         bool
	FragOffset int  // in bytes; non-zero means a non-first fragment, which has no ports
	Options    bool // the IPv4 header carries options (IHL > 5)

	// ARP is set for an Ethernet/IPv4 ARP packet at L3; read it with
	// header.ARP(frame[p.L3:]).
	ARP bool

	ICMPType, ICMPCode uint8
	// ICMPError is set for every ICMP error type (destination unreachable,
	// source quench, redirect, time exceeded, parameter problem): such a
	// message is never answered with an ICMP error (RFC 1122 3.2.2).
	ICMPError bool
	// ICMPRelated is set for the errors IPVS relates to a connection
	// (destination unreachable, source quench, time exceeded). Inner then
	// holds the quoted datagram; look its connection up with the quoted
	// tuple reversed (the quote is a packet that went the other way).
	ICMPRelated bool
	Inner       Quoted

	// ChecksumCompleted is set when DecodeStatus completed a partial
	// checksum.
	ChecksumCompleted bool
}

// Quoted describes the datagram quoted in an ICMP error.
type Quoted struct {
	// L3 and L4 are the offsets of the quoted IPv4 header and of its
	// transport header; End is where the quote ends (the quoted datagram
	// is usually cut short).
	L3, L4, End int
	Proto       uint8
	Src, Dst    [4]byte
	// SrcPort and DstPort are set when HasPorts is: TCP or UDP, first
	// fragment, at least 8 bytes quoted (RFC 792's minimum).
	SrcPort, DstPort uint16
	HasPorts         bool
}

// IPv4 returns the frame's IPv4 header view. Valid only after Decode
// returned DropNone for an IPv4 frame.
func (p *Parsed) IPv4(frame []byte) header.IPv4 { return header.IPv4(frame[p.L3:p.End]) }

// Decode parses frame into p and returns DropNone when it is a well-formed
// IPv4 or ARP frame the director may act on.
//
// It checks what the kernel's ip_rcv_core does: version 4, IHL >= 5, the
// header and the total length within the frame, the header checksum; then
// that the TCP, UDP or ICMP header is present (as tcp_v4_rcv, udp_rcv and
// icmp_rcv would). Anything else returns its own DropReason; nothing
// panics and nothing is logged. Frames that are neither IPv4 nor ARP
// return DropNotOurs, which is a classification, not an error.
//
// Choices where IPVS relies on the rest of the kernel:
//   - IPv4 options are accepted and carried unchanged (IPVS works from IHL
//     too) once they parse; source-route options (LSRR, SSRR) return
//     DropSourceRoute, as Linux drops them with accept_source_route=0, its
//     default, before IPVS sees them.
//   - Fragments return DropFragment. IPVS sees reassembled datagrams
//     because it loads nf_defrag; ulvs keeps no reassembly state. A first
//     fragment still gets its tuple (ports included) filled in; a
//     non-first fragment has no ports.
//   - TTL is recorded, not judged: the NAT and TUN rewriters refuse TTL
//     <= 1 with DropTTLExpired (IPVS's decrement_ttl), DR does not route
//     and ignores it.
//   - Sources that are multicast, broadcast, 0.0.0.0/8 or loopback return
//     DropMartianSource, as the kernel's input routing drops them before
//     IPVS.
//   - ICMP errors have their checksum verified (ip_vs_in_icmp does) and
//     their quote parsed into Inner.
func (p *Parsed) Decode(frame []byte) DropReason {
	*p = Parsed{}
	if len(frame) < header.EthernetHeaderLen {
		return DropShortFrame
	}
	off := 12 // offset of the current type field
	et := binary.BigEndian.Uint16(frame[off:])
	for et == header.EtherTypeVLAN || et == header.EtherTypeQinQ {
		if p.VLANs == maxVLANTags {
			return DropNotOurs
		}
		if len(frame) < off+2+header.VLANTagLen {
			return DropShortFrame
		}
		p.VLANTCI[p.VLANs] = binary.BigEndian.Uint16(frame[off+2:])
		p.VLANs++
		off += header.VLANTagLen
		et = binary.BigEndian.Uint16(frame[off:])
	}
	p.EtherType = et
	p.L3 = off + 2
	switch et {
	case header.EtherTypeIPv4:
		return p.decodeIPv4(frame)
	case header.EtherTypeARP:
		if !header.ARP(frame[p.L3:]).IsValid() {
			return DropBadARP
		}
		p.ARP = true
		p.End = p.L3 + header.ARPLen
		return DropNone
	}
	return DropNotOurs
}

// DecodeStatus is Decode for a frame whose ring header may say
// TP_STATUS_CSUMNOTREADY: when csumNotReady is true and the frame decodes,
// its TCP or UDP checksum is completed in place (see CompleteChecksum)
// before anything reads or incrementally updates it.
func (p *Parsed) DecodeStatus(frame []byte, csumNotReady bool) DropReason {
	r := p.Decode(frame)
	if r == DropNone && csumNotReady && !p.ARP {
		r = CompleteChecksum(frame, p)
	}
	return r
}

func (p *Parsed) decodeIPv4(frame []byte) DropReason {
	b := frame[p.L3:]
	if len(b) < header.IPv4MinHeaderLen {
		return DropShortIPv4
	}
	if b[0]>>4 != 4 {
		return DropBadIPVersion
	}
	ip := header.IPv4(b)
	hl := ip.HeaderLength()
	if hl < header.IPv4MinHeaderLen || hl > len(b) {
		return DropBadIHL
	}
	tl := int(ip.TotalLength())
	if tl < hl || tl > len(b) {
		return DropBadTotalLength
	}
	if ipv4HeaderSum(b, hl) != 0xffff {
		return DropBadIPChecksum
	}
	if hl > header.IPv4MinHeaderLen {
		p.Options = true
		if r := checkOptions(b[header.IPv4MinHeaderLen:hl]); r != DropNone {
			return r
		}
	}
	p.Src = ip.Src()
	p.Dst = ip.Dst()
	p.Proto = ip.Protocol()
	p.TTL = ip.TTL()
	p.TOS = ip.TOS()
	p.L4 = p.L3 + hl
	p.Payload = p.L4
	p.End = p.L3 + tl
	if header.IsMartianSource(p.Src) {
		return DropMartianSource
	}
	ff := ip.FlagsFragment()
	p.DF = ff&header.IPv4FlagDF != 0
	p.MF = ff&header.IPv4FlagMF != 0
	p.FragOffset = int(ff&header.IPv4FragOffsetMask) * 8
	if p.FragOffset != 0 {
		return DropFragment
	}
	l4 := frame[p.L4:p.End]
	if p.MF {
		// A first fragment: record the ports for whoever wants them, but
		// the datagram's length checks need the whole datagram.
		if (p.Proto == header.ProtoTCP || p.Proto == header.ProtoUDP) && len(l4) >= 4 {
			p.SrcPort = binary.BigEndian.Uint16(l4[0:])
			p.DstPort = binary.BigEndian.Uint16(l4[2:])
			p.HasPorts = true
		}
		return DropFragment
	}
	switch p.Proto {
	case header.ProtoTCP:
		t := header.TCP(l4)
		if !t.IsValid() {
			return DropShortTCP
		}
		p.SrcPort, p.DstPort, p.HasPorts = t.SrcPort(), t.DstPort(), true
		p.TCPFlags = t.Flags()
		p.Payload = p.L4 + t.DataOffset()
	case header.ProtoUDP:
		u := header.UDP(l4)
		if !u.IsValid() {
			return DropShortUDP
		}
		if ul := int(u.Length()); ul < header.UDPHeaderLen || ul > len(l4) {
			return DropShortUDP // udp_rcv: ulen > skb->len or < 8
		}
		p.SrcPort, p.DstPort, p.HasPorts = u.SrcPort(), u.DstPort(), true
		p.Payload = p.L4 + header.UDPHeaderLen
	case header.ProtoICMP:
		ic := header.ICMPv4(l4)
		if !ic.IsValid() {
			return DropShortICMP
		}
		p.ICMPType, p.ICMPCode = ic.Type(), ic.Code()
		p.Payload = p.L4 + header.ICMPHeaderLen
		if header.ICMPIsError(p.ICMPType) {
			p.ICMPError = true
			return p.decodeICMPError(frame)
		}
	}
	return DropNone
}

// decodeICMPError verifies an ICMP error's checksum and parses its quote.
func (p *Parsed) decodeICMPError(frame []byte) DropReason {
	if !header.ICMPv4(frame[p.L4:p.End]).IsChecksumValid() {
		return DropBadICMPChecksum
	}
	switch p.ICMPType {
	case header.ICMPDestUnreach, header.ICMPSourceQuench, header.ICMPTimeExceeded:
	default:
		return DropNone // redirect, parameter problem: not related by IPVS
	}
	q := frame[p.Payload:p.End]
	if len(q) < header.IPv4MinHeaderLen || q[0]>>4 != 4 {
		return DropBadICMPQuote
	}
	qip := header.IPv4(q)
	qhl := qip.HeaderLength()
	qtl := int(qip.TotalLength())
	if qhl < header.IPv4MinHeaderLen || qhl > len(q) || qtl < qhl {
		return DropBadICMPQuote
	}
	in := &p.Inner
	in.L3 = p.Payload
	in.L4 = in.L3 + qhl
	in.End = min(in.L3+qtl, p.End)
	in.Proto = qip.Protocol()
	in.Src = qip.Src()
	in.Dst = qip.Dst()
	if in.Proto == header.ProtoTCP || in.Proto == header.ProtoUDP {
		if qip.FlagsFragment()&header.IPv4FragOffsetMask == 0 {
			ql4 := frame[in.L4:in.End]
			if len(ql4) < 8 {
				return DropBadICMPQuote
			}
			in.SrcPort = binary.BigEndian.Uint16(ql4[0:])
			in.DstPort = binary.BigEndian.Uint16(ql4[2:])
			in.HasPorts = true
		}
	}
	p.ICMPRelated = true
	return DropNone
}

// IPv4 option types Decode treats specially (RFC 791 section 3.1).
const (
	optEnd  = 0
	optNOP  = 1
	optLSRR = 0x83
	optSSRR = 0x89
)

// checkOptions walks the options area the way ip_options_compile does at
// the level of lengths: single-byte EOL and NOP, every other option with a
// length byte of at least 2 that stays inside the area.
func checkOptions(o []byte) DropReason {
	for i := 0; i < len(o); {
		switch o[i] {
		case optEnd:
			return DropNone
		case optNOP:
			i++
			continue
		}
		if i+1 >= len(o) {
			return DropBadIPOptions
		}
		l := int(o[i+1])
		if l < 2 || i+l > len(o) {
			return DropBadIPOptions
		}
		if o[i] == optLSRR || o[i] == optSSRR {
			return DropSourceRoute
		}
		i += l
	}
	return DropNone
}

// ipv4HeaderSum sums an IPv4 header of hl bytes, with a straight-line path
// for the usual option-less 20 bytes.
func ipv4HeaderSum(b []byte, hl int) uint16 {
	if hl != header.IPv4MinHeaderLen {
		return header.Checksum(b[:hl], 0)
	}
	_ = b[19]
	s := uint64(binary.BigEndian.Uint32(b[0:])) + uint64(binary.BigEndian.Uint32(b[4:])) +
		uint64(binary.BigEndian.Uint32(b[8:])) + uint64(binary.BigEndian.Uint32(b[12:])) +
		uint64(binary.BigEndian.Uint32(b[16:]))
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return uint16(s)
}
