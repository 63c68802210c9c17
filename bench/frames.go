package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/ulvs/ulvs/forward/header"
)

// FrameLen is the length of every generated frame without the FCS: the
// Ethernet minimum, i.e. a 64-byte frame on a wire that carries the 4-byte
// FCS (veth does not).
const FrameLen = header.EthernetMinFrameLen

// FrameSpec describes the UDP frames a generator sends: Flows distinct
// 5-tuples from consecutive source addresses starting at SrcBase, each with
// ports FirstPort.. (PortsPerAddr of them per address), all to Dst:DstPort.
type FrameSpec struct {
	SrcMAC, DstMAC [6]byte
	SrcBase        netip.Addr
	Dst            netip.Addr
	DstPort        uint16
	Flows          int
	// PortsPerAddr is the number of source ports per source address; zero
	// means 250, so 10,000 flows use 40 addresses.
	PortsPerAddr int
	// FirstPort is the first source port; zero means 10000.
	FirstPort uint16
}

// BuildFrames returns Flows frames of FrameLen bytes back to back in one
// slice (frame i at i*FrameLen): Ethernet II, IPv4 with a valid header
// checksum, UDP with a valid checksum and a payload that names the flow.
func BuildFrames(s FrameSpec) ([]byte, error) {
	if s.PortsPerAddr == 0 {
		s.PortsPerAddr = 250
	}
	if s.FirstPort == 0 {
		s.FirstPort = 10000
	}
	switch {
	case s.Flows <= 0:
		return nil, fmt.Errorf("bench: %d flows requested; use at least 1", s.Flows)
	case !s.SrcBase.Is4() || !s.Dst.Is4():
		return nil, errors.New("bench: frame addresses must be IPv4")
	case int(s.FirstPort)+s.PortsPerAddr > 65536:
		return nil, fmt.Errorf("bench: source ports %d+%d overflow 65535", s.FirstPort, s.PortsPerAddr)
	}
	const (
		ipOff  = header.EthernetHeaderLen
		udpOff = ipOff + header.IPv4MinHeaderLen
		udpLen = FrameLen - udpOff
	)
	addrs := (s.Flows + s.PortsPerAddr - 1) / s.PortsPerAddr
	base := binary.BigEndian.Uint32(s.SrcBase.AsSlice())
	if uint64(base)+uint64(addrs) > 1<<32 {
		return nil, errors.New("bench: source addresses overflow 255.255.255.255")
	}
	dst := s.Dst.As4()
	out := make([]byte, s.Flows*FrameLen)
	for i := range s.Flows {
		f := out[i*FrameLen : (i+1)*FrameLen]
		copy(f[0:6], s.DstMAC[:])
		copy(f[6:12], s.SrcMAC[:])
		binary.BigEndian.PutUint16(f[12:14], 0x0800)
		var src [4]byte
		binary.BigEndian.PutUint32(src[:], base+uint32(i/s.PortsPerAddr))
		header.IPv4(f[ipOff:]).Encode(&header.IPv4Fields{
			TotalLength: FrameLen - ipOff, ID: uint16(i), Flags: header.IPv4FlagDF,
			TTL: 64, Protocol: 17, Src: src, Dst: dst,
		})
		u := f[udpOff:]
		binary.BigEndian.PutUint16(u[0:2], s.FirstPort+uint16(i%s.PortsPerAddr))
		binary.BigEndian.PutUint16(u[2:4], s.DstPort)
		binary.BigEndian.PutUint16(u[4:6], udpLen)
		binary.BigEndian.PutUint32(u[8:12], uint32(i)) // payload: the flow number
		sum := ^header.Checksum(u, header.PseudoHeaderChecksum(17, src, dst, udpLen))
		if sum == 0 {
			sum = 0xffff // RFC 768: a computed zero is sent as all ones
		}
		binary.BigEndian.PutUint16(u[6:8], sum)
	}
	return out, nil
}
