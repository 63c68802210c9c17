package neigh

import (
	"bytes"
	"encoding/hex"
	"net"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var (
	ourMAC   = [6]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	vip      = [4]byte{10, 0, 1, 100}
	otherVIP = [4]byte{10, 0, 1, 101}
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// Golden frames, written out field by field.
var (
	// who-has 10.0.1.100 tell 10.0.1.10, from 02:00:00:00:00:0a, broadcast.
	reqVIP = unhex(`ffffffffffff 02000000000a 0806
		0001 0800 06 04 0001 02000000000a 0a00010a 000000000000 0a000164`)
	// 10.0.1.100 is-at 02:00:00:00:00:01, to 02:00:00:00:00:0a.
	replyVIP = unhex(`02000000000a 020000000001 0806
		0001 0800 06 04 0002 020000000001 0a000164 02000000000a 0a00010a`)
	// RFC 5227 probe for 10.0.1.100 (sender address 0.0.0.0).
	probeVIP = unhex(`ffffffffffff 02000000000a 0806
		0001 0800 06 04 0001 02000000000a 00000000 000000000000 0a000164`)
	replyProbe = unhex(`02000000000a 020000000001 0806
		0001 0800 06 04 0002 020000000001 0a000164 02000000000a 00000000`)
	// keepalived's gratuitous ARP for 10.0.1.100 from 02:00:00:00:00:01.
	garpVIP = unhex(`ffffffffffff 020000000001 0806
		0001 0800 06 04 0001 020000000001 0a000164 ffffffffffff 0a000164`)
)

func mutate(b []byte, off int, v ...byte) []byte {
	c := bytes.Clone(b)
	copy(c[off:], v)
	return c
}

func TestReply(t *testing.T) {
	var vips VIPSet
	vips.SetVIPs(vip, otherVIP)
	padded := append(bytes.Clone(reqVIP), make([]byte, 18)...) // 60-byte minimum frame

	tests := []struct {
		name  string
		frame []byte
		dst   int
		want  []byte // nil: no reply
	}{
		{"request for VIP", reqVIP, 64, replyVIP},
		{"padded request", padded, 64, replyVIP},
		{"unicast to us", mutate(reqVIP, offEthDst, ourMAC[:]...), 64, replyVIP},
		{"DAD probe", probeVIP, 64, replyProbe},
		{"unicast to another host", mutate(reqVIP, offEthDst, 2, 0, 0, 0, 0, 9), 64, nil},
		{"not a VIP", mutate(reqVIP, offTPA, 10, 0, 1, 1), 64, nil},
		{"gratuitous request", mutate(reqVIP, offSPA, vip[:]...), 64, nil},
		{"reply, not request", mutate(reqVIP, offOp, 0, 2), 64, nil},
		{"IPv4 ethertype", mutate(reqVIP, offEtherType, 0x08, 0x00), 64, nil},
		{"hardware type", mutate(reqVIP, offHType, 0, 6), 64, nil},
		{"protocol type", mutate(reqVIP, offPType, 0x86, 0xdd), 64, nil},
		{"hardware length", mutate(reqVIP, offHLen, 8), 64, nil},
		{"protocol length", mutate(reqVIP, offPLen, 16), 64, nil},
		{"truncated frame", reqVIP[:FrameLen-1], 64, nil},
		{"short buffer", reqVIP, FrameLen - 1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]byte, tc.dst)
			n := Reply(dst, tc.frame, ourMAC, &vips)
			if tc.want == nil {
				if n != 0 {
					t.Fatalf("replied %d bytes: %x", n, dst[:n])
				}
				return
			}
			if n != FrameLen || !bytes.Equal(dst[:n], tc.want) {
				t.Fatalf("reply (%d bytes)\n got %x\nwant %x", n, dst[:n], tc.want)
			}
			checkWithGopacket(t, dst[:n], layers.ARPReply, tc.frame)
		})
	}
}

// checkWithGopacket decodes frame with an independent decoder and checks it
// answers req.
func checkWithGopacket(t *testing.T, frame []byte, op uint16, req []byte) {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	a, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	if eth == nil || a == nil {
		t.Fatalf("gopacket found no Ethernet/ARP in %x", frame)
	}
	if a.Operation != op || a.AddrType != layers.LinkTypeEthernet || a.Protocol != layers.EthernetTypeIPv4 {
		t.Errorf("gopacket: op %d addr %v proto %v", a.Operation, a.AddrType, a.Protocol)
	}
	if !bytes.Equal(eth.SrcMAC, ourMAC[:]) || !bytes.Equal(a.SourceHwAddress, ourMAC[:]) {
		t.Errorf("gopacket: source MAC %v / %v, want %v", eth.SrcMAC, net.HardwareAddr(a.SourceHwAddress), net.HardwareAddr(ourMAC[:]))
	}
	if req != nil {
		if !bytes.Equal(eth.DstMAC, req[offSHA:offSHA+6]) || !bytes.Equal(a.DstHwAddress, req[offSHA:offSHA+6]) {
			t.Errorf("gopacket: reply goes to %v, requester is %x", eth.DstMAC, req[offSHA:offSHA+6])
		}
		if !bytes.Equal(a.SourceProtAddress, req[offTPA:offTPA+4]) || !bytes.Equal(a.DstProtAddress, req[offSPA:offSPA+4]) {
			t.Errorf("gopacket: addresses %v -> %v do not answer the request", net.IP(a.SourceProtAddress), net.IP(a.DstProtAddress))
		}
	}
}

