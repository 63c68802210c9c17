package forward

import (
	"encoding/binary"

	"github.com/ulvs/ulvs/forward/header"
)

// refSum is RFC 1071 written plainly: 16-bit words of the concatenated
// parts, odd trailing byte padded, carries folded at the end. The parts
// must have even lengths except the last.
func refSum(parts ...[]byte) uint16 {
	var s uint64
	for _, b := range parts {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint64(b[i])<<8 | uint64(b[i+1])
		}
		if len(b)%2 == 1 {
			s += uint64(b[len(b)-1]) << 8
		}
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// refPseudo returns the IPv4 pseudo-header bytes.
func refPseudo(src, dst [4]byte, proto uint8, l4len int) []byte {
	return []byte{src[0], src[1], src[2], src[3], dst[0], dst[1], dst[2], dst[3], 0, proto, byte(l4len >> 8), byte(l4len)}
}

// refIPChecksum recomputes an IPv4 header checksum from scratch.
func refIPChecksum(ip []byte) {
	hl := int(ip[0]&0xf) * 4
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], ^refSum(ip[:hl]))
}

// refL4Checksum recomputes a TCP or UDP checksum from scratch over l4 (the
// whole segment). A UDP checksum of zero is kept as "none".
func refL4Checksum(l4 []byte, proto uint8, src, dst [4]byte) {
	off := 16
	if proto == header.ProtoUDP {
		off = 6
		if l4[6] == 0 && l4[7] == 0 {
			return
		}
	}
	l4[off], l4[off+1] = 0, 0
	c := ^refSum(refPseudo(src, dst, proto, len(l4)), l4)
	if proto == header.ProtoUDP && c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[off:], c)
}

// testFrame describes a frame for the tests to build with full
// checksums.
type testFrame struct {
	vlan     uint16 // 0: untagged
	src, dst [4]byte
	proto    uint8
	ttl      uint8
	tos      uint8
	df       bool
	id       uint16
	options  []byte // a multiple of 4 bytes
	sport    uint16
	dport    uint16
	tcpFlags uint8
	payload  []byte
	udpNoSum bool
	icmpType uint8 // for proto ICMP: the error type; payload is the quote
	icmpCode uint8
	icmpRest uint32
	srcMAC   [6]byte
	dstMAC   [6]byte
	padTo60  bool
}

func (f *testFrame) build() []byte {
	var b []byte
	b = append(b, f.dstMAC[:]...)
	b = append(b, f.srcMAC[:]...)
	if f.vlan != 0 {
		b = append(b, 0x81, 0x00, byte(f.vlan>>8), byte(f.vlan))
	}
	b = append(b, 0x08, 0x00)
	l3 := len(b)
	hl := 20 + len(f.options)
	b = append(b, make([]byte, hl)...)
	ip := b[l3:]
	ip[0] = 0x40 | byte(hl/4)
	ip[1] = f.tos
	binary.BigEndian.PutUint16(ip[4:], f.id)
	if f.df {
		ip[6] = 0x40
	}
	ip[8] = f.ttl
	ip[9] = f.proto
	copy(ip[12:], f.src[:])
	copy(ip[16:], f.dst[:])
	copy(ip[20:], f.options)
	l4 := len(b)
	switch f.proto {
	case header.ProtoTCP:
		b = append(b, make([]byte, 20)...)
		t := b[l4:]
		binary.BigEndian.PutUint16(t[0:], f.sport)
		binary.BigEndian.PutUint16(t[2:], f.dport)
		binary.BigEndian.PutUint32(t[4:], 0x01020304)
		t[12] = 5 << 4
		t[13] = f.tcpFlags
		binary.BigEndian.PutUint16(t[14:], 64240)
	case header.ProtoUDP:
		b = append(b, make([]byte, 8)...)
		u := b[l4:]
		binary.BigEndian.PutUint16(u[0:], f.sport)
		binary.BigEndian.PutUint16(u[2:], f.dport)
		binary.BigEndian.PutUint16(u[4:], uint16(8+len(f.payload)))
		if !f.udpNoSum {
			u[6] = 1 // "has a checksum": refL4Checksum fills it
		}
	case header.ProtoICMP:
		b = append(b, f.icmpType, f.icmpCode, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint32(b[l4+4:], f.icmpRest)
	}
	b = append(b, f.payload...)
	binary.BigEndian.PutUint16(b[l3+2:], uint16(len(b)-l3))
	refIPChecksum(b[l3:])
	switch f.proto {
	case header.ProtoTCP, header.ProtoUDP:
		refL4Checksum(b[l4:], f.proto, f.src, f.dst)
	case header.ProtoICMP:
		binary.BigEndian.PutUint16(b[l4+2:], ^refSum(b[l4:]))
	}
	if f.padTo60 && len(b) < 60 {
		b = append(b, make([]byte, 60-len(b))...)
	}
	return b
}

// datagram returns the IPv4 datagram of a built frame (what an ICMP error
// quotes or a tunnel carries).
func (f *testFrame) datagram() []byte {
	b := f.build()
	off := 14
	if f.vlan != 0 {
		off += 4
	}
	tl := int(binary.BigEndian.Uint16(b[off+2:]))
	return b[off : off+tl]
}
