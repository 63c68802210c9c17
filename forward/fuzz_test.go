package forward

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/ulvs/ulvs/forward/header"
)

func addGoldenSeeds(f *testing.F, extra func(in []byte)) {
	for i := range goldenCases {
		extra(goldenCases[i].in)
	}
}

// checkParsed asserts Decode's structural promises.
func checkParsed(t *testing.T, frame []byte, p *Parsed, r DropReason) {
	t.Helper()
	if r >= NumDropReasons {
		t.Fatalf("reason %d out of range", r)
	}
	if r != DropNone {
		return
	}
	if p.ARP {
		if p.L3+header.ARPLen > len(frame) {
			t.Fatalf("ARP at %d past frame %d", p.L3, len(frame))
		}
		return
	}
	if !(14 <= p.L3 && p.L3+20 <= p.L4 && p.L4 <= p.Payload && p.Payload <= p.End && p.End <= len(frame)) {
		t.Fatalf("offsets out of order: L3 %d L4 %d payload %d end %d len %d", p.L3, p.L4, p.Payload, p.End, len(frame))
	}
	if !header.IPv4(frame[p.L3:p.End]).IsChecksumValid() {
		t.Fatal("accepted a bad IPv4 header checksum")
	}
	if p.HasPorts != (p.Proto == header.ProtoTCP || p.Proto == header.ProtoUDP) {
		t.Fatalf("HasPorts %v for proto %d", p.HasPorts, p.Proto)
	}
	if p.ICMPRelated {
		in := p.Inner
		if !(p.Payload == in.L3 && in.L3+20 <= in.L4 && in.L4 <= in.End && in.End <= p.End) {
			t.Fatalf("quote offsets out of order: %+v, end %d", in, p.End)
		}
		if in.HasPorts && in.L4+8 > in.End {
			t.Fatal("quoted ports past the quote")
		}
	}
}

func FuzzDecode(f *testing.F) {
	addGoldenSeeds(f, func(in []byte) { f.Add(in, false) })
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, frame []byte, csumNotReady bool) {
		var p Parsed
		var c Counters
		r := p.Decode(frame)
		c.Inc(r)
		checkParsed(t, frame, &p, r)
		if r != DropNone || !csumNotReady || !p.HasPorts {
			return
		}
		// Seed the checksum field as a CHECKSUM_PARTIAL sender does (the
		// folded pseudo-header sum), then completion must verify.
		l4 := frame[p.L4:p.End]
		off, l4len := header.TCPChecksumOffset, len(l4)
		if p.Proto == header.ProtoUDP {
			off, l4len = header.UDPChecksumOffset, int(header.UDP(l4).Length())
		}
		binary.BigEndian.PutUint16(l4[off:], header.PseudoHeaderChecksum(p.Proto, p.Src, p.Dst, uint16(l4len)))
		if r := p.DecodeStatus(frame, true); r != DropNone || !p.ChecksumCompleted {
			t.Fatalf("DecodeStatus = %v after Decode accepted the frame", r)
		}
		if !l4ChecksumValid(frame, &p) {
			t.Fatal("completed checksum does not verify")
		}
	})
}

// l4ChecksumValid reports whether the TCP or UDP checksum of a decoded
// frame verifies.
func l4ChecksumValid(frame []byte, p *Parsed) bool {
	switch p.Proto {
	case header.ProtoTCP:
		return header.TCP(frame[p.L4:p.End]).IsChecksumValid(p.Src, p.Dst)
	case header.ProtoUDP:
		u := header.UDP(frame[p.L4:p.End])
		return u[:u.Length()].IsChecksumValid(p.Src, p.Dst)
	}
	return true
}

// checksumsValid reports, for a decoded frame, whether its L4 checksum (or
// for an ICMP error, the ICMP checksum) verifies.
func checksumsValid(frame []byte, p *Parsed) bool {
	if p.Proto == header.ProtoICMP {
		return header.ICMPv4(frame[p.L4:p.End]).IsChecksumValid()
	}
	return l4ChecksumValid(frame, p)
}