func TestReplyInPlace(t *testing.T) {
	var vips VIPSet
	vips.Claim(vip)
	buf := bytes.Clone(reqVIP)
	if n := Reply(buf, buf, ourMAC, &vips); n != FrameLen || !bytes.Equal(buf, replyVIP) {
		t.Fatalf("in-place reply\n got %x\nwant %x", buf, replyVIP)
	}
}

func TestVIPSetClaimRelease(t *testing.T) {
	var vips VIPSet
	dst := make([]byte, 64)
	if Reply(dst, reqVIP, ourMAC, &vips) != 0 {
		t.Fatal("empty set answered")
	}
	if !vips.Claim(vip) || vips.Claim(vip) {
		t.Error("Claim: want true then false")
	}
	if Reply(dst, reqVIP, ourMAC, &vips) != FrameLen {
		t.Error("claimed VIP not answered")
	}
	vips.Claim(otherVIP)
	if got := vips.List(); len(got) != 2 || got[0] != vip || got[1] != otherVIP {
		t.Errorf("List = %v", got)
	}
	if !vips.Release(vip) || vips.Release(vip) {
		t.Error("Release: want true then false")
	}
	if Reply(dst, reqVIP, ourMAC, &vips) != 0 {
		t.Error("released VIP still answered")
	}
	vips.SetVIPs(vip)
	if !vips.Contains(vip) || vips.Contains(otherVIP) {
		t.Error("SetVIPs did not replace the set")
	}
}

func TestGratuitous(t *testing.T) {
	dst := make([]byte, 64)
	if n := Gratuitous(dst, ourMAC, vip); n != FrameLen || !bytes.Equal(dst[:n], garpVIP) {
		t.Fatalf("gratuitous ARP\n got %x\nwant %x", dst[:n], garpVIP)
	}
	checkWithGopacket(t, dst[:FrameLen], layers.ARPRequest, nil)
	if Gratuitous(dst[:FrameLen-1], ourMAC, vip) != 0 {
		t.Error("short buffer accepted")
	}
	// Our own responder must not answer our announcement.
	var vips VIPSet
	vips.Claim(vip)
	if Reply(make([]byte, 64), garpVIP, [6]byte{2, 0, 0, 0, 0, 2}, &vips) != 0 {
		t.Error("responder answered a gratuitous ARP")
	}
}

func TestRequest(t *testing.T) {
	want := unhex(`ffffffffffff 020000000001 0806
		0001 0800 06 04 0001 020000000001 0a000201 000000000000 0a00020b`)
	dst := make([]byte, 64)
	if n := Request(dst, ourMAC, [4]byte{10, 0, 2, 1}, [4]byte{10, 0, 2, 11}); n != FrameLen || !bytes.Equal(dst[:n], want) {
		t.Fatalf("request\n got %x\nwant %x", dst[:n], want)
	}
}

func TestResponderAllocs(t *testing.T) {
	var vips VIPSet
	vips.SetVIPs(vip)
	dst := make([]byte, 64)
	if a := testing.AllocsPerRun(1000, func() {
		if Reply(dst, reqVIP, ourMAC, &vips) == 0 {
			panic("no reply")
		}
		Gratuitous(dst, ourMAC, vip)
	}); a != 0 {
		t.Errorf("Reply+Gratuitous allocate %.1f times per call", a)
	}
}

func FuzzReply(f *testing.F) {
	for _, b := range [][]byte{reqVIP, probeVIP, garpVIP, replyVIP} {
		f.Add(b)
	}
	var vips VIPSet
	vips.SetVIPs(vip, otherVIP)
	f.Fuzz(func(t *testing.T, frame []byte) {
		dst := make([]byte, 64)
		n := Reply(dst, frame, ourMAC, &vips)
		if n == 0 {
			return
		}
		if n != FrameLen {
			t.Fatalf("length %d", n)
		}
		checkWithGopacket(t, dst[:n], layers.ARPReply, frame)
		if !vips.Contains([4]byte(dst[offSPA : offSPA+4])) {
			t.Fatalf("answered for a non-VIP %v", net.IP(dst[offSPA:offSPA+4]))
		}
	})
}

func BenchmarkReply(b *testing.B) {
	var vips VIPSet
	vips.SetVIPs(vip, otherVIP)
	dst := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		Reply(dst, reqVIP, ourMAC, &vips)
	}
}
