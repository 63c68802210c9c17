package header

import "encoding/binary"

// ICMPv4 header (RFC 792):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     unused (or ID/seq, or next-hop MTU in bytes 6-7)          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|      Internet Header + leading bytes of the original datagram |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The checksum covers the whole ICMP message and has no pseudo-header.
const (
	icmpType     = 0
	icmpCode     = 1
	icmpChecksum = 2
	icmpRest     = 4
	icmpMTU      = 6

	// ICMPHeaderLen is the length of the ICMP header before the quoted
	// datagram of an error message.
	ICMPHeaderLen = 8
	// ICMPErrorMaxLen is the longest IPv4 datagram carrying an ICMP error
	// that a host sends (RFC 1812 section 4.3.2.3: as much of the original
	// as fits in 576 bytes).
	ICMPErrorMaxLen = 576
)

// ICMPv4 message types.
const (
	ICMPEchoReply      uint8 = 0
	ICMPDestUnreach    uint8 = 3
	ICMPSourceQuench   uint8 = 4
	ICMPRedirect       uint8 = 5
	ICMPEcho           uint8 = 8
	ICMPTimeExceeded   uint8 = 11
	ICMPParamProblem   uint8 = 12
	ICMPCodeFragNeeded uint8 = 4 // with ICMPDestUnreach
	ICMPCodeTTLExpired uint8 = 0 // with ICMPTimeExceeded
)

// ICMPIsError reports whether typ is an ICMP error message, one that must
// never be answered with another ICMP error (RFC 1122 section 3.2.2).
func ICMPIsError(typ uint8) bool {
	switch typ {
	case ICMPDestUnreach, ICMPSourceQuench, ICMPRedirect, ICMPTimeExceeded, ICMPParamProblem:
		return true
	}
	return false
}

// ICMPv4 is a view of an ICMPv4 message. IsValid must hold before the other
// methods are used.
type ICMPv4 []byte

// IsValid reports whether b holds the 8-byte header.
func (b ICMPv4) IsValid() bool { return len(b) >= ICMPHeaderLen }

// Type returns the message type.
func (b ICMPv4) Type() uint8 { return b[icmpType] }

// Code returns the message code.
func (b ICMPv4) Code() uint8 { return b[icmpCode] }

// Checksum returns the checksum field.
func (b ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[icmpChecksum:]) }

// SetChecksum sets the checksum field.
func (b ICMPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[icmpChecksum:], v) }

// Rest returns the four bytes after the checksum as one word.
func (b ICMPv4) Rest() uint32 { return binary.BigEndian.Uint32(b[icmpRest:]) }

// MTU returns the next-hop MTU of a fragmentation-needed message
// (RFC 1191 section 4).
func (b ICMPv4) MTU() uint16 { return binary.BigEndian.Uint16(b[icmpMTU:]) }

// Payload returns what follows the header: for errors, the quoted datagram.
func (b ICMPv4) Payload() []byte { return b[ICMPHeaderLen:] }

// UpdateChecksum16 patches the checksum for one word of the message
// changing from old to new. The word must sit at an even offset in the
// message.
func (b ICMPv4) UpdateChecksum16(old, new uint16) {
	b.SetChecksum(checksumUpdate16(b.Checksum(), old, new))
}

// UpdateChecksumAddress patches the checksum for an IPv4 address inside the
// message (in the quoted header) changing from old to new.
func (b ICMPv4) UpdateChecksumAddress(old, new [4]byte) {
	b.SetChecksum(checksumUpdate32(b.Checksum(), old, new))
}

// ComputeChecksum returns the checksum computed from scratch over b,
// skipping the checksum field.
func (b ICMPv4) ComputeChecksum() uint16 {
	s := Checksum(b[:icmpChecksum], 0)
	return ^Checksum(b[icmpChecksum+2:], s)
}

// IsChecksumValid reports whether the checksum over the message b is
// correct.
func (b ICMPv4) IsChecksumValid() bool { return Checksum(b, 0) == 0xffff }

// EchoID returns the identifier of an echo request or reply.
func (b ICMPv4) EchoID() uint16 { return binary.BigEndian.Uint16(b[icmpRest:]) }

// EchoSeq returns the sequence number of an echo request or reply.
func (b ICMPv4) EchoSeq() uint16 { return binary.BigEndian.Uint16(b[icmpRest+2:]) }

// EncodeError writes an ICMP error header (type, code, rest word) in front
// of the already written quote in b[ICMPHeaderLen:], and the checksum over
// the whole of b.
func (b ICMPv4) EncodeError(typ, code uint8, rest uint32) { b.encode(typ, code, rest) }

// EncodeEcho writes an echo request or reply header (typ ICMPEcho or
// ICMPEchoReply, code 0, identifier, sequence number) in front of the data
// already in b[ICMPHeaderLen:], and the checksum over the whole of b.
func (b ICMPv4) EncodeEcho(typ uint8, id, seq uint16) { b.encode(typ, 0, uint32(id)<<16|uint32(seq)) }

func (b ICMPv4) encode(typ, code uint8, rest uint32) {
	_ = b[ICMPHeaderLen-1]
	b[icmpType] = typ
	b[icmpCode] = code
	b[icmpChecksum], b[icmpChecksum+1] = 0, 0
	binary.BigEndian.PutUint32(b[icmpRest:], rest)
	b.SetChecksum(^Checksum(b, 0))
}
