package forward

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/ulvs/ulvs/forward/header"
)

var (
	testClient = [4]byte{10, 0, 1, 10}
	testVIP    = [4]byte{10, 0, 1, 100}
)

func tcpSYN() *testFrame {
	return &testFrame{src: testClient, dst: testVIP, proto: header.ProtoTCP, ttl: 64, df: true, id: 1,
		sport: 40000, dport: 80, tcpFlags: header.TCPFlagSYN, srcMAC: clientMAC, dstMAC: dirInMAC, padTo60: true}
}

func udpDatagram() *testFrame {
	return &testFrame{src: testClient, dst: testVIP, proto: header.ProtoUDP, ttl: 64, id: 2,
		sport: 40000, dport: 53, payload: []byte("query"), srcMAC: clientMAC, dstMAC: dirInMAC}
}

func icmpErr(typ, code uint8, quote []byte) *testFrame {
	return &testFrame{src: [4]byte{10, 0, 1, 254}, dst: testVIP, proto: header.ProtoICMP, ttl: 64,
		icmpType: typ, icmpCode: code, payload: quote, srcMAC: clientMAC, dstMAC: dirInMAC}
}

// with returns f's frame changed by fn; fix recomputes the IPv4 header
// checksum afterwards so that later checks are reached.
func with(f *testFrame, fix bool, fn func(b []byte)) []byte {
	b := f.build()
	fn(b)
	if fix {
		refIPChecksum(b[14:])
	}
	return b
}

