package header

import "encoding/binary"

// Ethernet II header (IEEE 802.3 clause 3.2, DIX framing):
//
//	 0                   1
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3
//	+-----------+-----------+---+
//	|  dst MAC  |  src MAC  |typ|
//	+-----------+-----------+---+
//
// With an 802.1Q (or 802.1ad) tag, typ is the TPID 0x8100 (0x88A8) and is
// followed by a 2-byte TCI and the real EtherType; see VLAN.
const (
	ethDst  = 0
	ethSrc  = 6
	ethType = 12

	// EthernetHeaderLen is the length of an untagged Ethernet II header.
	EthernetHeaderLen = 14
	// VLANTagLen is the length an 802.1Q or 802.1ad tag adds.
	VLANTagLen = 4
	// EthernetMinFrameLen is the minimum frame length without the FCS;
	// shorter payloads are padded, so bytes past an IPv4 packet's total
	// length are padding.
	EthernetMinFrameLen = 60
)

// EtherType values the director looks at.
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeVLAN uint16 = 0x8100 // IEEE 802.1Q customer tag
	EtherTypeQinQ uint16 = 0x88A8 // IEEE 802.1ad service tag
	EtherTypeIPv6 uint16 = 0x86DD
)

// Ethernet is a view of an Ethernet II header. IsValid must hold before
// the other methods are used.
type Ethernet []byte

// IsValid reports whether b is long enough for an untagged header.
func (b Ethernet) IsValid() bool { return len(b) >= EthernetHeaderLen }

// Dst returns the destination MAC address.
func (b Ethernet) Dst() [6]byte { return [6]byte(b[ethDst : ethDst+6]) }

// Src returns the source MAC address.
func (b Ethernet) Src() [6]byte { return [6]byte(b[ethSrc : ethSrc+6]) }

// SetDst sets the destination MAC address.
func (b Ethernet) SetDst(a [6]byte) { copy(b[ethDst:ethDst+6], a[:]) }

// SetSrc sets the source MAC address.
func (b Ethernet) SetSrc(a [6]byte) { copy(b[ethSrc:ethSrc+6], a[:]) }

// EtherType returns the type field at offset 12: the payload's EtherType,
// or a VLAN TPID when the frame is tagged.
func (b Ethernet) EtherType() uint16 { return binary.BigEndian.Uint16(b[ethType:]) }

// SetEtherType sets the type field at offset 12.
func (b Ethernet) SetEtherType(t uint16) { binary.BigEndian.PutUint16(b[ethType:], t) }

// IsGroupAddress reports whether the MAC address a is a multicast or
// broadcast address (the I/G bit, the low bit of the first octet).
func IsGroupAddress(a [6]byte) bool { return a[0]&1 != 0 }

// VLAN is a view of the 4 bytes that follow an 802.1Q/802.1ad TPID: the tag
// control information and the encapsulated EtherType.
//
//	+-----+---+-------------+-----------+
//	| PCP |DEI|   VLAN ID   | EtherType |
//	+-----+---+-------------+-----------+
//	  3b    1b     12b          16b
type VLAN []byte

// IsValid reports whether b holds a whole tag.
func (b VLAN) IsValid() bool { return len(b) >= VLANTagLen }

// TCI returns the tag control information (PCP, DEI and VLAN ID).
func (b VLAN) TCI() uint16 { return binary.BigEndian.Uint16(b[0:]) }

// ID returns the 12-bit VLAN identifier.
func (b VLAN) ID() uint16 { return b.TCI() & 0x0fff }

// EtherType returns the encapsulated EtherType (or the next TPID).
func (b VLAN) EtherType() uint16 { return binary.BigEndian.Uint16(b[2:]) }
