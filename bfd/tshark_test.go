package bfd

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// udpFrame wraps a BFD payload in Ethernet, IPv4 (TTL 255) and UDP from
// a source port in RFC 5881's range to port 3784, checksums computed.
func udpFrame(t *testing.T, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
		EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: DefaultTTL, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IP{10, 0, 2, 1}, DstIP: net.IP{10, 0, 2, 11}}
	udp := &layers.UDP{SrcPort: 49152, DstPort: Port}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestTsharkDissects has Wireshark's BFD dissector read the packets a
// session sends through a handshake, a poll sequence and a shutdown:
// every field must read back as we meant it and nothing may be flagged
// malformed. A packet with the A bit set and no authentication section
// is the control: tshark must flag it, or the check proves nothing.
func TestTsharkDissects(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed (make deps installs it)")
	}
	m := NewMachine(testConfig, ourDisc, fixedRand(0.5))
	m.Start(t0)
	var payloads [][]byte
	send := func() { payloads = append(payloads, m.AppendPacket(t0, nil)) }
	send()                                                      // Down, slow
	m.Receive(t0, peer(Down))                                   // Init
	send()                                                      //
	m.Receive(t0, peer(Up))                                     // Up, poll
	send()                                                      //
	m.Receive(t0, peer(Up, func(f *Fields) { f.Poll = true }))  // owe a Final
	send()                                                      //
	m.Receive(t0, peer(Up, func(f *Fields) { f.Final = true })) // poll over
	send()                                                      //
	m.Shutdown(t0)                                              // AdminDown
	send()                                                      //
	want := []string{
		// sta diag P F mult len my your tx rx echo
		"0x01,0x00,0,0,3,24,0x0a0a0a0a,0x00000000,1000000,100000,0",
		"0x02,0x00,0,0,3,24,0x0a0a0a0a,0x0b0b0b0b,1000000,100000,0",
		"0x03,0x00,1,0,3,24,0x0a0a0a0a,0x0b0b0b0b,50000,100000,0",
		"0x03,0x00,0,1,3,24,0x0a0a0a0a,0x0b0b0b0b,50000,100000,0",
		"0x03,0x00,0,0,3,24,0x0a0a0a0a,0x0b0b0b0b,50000,100000,0",
		"0x00,0x07,0,0,3,24,0x0a0a0a0a,0x0b0b0b0b,1000000,100000,0",
	}
	broken := append([]byte(nil), payloads[4]...)
	broken[1] |= flagAuth // the A bit with no authentication section

	var frames [][]byte
	for _, p := range append(payloads, broken) {
		frames = append(frames, udpFrame(t, p))
	}
	path := filepath.Join(t.TempDir(), "bfd.pcap")
	writePcap(t, path, frames)

	fields := []string{"bfd.sta", "bfd.diag", "bfd.flags.p", "bfd.flags.f", "bfd.detect_time_multiplier",
		"bfd.message_length", "bfd.my_discriminator", "bfd.your_discriminator", "bfd.desired_min_tx_interval",
		"bfd.required_min_rx_interval", "bfd.required_min_echo_interval"}
	args := []string{"-r", path, "-d", "udp.port==3784,bfd", "-T", "fields", "-E", "separator=,", "-Y", "frame.number <= 6"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	got := strings.Split(strings.TrimSpace(normalise(string(out))), "\n")
	if len(got) != len(want) {
		t.Fatalf("tshark dissected %d packets, want %d:\n%s", len(got), len(want), out)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("packet %d: tshark read\n%s\nwant\n%s", i+1, got[i], want[i])
		}
	}

	out, err = exec.Command("tshark", "-r", path, "-d", "udp.port==3784,bfd", "-T", "fields", "-e", "frame.number",
		"-Y", `_ws.malformed || _ws.expert.severity >= warning || udp.checksum.status == "Bad" || ip.checksum.status == "Bad"`).Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	if flagged := strings.TrimSpace(string(out)); flagged != fmt.Sprint(len(frames)) {
		t.Errorf("tshark flagged frames %q; want only the broken control, frame %d", flagged, len(frames))
	}
}

// normalise makes tshark's booleans and numbers comparable across
// versions ("True"/"1", decimal or hex discriminators stay as printed).
func normalise(s string) string {
	r := strings.NewReplacer("True", "1", "False", "0")
	return r.Replace(s)
}

func writePcap(t *testing.T, path string, frames [][]byte) {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(i)*int64(time.Millisecond)), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
