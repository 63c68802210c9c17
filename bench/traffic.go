package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ulvs/ulvs/forward/header"
)

// The stamp is the first StampLen bytes of every generated packet's L4
// payload; the sinks read it back to verify and time the packet:
//
//	[0]      'U'                  magic
//	[1]      epoch                window number; 0 = warmup, ignored by sinks
//	[2:6]    flow id              NoFlow for single-packet connections
//	[6:10]   flow sequence        per flow, from 1
//	[10:14]  global sequence      per window, from 0
//	[14:18]  send time            low 32 bits of ns since the run's clock base
//
// Every field starts on an even offset of an even payload offset, so the
// generator patches the L4 checksum by adding the fields' 16-bit words.
const (
	StampLen   = 18
	stampMagic = 'U'
	// NoFlow marks SYN-flood and new-connection packets: each is its own
	// connection, so flow consistency and reordering do not apply.
	NoFlow = ^uint32(0)
)

// Protocol numbers the generator speaks.
const (
	protoTCP = 6
	protoUDP = 17
)

// Packet is one packet of a traffic source before it is placed on the
// topology: the client address is an index, the destination is always the
// VIP and the service port.
type Packet struct {
	Proto    uint8 // protoTCP or protoUDP
	Client   int   // client address index (0..ClientAddrs-1)
	SrcPort  uint16
	TCPFlags uint8
	TCPSeq   uint32
	TCPAck   uint32
	// FrameLen is the Ethernet frame length without FCS (at least the
	// headers plus StampLen).
	FrameLen int
	// Payload is original payload bytes (pcap replay); the stamp overwrites
	// its first StampLen bytes. Zero-filled beyond what it holds.
	Payload []byte
	// At is the packet's time from the start of the capture (pcap replay).
	At   time.Duration
	Flow uint32
}

// Traffic is what a generator sends: Packets in order (looped), plus TCP
// flows' opening SYNs that subjects needing them get before warmup.
type Traffic struct {
	// Name describes the source ("synthetic: ..." or the capture file).
	Name    string
	Packets []Packet
	// Flows is the number of distinct flow ids in Packets.
	Flows int
	// Paced is true when Packets carry recorded times (pcap).
	Paced bool
	// Duration is the recorded span of one pass (pcap).
	Duration time.Duration
	// SYNFlood makes every packet a SYN from a fresh source port.
	SYNFlood bool
	// NewConnRate adds this many single-SYN connections per second.
	NewConnRate float64
	// TCP and UDP count packets per protocol in one pass.
	TCP, UDP int
}

// ClientAddrs is how many client source addresses the generator uses:
// 10.0.1.10-10.0.1.89, inside the client subnet so that no reverse-path
// filter objects, below the VIP (10.0.1.100).
const ClientAddrs = 80

// clientAddr returns client address i.
func clientAddr(i int) [4]byte { return [4]byte{10, 0, 1, byte(10 + i%ClientAddrs)} }

// minFrameLen is the smallest frame for proto: headers plus the stamp.
func minFrameLen(proto uint8) int {
	if proto == protoTCP {
		return header.EthernetHeaderLen + header.IPv4MinHeaderLen + header.TCPMinHeaderLen + StampLen
	}
	return header.EthernetHeaderLen + header.IPv4MinHeaderLen + 8 + StampLen
}

// MaxFrameLen is the largest frame the generator builds (a 1500-byte MTU).
const MaxFrameLen = header.EthernetHeaderLen + 1500

// SyntheticSpec describes synthetic traffic.
type SyntheticSpec struct {
	// Flows is the number of concurrent flows (default 1000).
	Flows int
	// Sizes are frame lengths without FCS, used round robin per flow
	// (default 60: 64 bytes on the wire). TCP frames are at least 72.
	Sizes []int
	// TCPShare is the fraction of flows that are TCP (0..1).
	TCPShare float64
	// NewConnRate adds single-SYN connections per second.
	NewConnRate float64
	// SYNFlood makes every packet a SYN from a fresh source port.
	SYNFlood bool
}

