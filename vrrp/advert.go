package vrrp

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/ulvs/ulvs/forward/header"
)

// VRRPv2 advertisement (RFC 3768 section 5.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Auth Type   |   Adver Int   |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         IP Address (1..n)                     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                     Authentication Data (1)                   |
//	|                     Authentication Data (2)                   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// VRRPv3 (RFC 5798 section 5.1) replaces the second word:
//
//	|(rsvd) |     Max Adver Int     |          Checksum             |
//
// and has no authentication data.
const (
	offVerType  = 0
	offVRID     = 1
	offPriority = 2
	offCount    = 3
	offAuthType = 4 // v2
	offAdverInt = 4 // v2: byte 5; v3: low 12 bits of bytes 4..5
	offChecksum = 6
	offAddrs    = 8

	// HeaderLen is the fixed part of an advertisement.
	HeaderLen = 8
	// AuthLen is the v2 authentication data that follows the addresses.
	AuthLen = 8
	// MaxAddrs is the most addresses one advertisement carries.
	MaxAddrs = 255

	// Proto is VRRP's IP protocol number.
	Proto = 112
	// TTL is what advertisements are sent with and (multicast) must arrive with.
	TTL = 255
	// TOS is the type of service keepalived sets: internetwork control.
	TOS = 0xc0
	// TypeAdvertisement is the only VRRP message type.
	TypeAdvertisement = 1

	ipHeaderLen = 20
)

// Group is the IPv4 multicast group of VRRP (224.0.0.18).
var Group = netip.AddrFrom4([4]byte{224, 0, 0, 18})

// Auth types of VRRPv2 (RFC 2338 section 5.3.6).
const (
	AuthNone uint8 = 0
	AuthPass uint8 = 1
	AuthAH   uint8 = 2
)

// Priorities with a meaning of their own.
const (
	PriorityStop    = 0   // the master resigns (shutdown)
	PriorityDefault = 100 // keepalived's default
	PriorityOwner   = 255 // owns the addresses; becomes master at once
)

// Advert is a view of a VRRP advertisement (without the IP header). The
// accessors assume IsValid has returned true.
type Advert []byte

// IsValid reports whether a is long enough for its fixed header and the
// addresses (and, for v2, authentication data) its count announces.
func (a Advert) IsValid() bool {
	if len(a) < HeaderLen {
		return false
	}
	return len(a) >= a.WantLen()
}

// WantLen is the length the header announces: header, addresses and, for
// v2, the authentication data.
func (a Advert) WantLen() int {
	n := HeaderLen + 4*int(a[offCount])
	if a.Version() == 2 {
		n += AuthLen
	}
	return n
}

// Version is 2 or 3 for valid advertisements.
func (a Advert) Version() uint8 { return a[offVerType] >> 4 }

// Type is 1 (advertisement).
func (a Advert) Type() uint8 { return a[offVerType] & 0x0f }

// VRID is the virtual router id.
func (a Advert) VRID() uint8 { return a[offVRID] }

// Priority is the sender's priority.
func (a Advert) Priority() uint8 { return a[offPriority] }

// Count is the number of addresses.
func (a Advert) Count() int { return int(a[offCount]) }

// AuthType is the v2 authentication type.
func (a Advert) AuthType() uint8 { return a[offAuthType] }

// Interval is the advertisement interval: whole seconds in v2,
// centiseconds in v3.
func (a Advert) Interval() time.Duration {
	if a.Version() == 2 {
		return time.Duration(a[offAdverInt+1]) * time.Second
	}
	return time.Duration(binary.BigEndian.Uint16(a[offAdverInt:])&0x0fff) * 10 * time.Millisecond
}

// Checksum is the checksum field.
func (a Advert) Checksum() uint16 { return binary.BigEndian.Uint16(a[offChecksum:]) }

// Addr returns address i (0 <= i < Count).
func (a Advert) Addr(i int) [4]byte {
	return [4]byte(a[offAddrs+4*i : offAddrs+4*i+4])
}

// AuthData is the v2 authentication data (8 bytes).
func (a Advert) AuthData() []byte {
	o := offAddrs + 4*a.Count()
	return a[o : o+AuthLen]
}

// Fields are the values of an advertisement to encode.
type Fields struct {
	Version  uint8 // 2 or 3
	VRID     uint8
	Priority uint8
	// Interval is rounded down to whole seconds (v2, 1..255) or
	// centiseconds (v3, 1..4095).
	Interval time.Duration
	AuthType uint8   // v2 only
	AuthData [8]byte // v2 only; PASS: the password, zero padded
	Addrs    [][4]byte
}