// sameModChecksums compares a and b, treating 0x0000 and 0xFFFF as equal
// in the checksum words at the given offsets (one's complement ±0).
func sameModChecksums(a, b []byte, sums ...int) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = bytes.Clone(a), bytes.Clone(b)
	for _, off := range sums {
		if off+2 > len(a) {
			continue
		}
		for _, x := range [][]byte{a, b} {
			if binary.BigEndian.Uint16(x[off:]) == 0xffff {
				x[off], x[off+1] = 0, 0
			}
		}
	}
	return bytes.Equal(a, b)
}

func FuzzNAT(f *testing.F) {
	addGoldenSeeds(f, func(in []byte) { f.Add(in, true, []byte{10, 0, 2, 20}, uint16(8080)) })
	f.Fuzz(func(t *testing.T, frame []byte, inbound bool, addrB []byte, port uint16) {
		if len(addrB) < 4 {
			return
		}
		addr := [4]byte(addrB)
		if header.IsMartianSource(addr) {
			addr = [4]byte{10, 9, 8, 7}
		}
		var p Parsed
		if p.Decode(frame) != DropNone {
			return
		}
		orig := bytes.Clone(frame)
		before := p
		validBefore := checksumsValid(frame, &p)
		nat := NATInbound
		if !inbound {
			nat = NATOutbound
		}
		r := nat(frame, &p, addr, port, dirOutMAC, rsMAC)
		if r != DropNone {
			if r >= NumDropReasons || !bytes.Equal(frame, orig) {
				t.Fatalf("refusal %v changed the frame or is out of range", r)
			}
			return
		}
		// The output is a valid frame.
		var q Parsed
		if rr := q.Decode(frame); rr != DropNone {
			t.Fatalf("rewritten frame decodes as %v", rr)
		}
		if validBefore && !checksumsValid(frame, &q) {
			t.Fatal("rewrite broke a valid checksum")
		}
		if q.TTL != before.TTL-1 {
			t.Fatalf("TTL %d -> %d", before.TTL, q.TTL)
		}
		// Reverse: the same rewrite back to the original address and port
		// restores L3/L4 (apart from the TTL, down by two).
		back, backPort := before.Dst, before.DstPort
		if p.ICMPRelated {
			back, backPort = before.Inner.Src, before.Inner.SrcPort
		}
		if !inbound {
			back, backPort = before.Src, before.SrcPort
			if p.ICMPRelated {
				back, backPort = before.Inner.Dst, before.Inner.DstPort
			}
		}
		if p.ICMPRelated && inbound {
			// The outer destination and the quoted source are set to the
			// same address; restoring one restores the other only if they
			// were equal to begin with.
			if before.Dst != before.Inner.Src {
				return
			}
		}
		if p.ICMPRelated && !inbound && before.Src != before.Inner.Dst {
			return
		}
		if rr := nat(frame, &q, back, backPort, [6]byte(orig[6:12]), [6]byte(orig[0:6])); rr != DropNone {
			if rr == DropTTLExpired {
				return
			}
			t.Fatalf("reverse rewrite refused: %v", rr)
		}
		if !header.IPv4(frame[p.L3:p.End]).IsChecksumValid() {
			t.Fatal("reverse rewrite broke the IPv4 header checksum")
		}
		// The TTL is down by two; put it and its checksum back.
		frame[p.L3+8] = orig[p.L3+8]
		copy(frame[p.L3+10:p.L3+12], orig[p.L3+10:p.L3+12])
		sums := []int{p.L4 + 16, p.L4 + 6, p.L4 + 2}
		if p.ICMPRelated {
			sums = append(sums, p.Inner.L3+10, p.Inner.L4+16, p.Inner.L4+6)
		}
		if !sameModChecksums(frame, orig, sums...) {
			t.Fatalf("NAT then reverse is not the identity:\n got % x\nwant % x", frame, orig)
		}
	})
}