// Synthetic builds synthetic traffic: Flows flows spread over the client
// addresses, one packet per flow per pass.
func Synthetic(s SyntheticSpec) (*Traffic, error) {
	if s.Flows == 0 {
		s.Flows = 1000
	}
	if len(s.Sizes) == 0 {
		s.Sizes = []int{60}
	}
	switch {
	case s.Flows < 0 || s.Flows > ClientAddrs*64000:
		return nil, fmt.Errorf("bench: %d flows: use 1..%d", s.Flows, ClientAddrs*64000)
	case s.TCPShare < 0 || s.TCPShare > 1:
		return nil, fmt.Errorf("bench: TCP share %v: use 0..1", s.TCPShare)
	case s.NewConnRate < 0:
		return nil, fmt.Errorf("bench: new-connection rate %v: must not be negative", s.NewConnRate)
	}
	for _, sz := range s.Sizes {
		if sz < minFrameLen(protoUDP) || sz > MaxFrameLen {
			return nil, fmt.Errorf("bench: frame size %d: use %d..%d bytes (without FCS)", sz, minFrameLen(protoUDP), MaxFrameLen)
		}
	}
	t := &Traffic{SYNFlood: s.SYNFlood, NewConnRate: s.NewConnRate, Flows: s.Flows}
	t.Name = fmt.Sprintf("synthetic: %d flows, sizes %v, %.0f%% TCP", s.Flows, s.Sizes, 100*s.TCPShare)
	if s.SYNFlood {
		t.Name += ", SYN flood"
	} else if s.NewConnRate > 0 {
		t.Name += fmt.Sprintf(", %.0f new connections/s", s.NewConnRate)
	}
	perAddr := (s.Flows + ClientAddrs - 1) / ClientAddrs
	tcpEvery := 0.0
	if s.TCPShare > 0 {
		tcpEvery = 1 / s.TCPShare
	}
	nextTCP := 0.0
	t.Packets = make([]Packet, s.Flows)
	for i := range s.Flows {
		p := Packet{Proto: protoUDP, Client: i / perAddr, SrcPort: uint16(1024 + i%perAddr), Flow: uint32(i),
			FrameLen: s.Sizes[i%len(s.Sizes)]}
		if s.SYNFlood || (tcpEvery > 0 && float64(i) >= nextTCP) {
			p.Proto, p.TCPFlags, p.TCPSeq, p.TCPAck = protoTCP, header.TCPFlagACK|header.TCPFlagPSH, uint32(i)*7919, 1
			if s.SYNFlood {
				p.TCPFlags, p.TCPAck, p.Flow = header.TCPFlagSYN, 0, NoFlow
			}
			p.FrameLen = max(p.FrameLen, minFrameLen(protoTCP))
			nextTCP += tcpEvery
			t.TCP++
		} else {
			t.UDP++
		}
		t.Packets[i] = p
	}
	if s.SYNFlood {
		t.Flows = 0
	}
	return t, nil
}

// template is one Packet as a ready frame on the topology.
type template struct {
	frame   []byte
	l4      int    // offset of the L4 header
	csumOff int    // offset of the L4 checksum
	stamp   int    // offset of the stamp
	base    uint16 // checksum sum with source port and stamp zeroed
	sport   uint16
	proto   uint8
	flow    uint32
	at      time.Duration
}

// placement is where the generator's frames go on the topology.
type placement struct {
	srcMAC, dstMAC [6]byte
	vip            [4]byte
	port           uint16
}