func TestDecodeDropReasons(t *testing.T) {
	replyQuote := (&testFrame{src: testVIP, dst: testClient, proto: header.ProtoUDP, ttl: 63,
		sport: 53, dport: 40000, payload: []byte("answer")}).datagram()
	tests := []struct {
		name  string
		frame []byte
		want  DropReason
	}{
		{"valid TCP", tcpSYN().build(), DropNone},
		{"valid UDP", udpDatagram().build(), DropNone},
		{"short Ethernet", make([]byte, 13), DropShortFrame},
		{"VLAN tag cut short", []byte{1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 0x81, 0, 0, 1}, DropShortFrame},
		{"IPv6", with(tcpSYN(), false, func(b []byte) { b[12], b[13] = 0x86, 0xdd }), DropNotOurs},
		{"three VLAN tags", append([]byte{1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 0x81, 0, 0, 1, 0x88, 0xa8, 0, 2, 0x81, 0, 0, 3, 0x08, 0}, make([]byte, 40)...), DropNotOurs},
		{"ARP not IPv4", append([]byte{1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 0x08, 0x06, 0, 1, 0x86, 0xdd, 6, 16}, make([]byte, 40)...), DropBadARP},
		{"IPv4 cut short", tcpSYN().build()[:14+19], DropShortIPv4},
		{"version 6", with(tcpSYN(), true, func(b []byte) { b[14] = 0x65 }), DropBadIPVersion},
		{"IHL 4", with(tcpSYN(), true, func(b []byte) { b[14] = 0x44 }), DropBadIHL},
		{"IHL past frame", with(tcpSYN(), false, func(b []byte) { b[14] = 0x4f })[:14+40], DropBadIHL},
		{"total length past frame", with(tcpSYN(), true, func(b []byte) { binary.BigEndian.PutUint16(b[16:], 1000) }), DropBadTotalLength},
		{"total length below header", with(tcpSYN(), true, func(b []byte) { binary.BigEndian.PutUint16(b[16:], 19) }), DropBadTotalLength},
		{"header checksum", with(tcpSYN(), false, func(b []byte) { b[14+10] ^= 0xff }), DropBadIPChecksum},
		{"option length 0", (&testFrame{src: testClient, dst: testVIP, proto: header.ProtoUDP, ttl: 64, options: []byte{7, 0, 0, 0}}).build(), DropBadIPOptions},
		{"option past header", (&testFrame{src: testClient, dst: testVIP, proto: header.ProtoUDP, ttl: 64, options: []byte{1, 7, 9, 0}}).build(), DropBadIPOptions},
		{"loose source route", (&testFrame{src: testClient, dst: testVIP, proto: header.ProtoUDP, ttl: 64, options: []byte{0x83, 3, 4, 0}}).build(), DropSourceRoute},
		{"multicast source", with(tcpSYN(), true, func(b []byte) { b[26] = 224 }), DropMartianSource},
		{"broadcast source", with(tcpSYN(), true, func(b []byte) { copy(b[26:], []byte{255, 255, 255, 255}) }), DropMartianSource},
		{"loopback source", with(tcpSYN(), true, func(b []byte) { b[26] = 127 }), DropMartianSource},
		{"first fragment", with(udpDatagram(), true, func(b []byte) { b[20] |= 0x20 }), DropFragment},
		{"later fragment", with(udpDatagram(), true, func(b []byte) { b[21] = 1 }), DropFragment},
		{"TCP cut short", with(tcpSYN(), true, func(b []byte) { binary.BigEndian.PutUint16(b[16:], 20+19) }), DropShortTCP},
		{"TCP data offset 4", with(tcpSYN(), false, func(b []byte) { b[34+12] = 4 << 4 }), DropShortTCP},
		{"TCP data offset past segment", with(tcpSYN(), false, func(b []byte) { b[34+12] = 6 << 4 }), DropShortTCP},
		{"UDP length past datagram", with(udpDatagram(), false, func(b []byte) { b[34+5] = 200 }), DropShortUDP},
		{"UDP length below 8", with(udpDatagram(), false, func(b []byte) { b[34+5] = 7 }), DropShortUDP},
		{"ICMP cut short", with(icmpErr(3, 3, nil), true, func(b []byte) { binary.BigEndian.PutUint16(b[16:], 27) }), DropShortICMP},
		{"ICMP error checksum", with(icmpErr(3, 3, replyQuote), false, func(b []byte) { b[34+2] ^= 1 }), DropBadICMPChecksum},
		{"ICMP error quote cut short", icmpErr(3, 3, replyQuote[:19]).build(), DropBadICMPQuote},
		{"ICMP error quoting IPv6", icmpErr(3, 3, append([]byte{0x60}, replyQuote[1:]...)).build(), DropBadICMPQuote},
		{"ICMP error quoting 4 bytes of UDP", icmpErr(3, 3, replyQuote[:24]).build(), DropBadICMPQuote},
		{"ICMP error", icmpErr(11, 0, replyQuote).build(), DropNone},
		{"ICMP redirect", icmpErr(5, 1, replyQuote[:28]).build(), DropNone},
		{"ICMP echo", icmpErr(8, 0, []byte("ping")).build(), DropNone},
	}
	var p Parsed
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Decode(tt.frame); got != tt.want {
				t.Errorf("Decode = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecodeFields(t *testing.T) {
	f := tcpSYN()
	f.vlan = 100
	f.options = []byte{0x94, 4, 0, 0} // router alert
	b := f.build()
	var p Parsed
	if r := p.Decode(b); r != DropNone {
		t.Fatalf("Decode = %v", r)
	}
	want := Parsed{
		VLANs: 1, VLANTCI: [2]uint16{100}, EtherType: 0x0800,
		L3: 18, L4: 42, Payload: 62, End: 62,
		Proto: 6, TTL: 64, Src: testClient, Dst: testVIP, SrcPort: 40000, DstPort: 80, HasPorts: true,
		TCPFlags: header.TCPFlagSYN, DF: true, Options: true,
	}
	if p != want {
		t.Errorf("Decode =\n%+v\nwant\n%+v", p, want)
	}
	if len(b) != 62 {
		t.Fatalf("frame is %d bytes", len(b))
	}

	quote := (&testFrame{src: testVIP, dst: testClient, proto: header.ProtoUDP, ttl: 63,
		sport: 53, dport: 40000, payload: []byte("answer")}).datagram()
	if r := p.Decode(icmpErr(3, 3, quote).build()); r != DropNone {
		t.Fatalf("Decode ICMP = %v", r)
	}
	wantInner := Quoted{L3: 42, L4: 62, End: 42 + len(quote), Proto: 17, Src: testVIP, Dst: testClient,
		SrcPort: 53, DstPort: 40000, HasPorts: true}
	if !p.ICMPError || !p.ICMPRelated || p.Inner != wantInner || p.HasPorts {
		t.Errorf("ICMP error: error %v related %v ports %v inner %+v, want %+v", p.ICMPError, p.ICMPRelated, p.HasPorts, p.Inner, wantInner)
	}

	if r := p.Decode(with(udpDatagram(), true, func(b []byte) { b[20] |= 0x20 })); r != DropFragment || !p.HasPorts || p.DstPort != 53 {
		t.Errorf("first fragment: %v, ports %v %d", r, p.HasPorts, p.DstPort)
	}
	if r := p.Decode(with(udpDatagram(), true, func(b []byte) { b[21] = 1 })); r != DropFragment || p.HasPorts || p.FragOffset != 8 {
		t.Errorf("later fragment: %v, ports %v, offset %d", r, p.HasPorts, p.FragOffset)
	}

	arp := make([]byte, 14+header.ARPLen)
	copy(arp, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06})
	header.ARP(arp[14:]).Encode(&header.ARPFields{Op: header.ARPRequest, SenderHW: clientMAC, SenderIP: testClient, TargetIP: testVIP})
	if r := p.Decode(arp); r != DropNone || !p.ARP || header.ARP(arp[p.L3:]).TargetIP() != testVIP {
		t.Errorf("ARP: %v, arp %v", r, p.ARP)
	}
}

func TestDropReasonNames(t *testing.T) {
	seen := map[string]bool{}
	for r := range NumDropReasons {
		s := r.String()
		if s == "" || s == "unknown" || seen[s] {
			t.Errorf("reason %d has name %q", r, s)
		}
		seen[s] = true
	}
	if NumDropReasons.String() != "unknown" {
		t.Errorf("out of range reason named %q", NumDropReasons.String())
	}
	if DropNotOurs.Malformed() || DropFragment.Malformed() || !DropBadIPChecksum.Malformed() {
		t.Error("Malformed classifies wrongly")
	}
}

func TestCounters(t *testing.T) {
	var a, b Counters
	a.Inc(DropBadIPChecksum)
	a.Inc(DropBadIPChecksum)
	b.Inc(DropBadIPChecksum)
	b.Inc(DropFragment)
	b.Inc(NumDropReasons) // ignored, not a panic
	var sum [NumDropReasons]uint64
	a.Snapshot(&sum)
	b.Snapshot(&sum)
	if sum[DropBadIPChecksum] != 3 || sum[DropFragment] != 1 || a.Load(DropBadIPChecksum) != 2 {
		t.Fatalf("sum %v", sum)
	}
}

func TestRefusalsLeaveFrameUntouched(t *testing.T) {
	ttl1 := tcpSYN()
	ttl1.ttl = 1
	tests := []struct {
		name string
		f    *testFrame
		run  func(b []byte, p *Parsed) DropReason
		want DropReason
	}{
		{"NAT TTL 1", ttl1, func(b []byte, p *Parsed) DropReason { return NATInbound(b, p, rip, 1, dirOutMAC, rsMAC) }, DropTTLExpired},
		{"NAT ICMP echo", icmpErr(8, 0, []byte("ping")), func(b []byte, p *Parsed) DropReason { return NATInbound(b, p, rip, 1, dirOutMAC, rsMAC) }, DropNATUnsupported},
		{"TUN TTL 1", ttl1, func(b []byte, p *Parsed) DropReason {
			_, r := TUN(make([]byte, 2048), b, p, dirOut, ripTUN, dirOutMAC, rsMAC, 1500, 1)
			return r
		}, DropTTLExpired},
		{"TUN MTU 87", tcpSYN(), func(b []byte, p *Parsed) DropReason {
			_, r := TUN(make([]byte, 2048), b, p, dirOut, ripTUN, dirOutMAC, rsMAC, 87, 1)
			return r
		}, DropMTUTooSmall},
		{"TUN no room", tcpSYN(), func(b []byte, p *Parsed) DropReason {
			_, r := TUN(make([]byte, 60), b, p, dirOut, ripTUN, dirOutMAC, rsMAC, 1500, 1)
			return r
		}, DropNoRoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.f.build()
			orig := bytes.Clone(b)
			var p Parsed
			if r := p.Decode(b); r != DropNone {
				t.Fatalf("Decode = %v", r)
			}
			if r := tt.run(b, &p); r != tt.want {
				t.Fatalf("got %v, want %v", r, tt.want)
			}
			if !bytes.Equal(b, orig) {
				t.Fatal("a refusal changed the frame")
			}
		})
	}
}

