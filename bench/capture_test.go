package bench

import (
	"bytes"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

var update = flag.Bool("update", false, "rewrite bench/testdata/flows.pcap")

// testCapture is the path of the project's own small capture.
const testCapture = "testdata/flows.pcap"

// writeTestCapture writes the test capture: 3 TCP and 3 UDP flows from
// 4 clients to 2 servers, 8 packets each, interleaved 1 ms apart, with the
// servers' replies in between (replays leave those out). TCP flows are
// captured mid-connection (ACK/PSH), so the kernel's conntrack picks them
// up and ulvs gets their SYNs from bench. Everything is fixed, so the
// output is byte-for-byte stable.
func writeTestCapture(w io.Writer) error {
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	type flow struct {
		tcp          bool
		client, srv  net.IP
		sport, dport uint16
		size         int
	}
	flows := []flow{
		{true, net.IP{192, 168, 7, 1}, net.IP{203, 0, 113, 80}, 40001, 80, 200},
		{true, net.IP{192, 168, 7, 2}, net.IP{203, 0, 113, 80}, 40002, 443, 1400},
		{true, net.IP{192, 168, 7, 3}, net.IP{203, 0, 113, 81}, 40003, 80, 64},
		{false, net.IP{192, 168, 7, 1}, net.IP{203, 0, 113, 53}, 50001, 53, 80},
		{false, net.IP{192, 168, 7, 4}, net.IP{203, 0, 113, 53}, 50002, 53, 512},
		{false, net.IP{192, 168, 7, 2}, net.IP{203, 0, 113, 54}, 50003, 123, 48},
	}
	cmac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	smac := net.HardwareAddr{2, 0, 0, 0, 0, 2}
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	n := 0
	emit := func(f flow, reply bool, k int) error {
		src, dst, sp, dp, sm, dm := f.client, f.srv, f.sport, f.dport, cmac, smac
		if reply {
			src, dst, sp, dp, sm, dm = dst, src, dp, sp, dm, sm
		}
		payload := bytes.Repeat([]byte{byte('a' + k)}, f.size)
		eth := &layers.Ethernet{SrcMAC: sm, DstMAC: dm, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: src, DstIP: dst, Flags: layers.IPv4DontFragment}
		var l4 gopacket.SerializableLayer
		if f.tcp {
			ip.Protocol = layers.IPProtocolTCP
			t := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: uint32(1000 + k*f.size), Ack: 5000, ACK: true, PSH: true, Window: 502}
			t.SetNetworkLayerForChecksum(ip)
			l4 = t
		} else {
			ip.Protocol = layers.IPProtocolUDP
			u := &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
			u.SetNetworkLayerForChecksum(ip)
			l4 = u
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, l4, gopacket.Payload(payload)); err != nil {
			return err
		}
		b := buf.Bytes()
		n++
		return pw.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(n) * time.Millisecond), CaptureLength: len(b), Length: len(b)}, b)
	}
	for k := range 8 {
		for i, f := range flows {
			if err := emit(f, false, k); err != nil {
				return err
			}
			if i%2 == 0 {
				if err := emit(f, true, k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// TestTestdataCapture checks that the committed capture is what
// writeTestCapture makes (go test -run TestTestdataCapture -update
// rewrites it) and that it loads as 6 flows, TCP and UDP, replies left out.
func TestTestdataCapture(t *testing.T) {
	var want bytes.Buffer
	if err := writeTestCapture(&want); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(testCapture, want.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(testCapture)
	if err != nil {
		t.Fatalf("%v (create it with go test ./bench -run TestTestdataCapture -update)", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("%s differs from writeTestCapture; rerun with -update if the change is intended", testCapture)
	}
	tr, err := LoadPcap(testCapture)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Flows != 6 || len(tr.Packets) != 48 || tr.TCP != 24 || tr.UDP != 24 || !tr.Paced {
		t.Errorf("loaded %d flows, %d packets (%d TCP, %d UDP), paced %v; want 6, 48 (24, 24), true", tr.Flows, len(tr.Packets), tr.TCP, tr.UDP, tr.Paced)
	}
	if !strings.Contains(tr.Name, "24 reply packets left out") {
		t.Errorf("name %q does not mention the 24 replies", tr.Name)
	}
	if tr.Duration != 71*time.Millisecond {
		t.Errorf("recorded span %v, want 71ms", tr.Duration)
	}
	clients := map[int]bool{}
	for _, p := range tr.Packets {
		clients[p.Client] = true
		if p.Proto == protoTCP && p.TCPFlags != 0x18 {
			t.Errorf("TCP flags %#x, want ACK|PSH", p.TCPFlags)
		}
	}
	if len(clients) != 4 {
		t.Errorf("%d client addresses, want 4", len(clients))
	}
	// The 1400-byte TCP payload keeps its size: 14 + 20 + 20 + 1400.
	if p := tr.Packets[1]; p.FrameLen != 1454 {
		t.Errorf("second packet frame length %d, want 1454", p.FrameLen)
	}
}

// TestLoadPcapErrors checks that every bad input names the file and what
// is wrong with it.
func TestLoadPcapErrors(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(testCapture)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	capture := func(lt layers.LinkType, frames ...[]byte) []byte {
		var b bytes.Buffer
		w := pcapgo.NewWriter(&b)
		if err := w.WriteFileHeader(65535, lt); err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(f), Length: len(f)}, f); err != nil {
				t.Fatal(err)
			}
		}
		return b.Bytes()
	}
	arp := make([]byte, 42)
	copy(arp[12:], []byte{0x08, 0x06})
	tests := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.pcap"), "cannot read it"},
		{"directory", dir, "cannot read it"},
		{"empty", write("empty.pcap", nil), "too short for a capture file header"},
		{"garbage", write("garbage.pcap", []byte("this is not a capture file at all")), "not a pcap or pcapng file"},
		{"link type", write("wifi.pcap", capture(layers.LinkTypeIEEE802_11, []byte{1, 2, 3})), "link type 105 (802.11) is not supported"},
		{"truncated", write("cut.pcap", good[:len(good)-30]), "truncated: the file ends inside packet"},
		{"no IPv4", write("arp.pcap", capture(layers.LinkTypeEthernet, arp, arp)), "no IPv4 TCP or UDP packets among its 2 packets"},
		{"header only", write("hdr.pcap", capture(layers.LinkTypeEthernet)), "no IPv4 TCP or UDP packets among its 0 packets"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadPcap(tc.path)
			if err == nil {
				t.Fatalf("LoadPcap(%s) succeeded", tc.path)
			}
			if !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want the file name and %q", err, tc.want)
			}
		})
	}
}

// TestLoadPcapng reads the test capture converted to pcapng.
func TestLoadPcapng(t *testing.T) {
	f, err := os.Open(testCapture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriter(&b, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "flows.pcapng")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := LoadPcap(p)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Flows != 6 || len(tr.Packets) != 48 {
		t.Errorf("pcapng: %d flows, %d packets; want 6, 48", tr.Flows, len(tr.Packets))
	}
}