// buildTemplate lays p out as a frame with valid IPv4 checksum and an L4
// checksum base that excludes the source port and the stamp.
func buildTemplate(p *Packet, pl placement) (template, error) {
	if p.FrameLen < minFrameLen(p.Proto) || p.FrameLen > MaxFrameLen {
		return template{}, fmt.Errorf("bench: frame of %d bytes: must be %d..%d", p.FrameLen, minFrameLen(p.Proto), MaxFrameLen)
	}
	f := make([]byte, p.FrameLen)
	copy(f[0:6], pl.dstMAC[:])
	copy(f[6:12], pl.srcMAC[:])
	binary.BigEndian.PutUint16(f[12:14], 0x0800)
	const ipOff = header.EthernetHeaderLen
	l4 := ipOff + header.IPv4MinHeaderLen
	src := clientAddr(p.Client)
	header.IPv4(f[ipOff:]).Encode(&header.IPv4Fields{
		TotalLength: uint16(p.FrameLen - ipOff), Flags: header.IPv4FlagDF, TTL: 64,
		Protocol: p.Proto, Src: src, Dst: pl.vip,
	})
	l4Len := p.FrameLen - l4
	t := template{frame: f, l4: l4, sport: p.SrcPort, proto: p.Proto, flow: p.Flow, at: p.At}
	u := f[l4:]
	binary.BigEndian.PutUint16(u[2:4], pl.port)
	switch p.Proto {
	case protoUDP:
		binary.BigEndian.PutUint16(u[4:6], uint16(l4Len))
		t.csumOff, t.stamp = l4+6, l4+8
	case protoTCP:
		binary.BigEndian.PutUint32(u[4:8], p.TCPSeq)
		binary.BigEndian.PutUint32(u[8:12], p.TCPAck)
		u[12] = 5 << 4
		u[13] = p.TCPFlags
		binary.BigEndian.PutUint16(u[14:16], 65535)
		t.csumOff, t.stamp = l4+16, l4+header.TCPMinHeaderLen
	default:
		return template{}, errors.New("bench: only TCP and UDP packets can be generated")
	}
	copy(f[t.stamp:], p.Payload)
	clear(f[t.stamp : t.stamp+StampLen])
	t.base = header.Checksum(u, header.PseudoHeaderChecksum(p.Proto, src, pl.vip, uint16(l4Len)))
	return t, nil
}

// stampFields are the per-packet values the generator writes.
type stampFields struct {
	sport   uint16
	epoch   uint8
	flow    uint32
	flowSeq uint32
	seq     uint32
	ts      uint32
}

// write copies t into dst (len(dst) >= len(t.frame)), writes the source
// port and the stamp, and patches the L4 checksum; it returns the length.
func (t *template) write(dst []byte, s stampFields) int {
	n := copy(dst, t.frame)
	binary.BigEndian.PutUint16(dst[t.l4:], s.sport)
	st := dst[t.stamp : t.stamp+StampLen]
	st[0], st[1] = stampMagic, s.epoch
	binary.BigEndian.PutUint32(st[2:], s.flow)
	binary.BigEndian.PutUint32(st[6:], s.flowSeq)
	binary.BigEndian.PutUint32(st[10:], s.seq)
	binary.BigEndian.PutUint32(st[14:], s.ts)
	sum := uint32(t.base) + uint32(s.sport) + uint32(stampMagic)<<8 + uint32(s.epoch) +
		s.flow>>16 + s.flow&0xffff + s.flowSeq>>16 + s.flowSeq&0xffff +
		s.seq>>16 + s.seq&0xffff + s.ts>>16 + s.ts&0xffff
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	c := ^uint16(sum)
	if c == 0 && t.proto == protoUDP {
		c = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(dst[t.csumOff:], c)
	return n
}

// Stamp is a decoded stamp.
type Stamp struct {
	Epoch   uint8
	Flow    uint32
	FlowSeq uint32
	Seq     uint32
	TS      uint32
}

// parseStamp decodes the stamp at the start of an L4 payload.
func parseStamp(b []byte) (Stamp, bool) {
	if len(b) < StampLen || b[0] != stampMagic {
		return Stamp{}, false
	}
	return Stamp{Epoch: b[1], Flow: binary.BigEndian.Uint32(b[2:]), FlowSeq: binary.BigEndian.Uint32(b[6:]),
		Seq: binary.BigEndian.Uint32(b[10:]), TS: binary.BigEndian.Uint32(b[14:])}, true
}

// isClient reports whether a is one of the generator's client addresses.
func isClient(a [4]byte) bool {
	return a[0] == 10 && a[1] == 0 && a[2] == 1 && a[3] >= 10 && a[3] < 10+ClientAddrs
}
