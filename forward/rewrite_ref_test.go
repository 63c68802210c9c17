package forward

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/ulvs/ulvs/forward/header"
)

// The slow references below rewrite a frame the obvious way: set the
// fields, then recompute every checksum from scratch. The incremental
// rewriters must produce the same bytes.

func natRef(in []byte, p *Parsed, inbound bool, addr [4]byte, port uint16, srcMAC, dstMAC [6]byte) []byte {
	out := bytes.Clone(in)
	copy(out[0:6], dstMAC[:])
	copy(out[6:12], srcMAC[:])
	ip := out[p.L3:p.End]
	ip[8]--
	l4 := out[p.L4:p.End]
	if inbound {
		copy(ip[16:20], addr[:])
		binary.BigEndian.PutUint16(l4[2:], port)
	} else {
		copy(ip[12:16], addr[:])
		binary.BigEndian.PutUint16(l4[0:], port)
	}
	refIPChecksum(ip)
	if p.Proto == header.ProtoUDP {
		l4 = l4[:binary.BigEndian.Uint16(l4[4:])]
	}
	refL4Checksum(l4, p.Proto, [4]byte(ip[12:16]), [4]byte(ip[16:20]))
	return out
}

func natICMPRef(in []byte, p *Parsed, inbound bool, addr [4]byte, port uint16, srcMAC, dstMAC [6]byte) []byte {
	out := bytes.Clone(in)
	copy(out[0:6], dstMAC[:])
	copy(out[6:12], srcMAC[:])
	ip := out[p.L3:p.End]
	ip[8]--
	q := out[p.Inner.L3:p.Inner.End]
	ql4 := out[p.Inner.L4:p.Inner.End]
	if inbound {
		copy(ip[16:20], addr[:])
		copy(q[12:16], addr[:])
		binary.BigEndian.PutUint16(ql4[0:], port)
	} else {
		copy(ip[12:16], addr[:])
		copy(q[16:20], addr[:])
		binary.BigEndian.PutUint16(ql4[2:], port)
	}
	refIPChecksum(ip)
	refIPChecksum(q)
	refL4Checksum(ql4, p.Inner.Proto, [4]byte(q[12:16]), [4]byte(q[16:20])) // the tests quote whole datagrams
	icmp := out[p.L4:p.End]
	icmp[2], icmp[3] = 0, 0
	binary.BigEndian.PutUint16(icmp[2:], ^refSum(icmp))
	return out
}

func tunRef(in []byte, p *Parsed, src, dst [4]byte, srcMAC, dstMAC [6]byte, id uint16) []byte {
	inner := bytes.Clone(in[p.L3:p.End])
	inner[8]--
	refIPChecksum(inner)
	outer := make([]byte, 20)
	outer[0] = 0x45
	outer[1] = inner[1]
	binary.BigEndian.PutUint16(outer[2:], uint16(20+len(inner)))
	binary.BigEndian.PutUint16(outer[4:], id)
	outer[6] = inner[6] & 0x40
	outer[8] = inner[8]
	outer[9] = 4
	copy(outer[12:], src[:])
	copy(outer[16:], dst[:])
	refIPChecksum(outer)
	out := bytes.Clone(in[:p.L3])
	copy(out[0:6], dstMAC[:])
	copy(out[6:12], srcMAC[:])
	return append(append(out, outer...), inner...)
}

