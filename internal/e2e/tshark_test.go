package e2e

import (
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// TestTsharkBadFilter pins what the captures' checksum check accepts: a
// TCP segment whose checksum field holds 0xFFFF where 0x0000 is due (what
// the kernel's software checksum completion writes) passes, and the same
// segment with a wrong checksum is reported.
func TestTsharkBadFilter(t *testing.T) {
	seg := tcpSegmentSummingToZero(t)
	const csumAt = 14 + 20 + 16 // Ethernet, IPv4, offset of the TCP checksum
	for _, tt := range []struct {
		name    string
		csum    uint16
		wantBad bool
	}{
		{"0x0000", 0x0000, false},
		{"0xffff for 0x0000", 0xffff, false},
		{"wrong", 0x1234, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			frame := append([]byte(nil), seg...)
			binary.BigEndian.PutUint16(frame[csumAt:], tt.csum)
			file := filepath.Join(t.TempDir(), "one.pcap")
			writePcap(t, file, frame)
			n, bad := tsharkBad(t, file)
			if n != 1 {
				t.Fatalf("tshark read %d packets, want 1", n)
			}
			if (bad != "") != tt.wantBad {
				t.Errorf("checksum %#04x: reported %q, want bad=%v", tt.csum, bad, tt.wantBad)
			}
		})
	}
}

// tcpSegmentSummingToZero is an Ethernet/IPv4/TCP frame whose correct TCP
// checksum is 0x0000: a two-byte payload is set to the checksum the frame
// has with a zero payload, which brings the one's complement sum to 0xFFFF.
func tcpSegmentSummingToZero(t *testing.T) []byte {
	t.Helper()
	build := func(payload uint16) []byte {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 1, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 1, 10}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{10, 0, 1, 100}, DstIP: net.IP{10, 0, 1, 10}}
		tcp := &layers.TCP{SrcPort: 80, DstPort: 42312, Seq: 1, Ack: 114, ACK: true, Window: 65535}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, tcp, gopacket.Payload(binary.BigEndian.AppendUint16(nil, payload))); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	const csumAt = 14 + 20 + 16
	frame := build(binary.BigEndian.Uint16(build(0)[csumAt:]))
	if c := binary.BigEndian.Uint16(frame[csumAt:]); c != 0 {
		t.Fatalf("built a segment with checksum %#04x, want 0x0000", c)
	}
	return frame
}

func writePcap(t *testing.T, file string, frames ...[]byte) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, fr := range frames {
		if err := w.WritePacket(gopacket.CaptureInfo{CaptureLength: len(fr), Length: len(fr)}, fr); err != nil {
			t.Fatal(err)
		}
	}
}