func FuzzDR(f *testing.F) {
	addGoldenSeeds(f, func(in []byte) { f.Add(in) })
	f.Fuzz(func(t *testing.T, frame []byte) {
		var p Parsed
		if p.Decode(frame) != DropNone {
			return
		}
		orig := bytes.Clone(frame)
		if r := DR(frame, &p, dirOutMAC, rsMAC); r != DropNone {
			if !bytes.Equal(frame, orig) {
				t.Fatal("refusal changed the frame")
			}
			return
		}
		if !bytes.Equal(frame[12:], orig[12:]) || [6]byte(frame[0:6]) != rsMAC || [6]byte(frame[6:12]) != dirOutMAC {
			t.Fatal("DR changed more than the MAC addresses")
		}
	})
}

func FuzzTUN(f *testing.F) {
	addGoldenSeeds(f, func(in []byte) { f.Add(in, uint16(1500), uint16(7)) })
	f.Fuzz(func(t *testing.T, frame []byte, mtu, id uint16) {
		var p Parsed
		if p.Decode(frame) != DropNone {
			return
		}
		orig := bytes.Clone(frame)
		dst := make([]byte, 2048)
		n, r := TUN(dst, frame, &p, dirOut, ripTUN, dirOutMAC, rsMAC, int(mtu), id)
		if !bytes.Equal(frame, orig) {
			t.Fatal("TUN changed its input")
		}
		if r != DropNone {
			if n != 0 || r >= NumDropReasons {
				t.Fatalf("refusal %v wrote %d bytes", r, n)
			}
			if r == DropFragNeeded {
				buf := make([]byte, 2048)
				if m := BuildFragNeeded(buf, frame, &p, int(mtu)-TUNOverhead, testVIP, dirInMAC, clientMAC); m > 0 {
					checkBuiltError(t, buf[:m], &p, header.ICMPDestUnreach)
				}
			}
			return
		}
		out := dst[:n]
		if n != p.End+TUNOverhead || n-p.L3 > int(mtu) {
			t.Fatalf("output %d bytes from datagram end %d, mtu %d", n, p.End, mtu)
		}
		var q Parsed
		if rr := q.Decode(out); rr != DropNone || q.Proto != header.ProtoIPIP || q.Src != dirOut || q.Dst != ripTUN {
			t.Fatalf("outer decodes as %v %+v", rr, q)
		}
		inner := header.IPv4(out[q.L4:])
		if !inner.IsValid() || !inner.IsChecksumValid() || inner.TTL() != p.TTL-1 || q.TTL != p.TTL-1 || q.DF != p.DF {
			t.Fatal("inner datagram damaged or TTL/DF wrong")
		}
		want := bytes.Clone(orig[p.L3:p.End])
		want[8]--
		copy(want[10:12], inner[10:12])
		if !bytes.Equal(inner, want) {
			t.Fatal("inner datagram differs beyond TTL and checksum")
		}
	})
}

func checkBuiltError(t *testing.T, out []byte, p *Parsed, typ uint8) {
	t.Helper()
	var q Parsed
	if r := q.Decode(out); r != DropNone {
		t.Fatalf("built ICMP error decodes as %v", r)
	}
	if !q.ICMPError || q.ICMPType != typ || q.Dst != p.Src || q.L4-q.L3 != 20 || q.End-q.L3 > header.ICMPErrorMaxLen {
		t.Fatalf("built ICMP error wrong: %+v", q)
	}
}

func FuzzICMPBuilders(f *testing.F) {
	addGoldenSeeds(f, func(in []byte) { f.Add(in, uint16(1480)) })
	f.Fuzz(func(t *testing.T, frame []byte, mtu uint16) {
		var p Parsed
		if r := p.Decode(frame); r != DropNone && r != DropFragment {
			return
		}
		if p.L4 == 0 {
			return
		}
		orig := bytes.Clone(frame)
		buf := make([]byte, 1024)
		if n := BuildTimeExceeded(buf, frame, &p, testVIP, dirInMAC, clientMAC); n > 0 {
			checkBuiltError(t, buf[:n], &p, header.ICMPTimeExceeded)
		}
		if n := BuildFragNeeded(buf, frame, &p, int(mtu), testVIP, dirInMAC, clientMAC); n > 0 {
			checkBuiltError(t, buf[:n], &p, header.ICMPDestUnreach)
		}
		if !bytes.Equal(frame, orig) {
			t.Fatal("a builder changed its input")
		}
	})
}