func TestICMPBuildersRefuse(t *testing.T) {
	quote := tcpSYN().datagram()
	mcast := tcpSYN()
	mcast.dst = [4]byte{224, 0, 0, 1}
	l2bcast := tcpSYN()
	l2bcast.dstMAC = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	tests := []struct {
		name string
		f    *testFrame
	}{
		{"ICMP error", icmpErr(3, 3, quote)},
		{"multicast destination", mcast},
		{"L2 broadcast", l2bcast},
	}
	buf := make([]byte, 2048)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.f.build()
			var p Parsed
			if r := p.Decode(b); r != DropNone {
				t.Fatalf("Decode = %v", r)
			}
			if n := BuildTimeExceeded(buf, b, &p, testVIP, dirInMAC, clientMAC); n != 0 {
				t.Errorf("BuildTimeExceeded wrote %d bytes", n)
			}
			if n := BuildFragNeeded(buf, b, &p, 1480, testVIP, dirInMAC, clientMAC); n != 0 {
				t.Errorf("BuildFragNeeded wrote %d bytes", n)
			}
		})
	}
	var p Parsed
	b := tcpSYN().build()
	p.Decode(b)
	if n := BuildTimeExceeded(buf[:50], b, &p, testVIP, dirInMAC, clientMAC); n != 0 {
		t.Errorf("short buffer: wrote %d", n)
	}
	big := tcpSYN()
	big.payload = make([]byte, 1400)
	b = big.build()
	p.Decode(b)
	n := BuildTimeExceeded(buf, b, &p, testVIP, dirInMAC, clientMAC)
	if n != 14+header.ICMPErrorMaxLen {
		t.Errorf("quote of a 1440-byte datagram: frame %d bytes, want %d", n, 14+header.ICMPErrorMaxLen)
	}
	var q Parsed
	if r := q.Decode(buf[:n]); r != DropNone || !q.ICMPError || q.Inner.Dst != testVIP {
		t.Errorf("built error decodes as %v %+v", r, q)
	}
}
