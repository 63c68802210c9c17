package lvssync

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/ulvs/ulvs/internal/pcaptest"
)

// frame wraps a sync message the way a director multicasts it.
func frame(t *testing.T, msg []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{1, 0, 0x5e, 0, 0, 0x51},
		EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 1, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{10, 0, 0, 2}, DstIP: net.IP{224, 0, 0, 81}}
	udp := &layers.UDP{SrcPort: 41000, DstPort: DefaultPort}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload(msg)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tsharkFields are the dissector's fields a golden message is checked
// on, in the order of want below.
var tsharkFields = []string{"ipvs.syncid", "ipvs.size", "ipvs.conncount", "ipvs.version", "ipvs.type", "ipvs.proto",
	"ipvs.size.v1", "ipvs.flags.v1", "ipvs.state", "ipvs.cport", "ipvs.vport", "ipvs.dport", "ipvs.fwmark",
	"ipvs.timeout", "ipvs.caddr", "ipvs.vaddr", "ipvs.daddr", "ipvs.caddr6", "ipvs.vaddr6", "ipvs.daddr6", "_ws.malformed"}

// tsharkWant is what the dissector should print for a message of conns:
// each field once per entry, comma-separated.
func tsharkWant(syncID uint8, msg []byte, conns []Conn) string {
	var per [18][]string
	for _, c := range conns {
		n, _ := c.encodedLen()
		typ := "0"
		if c.CAddr.Is6() {
			typ = "1"
		}
		per[0] = append(per[0], typ)
		per[1] = append(per[1], fmt.Sprintf("0x%02x", c.Protocol))
		per[2] = append(per[2], fmt.Sprint(n))
		per[3] = append(per[3], fmt.Sprintf("0x%08x", c.Flags))
		per[4] = append(per[4], fmt.Sprintf("0x%04x", c.State))
		per[5] = append(per[5], fmt.Sprint(c.CPort))
		per[6] = append(per[6], fmt.Sprint(c.VPort))
		per[7] = append(per[7], fmt.Sprint(c.DPort))
		per[8] = append(per[8], fmt.Sprintf("0x%08x", c.FWMark))
		per[9] = append(per[9], fmt.Sprint(c.Timeout))
		a := 10
		if c.CAddr.Is6() {
			a = 13
		}
		per[a] = append(per[a], c.CAddr.String())
		per[a+1] = append(per[a+1], c.VAddr.String())
		per[a+2] = append(per[a+2], c.DAddr.String())
	}
	cols := []string{fmt.Sprint(syncID), fmt.Sprint(len(msg)), fmt.Sprint(len(conns)), "1"}
	for _, p := range per[:10] {
		cols = append(cols, strings.Join(p, ","))
	}
	for _, p := range per[10:16] {
		cols = append(cols, strings.Join(p, ","))
	}
	return strings.Join(append(cols, ""), "|")
}

// TestGoldenTshark has Wireshark's IPVS dissector decode golden messages
// (IPv4 and IPv6 entries, with and without options) and checks every
// field it shows against what ulvs meant, and that nothing is
// malformed. The dissector reads the fixed 36 or 72 bytes of each entry
// and knows neither options nor padding, so an entry with options goes
// last in its message (TestEncodeKernelLayout pins those bytes against
// the kernel's layout instead). An extension message must decode as an
// empty IPVS message.
func TestGoldenTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (apt-get install tshark): skipping the Wireshark cross-check")
	}
	cases := []struct {
		name   string
		syncID uint8
		conns  []Conn
	}{
		{"ipv4", 0, []Conn{conn4}},
		{"ipv4 x3", 200, []Conn{conn4, conn4, conn4}},
		{"ipv6", 7, []Conn{conn6}},
		{"ipv4 then ipv6", 8, []Conn{conn4, conn6}},
		{"options", 9, []Conn{connOpts}},
		{"ipv4 then options", 10, []Conn{conn4, connOpts}},
	}
	var frames [][]byte
	var want []string
	for _, c := range cases {
		msg := encode(t, 0, c.syncID, c.conns...)
		frames = append(frames, frame(t, msg))
		want = append(want, tsharkWant(c.syncID, msg, c.conns))
	}
	ext := AppendExt(nil, 11, Ext{Op: OpResyncRequest, Nonce: 1})
	frames = append(frames, frame(t, ext))
	want = append(want, "11|28|0|85"+strings.Repeat("|", len(tsharkFields)-4))
	// The control: a message cut inside its entry must show as malformed,
	// or the check above would pass on a dissector that shows nothing.
	cut := encode(t, 0, 1, conn4)[:HeaderLen+20]
	frames = append(frames, frame(t, cut))

	path := filepath.Join(t.TempDir(), "sync.pcap")
	pcaptest.Write(t, path, frames)
	args := []string{"-n", "-r", path, "-d", "udp.port==8848,ipvs", "-o", "udp.check_checksum:TRUE", "-T", "fields",
		"-E", "separator=|", "-E", "aggregator=,"}
	for _, f := range tsharkFields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command(tshark, args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(want)+1 {
		t.Fatalf("tshark printed %d lines for %d frames:\n%s", len(lines), len(want), out)
	}
	if control := lines[len(want)]; !strings.Contains(control, "Malformed Packet: IPVS") {
		t.Errorf("tshark did not flag the cut control message as malformed: %q", control)
	}
	for i, l := range lines[:len(want)] {
		name := "extension"
		if i < len(cases) {
			name = cases[i].name
		}
		if l != want[i] {
			t.Errorf("%s: tshark decodes\n%s\nwant\n%s\n(fields %s)", name, l, want[i], strings.Join(tsharkFields, "|"))
		}
	}
}
