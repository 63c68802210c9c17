package header

import "encoding/binary"

// TCP header (RFC 9293 section 3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Sequence Number                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Acknowledgment Number                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data |       |C|E|U|A|P|R|S|F|                               |
//	| Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//	|       |       |R|E|G|K|H|T|N|N|                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Checksum            |         Urgent Pointer        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	tcpSrcPort  = 0
	tcpDstPort  = 2
	tcpSeq      = 4
	tcpAck      = 8
	tcpDataOff  = 12
	tcpFlags    = 13
	tcpWindow   = 14
	tcpChecksum = 16

	// TCPMinHeaderLen is the length of a TCP header without options.
	TCPMinHeaderLen = 20
	// TCPChecksumOffset is the checksum field's offset in the header (the
	// csum_offset a CHECKSUM_PARTIAL skb carries for TCP).
	TCPChecksumOffset = tcpChecksum
)

// TCP flag bits as they appear in byte 13 of the header.
const (
	TCPFlagFIN uint8 = 1 << iota
	TCPFlagSYN
	TCPFlagRST
	TCPFlagPSH
	TCPFlagACK
	TCPFlagURG
	TCPFlagECE
	TCPFlagCWR
)

// TCP is a view of a TCP header (and, when longer, its payload).
// IsValid must hold before the other methods are used.
type TCP []byte

// IsValid reports whether b holds a whole header: at least 20 bytes and a
// data offset of at least 5 words that fits in b.
func (b TCP) IsValid() bool {
	if len(b) < TCPMinHeaderLen {
		return false
	}
	off := b.DataOffset()
	return off >= TCPMinHeaderLen && off <= len(b)
}

// SrcPort returns the source port.
func (b TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(b[tcpSrcPort:]) }

// DstPort returns the destination port.
func (b TCP) DstPort() uint16 { return binary.BigEndian.Uint16(b[tcpDstPort:]) }

// Seq returns the sequence number.
func (b TCP) Seq() uint32 { return binary.BigEndian.Uint32(b[tcpSeq:]) }

// Ack returns the acknowledgment number.
func (b TCP) Ack() uint32 { return binary.BigEndian.Uint32(b[tcpAck:]) }

// DataOffset returns the header length in bytes.
func (b TCP) DataOffset() int { return int(b[tcpDataOff]>>4) * 4 }

// Flags returns the flag byte (TCPFlagFIN ... TCPFlagCWR).
func (b TCP) Flags() uint8 { return b[tcpFlags] }

// Window returns the window field.
func (b TCP) Window() uint16 { return binary.BigEndian.Uint16(b[tcpWindow:]) }

// Checksum returns the checksum field.
func (b TCP) Checksum() uint16 { return binary.BigEndian.Uint16(b[tcpChecksum:]) }

// SetChecksum sets the checksum field.
func (b TCP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[tcpChecksum:], v) }

// SetSrcPort sets the source port without touching the checksum.
func (b TCP) SetSrcPort(p uint16) { binary.BigEndian.PutUint16(b[tcpSrcPort:], p) }

// SetDstPort sets the destination port without touching the checksum.
func (b TCP) SetDstPort(p uint16) { binary.BigEndian.PutUint16(b[tcpDstPort:], p) }

// SetSrcPortWithChecksumUpdate sets the source port and patches the
// checksum.
func (b TCP) SetSrcPortWithChecksumUpdate(p uint16) {
	b.SetChecksum(checksumUpdate16(b.Checksum(), b.SrcPort(), p))
	b.SetSrcPort(p)
}

// SetDstPortWithChecksumUpdate sets the destination port and patches the
// checksum.
func (b TCP) SetDstPortWithChecksumUpdate(p uint16) {
	b.SetChecksum(checksumUpdate16(b.Checksum(), b.DstPort(), p))
	b.SetDstPort(p)
}

// UpdateChecksumPseudoHeaderAddress patches the checksum for an address of
// the IPv4 pseudo-header changing from old to new.
func (b TCP) UpdateChecksumPseudoHeaderAddress(old, new [4]byte) {
	b.SetChecksum(checksumUpdate32(b.Checksum(), old, new))
}

// ComputeChecksum returns the checksum computed from scratch over the
// pseudo-header and b (header and payload, exactly the segment), skipping
// the checksum field.
func (b TCP) ComputeChecksum(src, dst [4]byte) uint16 {
	s := PseudoHeaderChecksum(ProtoTCP, src, dst, uint16(len(b)))
	s = Checksum(b[:tcpChecksum], s)
	return ^Checksum(b[tcpChecksum+2:], s)
}

// IsChecksumValid reports whether the checksum of the segment b, sent from
// src to dst, is correct.
func (b TCP) IsChecksumValid(src, dst [4]byte) bool {
	return Checksum(b, PseudoHeaderChecksum(ProtoTCP, src, dst, uint16(len(b)))) == 0xffff
}
