package header

import (
	"encoding/binary"
	"net/netip"
)

// ARP packet for Ethernet and IPv4 (RFC 826):
//
//	 0       2       4   5   6       8          14      18         24      28
//	+-------+-------+---+---+-------+----------+-------+----------+-------+
//	| htype | ptype |hln|pln|  op   | sender HW| snd IP| target HW| tgt IP|
//	+-------+-------+---+---+-------+----------+-------+----------+-------+
const (
	arpHType     = 0
	arpPType     = 2
	arpHLen      = 4
	arpPLen      = 5
	arpOp        = 6
	arpSenderHW  = 8
	arpSenderIP  = 14
	arpTargetHW  = 18
	arpTargetIP  = 24
	arpHTypeEth  = 1
	arpEtherIPv4 = 28

	// ARPLen is the length of an ARP packet for Ethernet and IPv4.
	ARPLen = arpEtherIPv4
)

// ARP operation codes.
const (
	ARPRequest uint16 = 1
	ARPReply   uint16 = 2
)

// ARP is a view of an Ethernet/IPv4 ARP packet. IsValid must hold before
// the other methods are used.
type ARP []byte

// IsValid reports whether b is a whole ARP packet for Ethernet hardware
// addresses and IPv4 protocol addresses, the only kind a director answers.
func (b ARP) IsValid() bool {
	return len(b) >= ARPLen &&
		binary.BigEndian.Uint16(b[arpHType:]) == arpHTypeEth &&
		binary.BigEndian.Uint16(b[arpPType:]) == EtherTypeIPv4 &&
		b[arpHLen] == 6 && b[arpPLen] == 4
}

// Op returns the operation (ARPRequest or ARPReply).
func (b ARP) Op() uint16 { return binary.BigEndian.Uint16(b[arpOp:]) }

// SenderHW returns the sender's hardware address.
func (b ARP) SenderHW() [6]byte { return [6]byte(b[arpSenderHW : arpSenderHW+6]) }

// SenderIP returns the sender's IPv4 address.
func (b ARP) SenderIP() [4]byte { return [4]byte(b[arpSenderIP : arpSenderIP+4]) }

// TargetHW returns the target's hardware address.
func (b ARP) TargetHW() [6]byte { return [6]byte(b[arpTargetHW : arpTargetHW+6]) }

// TargetIP returns the target's IPv4 address.
func (b ARP) TargetIP() [4]byte { return [4]byte(b[arpTargetIP : arpTargetIP+4]) }

// TargetAddr returns the target's IPv4 address as a netip.Addr.
func (b ARP) TargetAddr() netip.Addr { return netip.AddrFrom4(b.TargetIP()) }

// ARPFields holds the fields Encode writes.
type ARPFields struct {
	Op       uint16
	SenderHW [6]byte
	SenderIP [4]byte
	TargetHW [6]byte
	TargetIP [4]byte
}

// Encode writes a whole Ethernet/IPv4 ARP packet into b, which must be at
// least ARPLen bytes long.
func (b ARP) Encode(f *ARPFields) {
	_ = b[ARPLen-1]
	binary.BigEndian.PutUint16(b[arpHType:], arpHTypeEth)
	binary.BigEndian.PutUint16(b[arpPType:], EtherTypeIPv4)
	b[arpHLen] = 6
	b[arpPLen] = 4
	binary.BigEndian.PutUint16(b[arpOp:], f.Op)
	copy(b[arpSenderHW:], f.SenderHW[:])
	copy(b[arpSenderIP:], f.SenderIP[:])
	copy(b[arpTargetHW:], f.TargetHW[:])
	copy(b[arpTargetIP:], f.TargetIP[:])
}
