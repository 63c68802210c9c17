package bench

import (
	"bytes"
	"testing"

	"github.com/ulvs/ulvs/forward/header"
)

// TestEncapIPIP checks the null-ipip subject's frames: the verifier a TUN
// sink uses accepts them (outer header to the real, valid checksums, the
// client's datagram inside unchanged), a check independent of the writer;
// a frame that is not IPv4 is moved to the front unchanged.
func TestEncapIPIP(t *testing.T) {
	pl := placement{srcMAC: [6]byte{2, 0, 0, 0, 0, 1}, dstMAC: [6]byte{2, 0, 0, 0, 0, 2}, vip: [4]byte{10, 0, 1, 100}, port: 5300}
	srcMAC, realMAC := [6]byte{2, 0, 0, 0, 0, 3}, [6]byte{2, 0, 0, 0, 0, 9}
	from, real := [4]byte{10, 0, 2, 1}, [4]byte{10, 0, 2, 11}
	for _, p := range []Packet{
		{Proto: protoUDP, Client: 3, SrcPort: 1234, FrameLen: 60, Flow: 7},
		{Proto: protoTCP, Client: 79, SrcPort: 65535, TCPFlags: 0x18, FrameLen: 1494, Flow: 8},
	} {
		tm, err := buildTemplate(&p, pl)
		if err != nil {
			t.Fatal(err)
		}
		slot := make([]byte, 2048)
		n := tm.write(slot[ipipGap:], stampFields{sport: p.SrcPort, epoch: 3, flow: p.Flow, flowSeq: 1})
		orig := bytes.Clone(slot[ipipGap : ipipGap+n])
		m := encapIPIP(slot, n, from, real)
		copy(slot[0:6], realMAC[:]) // the MACs are macRewriter.Commit's
		copy(slot[6:12], srcMAC[:])
		if m != n+ipipGap {
			t.Fatalf("proto %d: %d bytes, want %d", p.Proto, m, n+ipipGap)
		}
		frame := slot[:m]
		e := expectation{mac: realMAC, real: real, vip: pl.vip, port: 5300, rewrite: RewriteTUN, epoch: 3}
		if v, _ := e.check(frame); v != VerdictOK {
			t.Errorf("proto %d: a TUN sink's verdict %d", p.Proto, v)
		}
		outer := header.IPv4(frame[header.EthernetHeaderLen:])
		if [6]byte(frame[6:12]) != srcMAC || outer.Src() != from || outer.Protocol() != header.ProtoIPIP || !outer.DF() {
			t.Errorf("proto %d: source MAC %x, outer %v -> %v proto %d DF %v", p.Proto, frame[6:12], outer.Src(), outer.Dst(), outer.Protocol(), outer.DF())
		}
		if !bytes.Equal(frame[header.EthernetHeaderLen+ipipGap:], orig[header.EthernetHeaderLen:]) {
			t.Errorf("proto %d: the inner datagram changed", p.Proto)
		}
	}

	// ARP is moved to the front unchanged.
	slot := make([]byte, 128)
	arp := slot[ipipGap : ipipGap+42]
	arp[5], arp[12], arp[13], arp[20] = 0x77, 0x08, 0x06, 0x55
	if n := encapIPIP(slot, 42, from, real); n != 42 || slot[5] != 0x77 || slot[12] != 0x08 || slot[13] != 0x06 || slot[20] != 0x55 {
		t.Errorf("ARP frame: %d bytes %x", n, slot[:42])
	}
}
