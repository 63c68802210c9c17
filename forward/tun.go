package forward

import (
	"encoding/binary"

	"github.com/ulvs/ulvs/forward/header"
)

// TUNOverhead is what IPIP encapsulation adds to a datagram: one option-less
// IPv4 header.
const TUNOverhead = header.IPv4MinHeaderLen

// TUN encapsulates a frame for a tunnelled real server (IPVS "Tunnel",
// ipvsadm -i, IPIP as RFC 2003 describes it) into dst, which is usually a
// TX ring slot, and returns the length written. dst must not overlap frame.
//
// The output is the frame's Ethernet header (with srcMAC and dstMAC, VLAN
// tags kept), a 20-byte outer IPv4 header from outerSrc (the director's
// egress address) to outerDst (the real server), protocol 4, and the inner
// datagram (Ethernet padding dropped) with its TTL decremented and header
// checksum patched. As IPVS's ip_vs_tunnel_xmit does, the outer header
// copies the inner TOS, the inner DF bit and the decremented inner TTL; id
// is the caller's identification counter. The frame grows by TUNOverhead.
//
// mtu is the egress interface's MTU (the largest IPv4 datagram it sends).
// When the encapsulated datagram would not fit:
//   - DF set: DropFragNeeded; the caller sends BuildFragNeeded with
//     mtu-TUNOverhead to the client (rate-limited) so that its path MTU
//     discovery shrinks the segments, as IPVS does.
//   - DF clear: DropTooBig. IPVS with pmtu_disc=1 (its default) lets the
//     IP layer fragment the outer datagram; ulvs writes one frame per
//     input frame and does not fragment, so it drops and counts instead.
//     Clients that clear DF on large datagrams are rare (TCP stacks set
//     DF); raise the real-server-side MTU or lower the client MSS.
//
// Other refusals: DropTTLExpired (TTL <= 1), DropMTUTooSmall (mtu-20 below
// 68, IPVS's limit), DropNoRoom (dst too short), DropNotOurs (not IPv4).
// On any refusal nothing is written and frame is untouched.
func TUN(dst, frame []byte, p *Parsed, outerSrc, outerDst [4]byte, srcMAC, dstMAC [6]byte, mtu int, id uint16) (n int, reason DropReason) {
	if p.L4 == 0 {
		return 0, DropNotOurs
	}
	if p.TTL <= 1 {
		return 0, DropTTLExpired
	}
	if mtu-TUNOverhead < header.IPv4MinMTU {
		return 0, DropMTUTooSmall
	}
	innerLen := p.End - p.L3
	if innerLen+TUNOverhead > mtu {
		if p.DF {
			return 0, DropFragNeeded
		}
		return 0, DropTooBig
	}
	n = p.L3 + TUNOverhead + innerLen
	if len(dst) < n {
		return 0, DropNoRoom
	}
	setMACs(dst, srcMAC, dstMAC)
	if p.L3 == header.EthernetHeaderLen {
		binary.BigEndian.PutUint16(dst[12:], binary.BigEndian.Uint16(frame[12:]))
	} else {
		copy(dst[12:p.L3], frame[12:p.L3]) // VLAN tags and the EtherType
	}
	// dst, a TX ring slot as a rule, is only ever stored to: reading the
	// copied inner header back to patch it would wait for the slot's cache
	// miss. The new TTL and checksum come from frame instead.
	ttl, sum := header.IPv4(frame[p.L3:p.End]).DecrementedTTL()
	inner := header.IPv4(dst[p.L3+TUNOverhead : n])
	copy(inner, frame[p.L3:p.End])
	// TTL, protocol and checksum are bytes 8-11: one store.
	binary.BigEndian.PutUint32(inner[8:], uint32(ttl)<<24|uint32(p.Proto)<<16|uint32(sum))
	var flags uint16
	if p.DF {
		flags = header.IPv4FlagDF
	}
	header.IPv4(dst[p.L3:]).EncodeFields(p.TOS, uint16(innerLen+TUNOverhead), id, flags, p.TTL-1, header.ProtoIPIP,
		binary.BigEndian.Uint32(outerSrc[:]), binary.BigEndian.Uint32(outerDst[:]))
	return n, DropNone
}