func randAddr(r *rand.Rand) [4]byte {
	for {
		a := [4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}
		if !header.IsMartianSource(a) {
			return a
		}
	}
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// randFrame returns a random, valid TCP or UDP frame.
func randFrame(r *rand.Rand) *testFrame {
	f := &testFrame{
		src: randAddr(r), dst: randAddr(r),
		proto: header.ProtoTCP, ttl: byte(2 + r.IntN(254)), tos: byte(r.Uint32()), df: r.IntN(2) == 0,
		id: uint16(r.Uint32()), sport: uint16(r.Uint32()), dport: uint16(r.Uint32()),
		tcpFlags: byte(r.Uint32()), payload: randBytes(r, r.IntN(1400)),
		srcMAC: [6]byte(randBytes(r, 6)), dstMAC: [6]byte{2, 0, 0, 0, 0, 9}, padTo60: true,
	}
	if r.IntN(2) == 0 {
		f.proto = header.ProtoUDP
		f.udpNoSum = r.IntN(4) == 0
	}
	if r.IntN(4) == 0 {
		f.vlan = uint16(1 + r.IntN(4094))
	}
	if r.IntN(4) == 0 {
		f.options = []byte{1, 1, 1, 0} // NOPs and EOL
	}
	return f
}

// randICMPError returns a random related ICMP error quoting a whole random
// TCP or UDP datagram.
func randICMPError(r *rand.Rand) *testFrame {
	q := randFrame(r)
	q.payload = q.payload[:min(len(q.payload), 200)]
	types := []struct{ t, c uint8 }{{3, 3}, {3, 4}, {3, 1}, {11, 0}, {4, 0}}
	tc := types[r.IntN(len(types))]
	return &testFrame{
		src: randAddr(r), dst: randAddr(r), proto: header.ProtoICMP, ttl: byte(2 + r.IntN(254)),
		id: uint16(r.Uint32()), icmpType: tc.t, icmpCode: tc.c, icmpRest: uint32(r.Uint32() & 0xffff),
		payload: q.datagram(), srcMAC: [6]byte(randBytes(r, 6)), dstMAC: [6]byte{2, 0, 0, 0, 0, 9},
	}
}

func TestNATMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	srcMAC, dstMAC := [6]byte{2, 0, 0, 0, 0, 3}, [6]byte{2, 0, 0, 0, 0, 4}
	var p Parsed
	for i := range 20000 {
		f := randFrame(r)
		icmp := i%4 == 0
		if icmp {
			f = randICMPError(r)
		}
		in := f.build()
		if rr := p.Decode(in); rr != DropNone {
			t.Fatalf("case %d: Decode = %v on % x", i, rr, in)
		}
		inbound := r.IntN(2) == 0
		addr, port := randAddr(r), uint16(r.Uint32())
		var want []byte
		if icmp {
			want = natICMPRef(in, &p, inbound, addr, port, srcMAC, dstMAC)
		} else {
			want = natRef(in, &p, inbound, addr, port, srcMAC, dstMAC)
		}
		got := bytes.Clone(in)
		var rr DropReason
		if inbound {
			rr = NATInbound(got, &p, addr, port, srcMAC, dstMAC)
		} else {
			rr = NATOutbound(got, &p, addr, port, srcMAC, dstMAC)
		}
		if rr != DropNone {
			t.Fatalf("case %d: NAT = %v", i, rr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d (inbound %v, icmp %v):\n got % x\nwant % x", i, inbound, icmp, got, want)
		}
	}
}

func TestTUNMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	src, dst := [4]byte{10, 0, 2, 1}, [4]byte{10, 0, 2, 30}
	srcMAC, dstMAC := [6]byte{2, 0, 0, 0, 0, 3}, [6]byte{2, 0, 0, 0, 0, 4}
	buf := make([]byte, 2048)
	var p Parsed
	for i := range 5000 {
		f := randFrame(r)
		if i%4 == 0 {
			f = randICMPError(r)
		}
		in := f.build()
		if rr := p.Decode(in); rr != DropNone {
			t.Fatalf("case %d: Decode = %v", i, rr)
		}
		id := uint16(r.Uint32())
		n, rr := TUN(buf, in, &p, src, dst, srcMAC, dstMAC, 1500, id)
		if rr != DropNone {
			t.Fatalf("case %d: TUN = %v", i, rr)
		}
		if want := tunRef(in, &p, src, dst, srcMAC, dstMAC, id); !bytes.Equal(buf[:n], want) {
			t.Fatalf("case %d:\n got % x\nwant % x", i, buf[:n], want)
		}
	}
}

// TestCompleteChecksumMatchesReference seeds random segments the way a
// CHECKSUM_PARTIAL sender does and checks that completion yields the
// checksum a full computation gives.
func TestCompleteChecksumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var p Parsed
	for i := range 5000 {
		f := randFrame(r)
		f.udpNoSum = false
		want := f.build()
		if rr := p.Decode(want); rr != DropNone {
			t.Fatalf("case %d: Decode = %v", i, rr)
		}
		in := bytes.Clone(want)
		off := 16
		if p.Proto == header.ProtoUDP {
			off = 6
		}
		seed := refSum(refPseudo(p.Src, p.Dst, p.Proto, p.End-p.L4))
		binary.BigEndian.PutUint16(in[p.L4+off:], seed)
		if rr := p.DecodeStatus(in, true); rr != DropNone || !p.ChecksumCompleted {
			t.Fatalf("case %d: DecodeStatus = %v, completed %v", i, rr, p.ChecksumCompleted)
		}
		if !bytes.Equal(in, want) {
			t.Fatalf("case %d: completed % x\nwant % x", i, in[p.L4:p.L4+20], want[p.L4:p.L4+20])
		}
	}
}