// Len is the encoded length of f (without the IP header).
func (f *Fields) Len() int {
	n := HeaderLen + 4*len(f.Addrs)
	if f.Version == 2 {
		n += AuthLen
	}
	return n
}

// Encode writes the advertisement into b, which must hold f.Len() bytes,
// with the checksum field zero; the caller fills it in with SetChecksum.
func (f *Fields) Encode(b []byte) int {
	n := f.Len()
	b = b[:n]
	b[offVerType] = f.Version<<4 | TypeAdvertisement
	b[offVRID] = f.VRID
	b[offPriority] = f.Priority
	b[offCount] = uint8(len(f.Addrs))
	if f.Version == 2 {
		b[offAuthType] = f.AuthType
		b[offAdverInt+1] = uint8(f.Interval / time.Second)
	} else {
		binary.BigEndian.PutUint16(b[offAdverInt:], uint16(f.Interval/(10*time.Millisecond))&0x0fff)
	}
	b[offChecksum], b[offChecksum+1] = 0, 0
	for i, addr := range f.Addrs {
		copy(b[offAddrs+4*i:], addr[:])
	}
	if f.Version == 2 {
		copy(b[offAddrs+4*len(f.Addrs):], f.AuthData[:])
	}
	return n
}

// Checksum computes the checksum a should carry. pseudo adds the IPv4
// pseudo-header (src, dst, zero, protocol 112, length), which keepalived
// uses for v3 by default; v2 never has it. Over a message that carries a
// correct checksum the result is zero.
func Checksum(a []byte, src, dst [4]byte, pseudo bool) uint16 {
	var initial uint16
	if pseudo {
		initial = header.PseudoHeaderChecksum(Proto, src, dst, uint16(len(a)))
	}
	return ^header.Checksum(a, initial)
}

// checksumOK verifies a's checksum: a correct sum over the message (with
// its checksum field) is zero.
func checksumOK(a []byte, src, dst [4]byte, pseudo bool) bool {
	return Checksum(a, src, dst, pseudo) == 0
}

// SetChecksum fills in a's checksum field.
func (a Advert) SetChecksum(src, dst [4]byte, pseudo bool) {
	a[offChecksum], a[offChecksum+1] = 0, 0
	binary.BigEndian.PutUint16(a[offChecksum:], Checksum(a, src, dst, pseudo))
}

// Packet is a view of an IPv4 packet carrying an advertisement, as a raw
// IP socket receives it.
type Packet []byte

// IPHeaderLen is the IPv4 header length the packet declares.
func (p Packet) IPHeaderLen() int { return int(p[0]&0x0f) * 4 }

// TotalLen is the IPv4 total length field.
func (p Packet) TotalLen() int { return int(binary.BigEndian.Uint16(p[2:])) }

// TTL is the IPv4 time to live.
func (p Packet) TTL() uint8 { return p[8] }

// Src is the IPv4 source address.
func (p Packet) Src() [4]byte { return [4]byte(p[12:16]) }

// Dst is the IPv4 destination address.
func (p Packet) Dst() [4]byte { return [4]byte(p[16:20]) }

// Advert is the payload after the IP header.
func (p Packet) Advert() Advert { return Advert(p[p.IPHeaderLen():]) }

// ipSane checks what must hold before any field may be read: an IPv4
// header without truncation, protocol 112, and room for the fixed VRRP
// header.
func (p Packet) ipSane() bool {
	if len(p) < ipHeaderLen || p[0]>>4 != 4 {
		return false
	}
	hl := p.IPHeaderLen()
	return hl >= ipHeaderLen && len(p) >= hl+HeaderLen && p[9] == Proto
}

// EncodePacket writes an IPv4 header and the advertisement f from src to
// dst into b exactly as keepalived builds it (vrrp_build_ip4): TOS 0xc0,
// the given id, no fragmentation, TTL 255, header checksum filled. b must
// hold 20+f.Len() bytes. pseudo selects the v3 checksum with the IPv4
// pseudo-header (ignored for v2). It returns the packet length.
func EncodePacket(b []byte, f *Fields, src, dst [4]byte, id uint16, pseudo bool) int {
	n := ipHeaderLen + f.Len()
	header.IPv4(b).Encode(&header.IPv4Fields{TOS: TOS, TotalLength: uint16(n), ID: id, TTL: TTL, Protocol: Proto, Src: src, Dst: dst})
	adv := Advert(b[ipHeaderLen:n])
	f.Encode(adv)
	adv.SetChecksum(src, dst, pseudo && f.Version == 3)
	return n
}
