package forward

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ulvs/ulvs/internal/pcaptest"
)

// The topology of the golden cases (testdata/gengolden builds the frames
// from the same values).
var (
	clientMAC = [6]byte{2, 0, 0, 0, 0, 1}
	dirInMAC  = [6]byte{2, 0, 0, 0, 0, 2} // director, client side
	dirOutMAC = [6]byte{2, 0, 0, 0, 0, 3} // director, real-server side
	rsMAC     = [6]byte{2, 0, 0, 0, 0, 4}

	vip    = [4]byte{10, 0, 1, 100}
	rip    = [4]byte{10, 0, 2, 20} // NAT real server
	dirOut = [4]byte{10, 0, 2, 1}  // director's real-server-side address
	ripTUN = [4]byte{10, 0, 2, 30} // TUN real server
)

const (
	vportTCP = 80
	rportTCP = 8080
	vportUDP = 53
	rportUDP = 5353
	tunID    = 0x0101
)

type goldenOp uint8

const (
	opNATIn goldenOp = iota
	opNATOut
	opDR
	opTUN
)

// goldenCase is one frame through one method. out is the rewritten frame,
// or for a drop the ICMP error the director sends back (nil if none).
type goldenCase struct {
	name    string
	op      goldenOp
	partial bool // the frame arrives with TP_STATUS_CSUMNOTREADY
	mtu     int  // TUN egress MTU
	in      []byte
	reason  DropReason
	out     []byte
}

// mustHex is the name the generated golden_frames_test.go calls
// (testdata/gengolden); the decoding is pcaptest's.
func mustHex(s string) []byte { return pcaptest.Hex(s) }

// runGolden puts c.in through c.op the way the packet loop would and
// returns the frame to transmit (the rewritten frame or the ICMP reply).
func runGolden(c *goldenCase) ([]byte, DropReason) {
	frame := bytes.Clone(c.in)
	buf := make([]byte, 2048)
	var p Parsed
	if r := p.DecodeStatus(frame, c.partial); r != DropNone {
		return nil, r
	}
	rport, vport := uint16(rportTCP), uint16(vportTCP)
	if p.Proto == 17 || p.Inner.Proto == 17 {
		rport, vport = rportUDP, vportUDP
	}
	var r DropReason
	out := frame
	switch c.op {
	case opNATIn:
		r = NATInbound(frame, &p, rip, rport, dirOutMAC, rsMAC)
	case opNATOut:
		r = NATOutbound(frame, &p, vip, vport, dirInMAC, clientMAC)
	case opDR:
		r = DR(frame, &p, dirOutMAC, rsMAC)
	case opTUN:
		var n int
		n, r = TUN(buf, frame, &p, dirOut, ripTUN, dirOutMAC, rsMAC, c.mtu, tunID)
		out = buf[:n]
	}
	// What the loop answers a refusal with: from the address and MAC the
	// frame came to, back to where it came from.
	srcMAC := [6]byte(frame[0:6])
	dstMAC := [6]byte(frame[6:12])
	srcIP := p.Dst
	if c.op == opNATOut {
		srcIP = dirOut
	}
	switch r {
	case DropNone:
		return out, r
	case DropTTLExpired:
		n := BuildTimeExceeded(buf, frame, &p, srcIP, srcMAC, dstMAC)
		return buf[:n], r
	case DropFragNeeded:
		n := BuildFragNeeded(buf, frame, &p, c.mtu-TUNOverhead, srcIP, srcMAC, dstMAC)
		return buf[:n], r
	}
	return nil, r
}

func TestGolden(t *testing.T) {
	for i := range goldenCases {
		c := &goldenCases[i]
		t.Run(c.name, func(t *testing.T) {
			got, r := runGolden(c)
			if r != c.reason {
				t.Fatalf("reason = %v, want %v", r, c.reason)
			}
			if len(got) == 0 && c.out == nil {
				return
			}
			if !bytes.Equal(got, c.out) {
				t.Fatalf("output differs (-want +got):\n-%s\n+%s", hexDiffLine(c.out), hexDiffLine(got))
			}
			verifyGopacket(t, got)
			if !c.partial {
				verifyGopacket(t, c.in)
			}
		})
	}
}

func hexDiffLine(b []byte) string { return hex.EncodeToString(b) }

// verifyGopacket decodes frame with gopacket and checks every IPv4, TCP,
// UDP and ICMPv4 checksum in it (quoted and tunnelled datagrams included)
// against gopacket's own computation.
func verifyGopacket(t *testing.T, frame []byte) {
	t.Helper()
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	verifyLayers(t, pkt, "")
}

func verifyLayers(t *testing.T, pkt gopacket.Packet, where string) {
	t.Helper()
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("%sgopacket: %v", where, el.Error())
	}
	var ip *layers.IPv4
	for _, l := range pkt.Layers() {
		switch v := l.(type) {
		case *layers.IPv4:
			cp := *v
			want := serializedChecksum(t, &cp, v.Payload, 10)
			if v.Checksum != want {
				t.Errorf("%sIPv4 checksum %#04x, gopacket computes %#04x", where, v.Checksum, want)
			}
			if ip != nil && ip.Protocol == layers.IPProtocolIPv4 {
				where += "tunnelled "
			}
			ip = v
		case *layers.TCP:
			if int(ip.Length) > len(ip.Contents)+len(ip.Payload) {
				continue // a quote cut short: its checksum covers bytes not here
			}
			cp := *v
			cp.SetNetworkLayerForChecksum(ip)
			if want := serializedChecksum(t, &cp, v.Payload, 16); v.Checksum != want {
				t.Errorf("%sTCP checksum %#04x, gopacket computes %#04x", where, v.Checksum, want)
			}
		case *layers.UDP:
			if v.Checksum == 0 {
				continue // no checksum
			}
			cp := *v
			cp.SetNetworkLayerForChecksum(ip)
			want := serializedChecksum(t, &cp, v.Payload, 6)
			if want == 0 {
				want = 0xffff
			}
			if v.Checksum != want {
				t.Errorf("%sUDP checksum %#04x, gopacket computes %#04x", where, v.Checksum, want)
			}
		case *layers.ICMPv4:
			cp := *v
			if want := serializedChecksum(t, &cp, v.Payload, 2); v.Checksum != want {
				t.Errorf("%sICMPv4 checksum %#04x, gopacket computes %#04x", where, v.Checksum, want)
			}
			if v.TypeCode.Type() == layers.ICMPv4TypeDestinationUnreachable || v.TypeCode.Type() == layers.ICMPv4TypeTimeExceeded {
				q := gopacket.NewPacket(v.Payload, layers.LayerTypeIPv4, gopacket.Default)
				verifyLayers(t, q, where+"quoted ")
			}
		}
	}
}

// serializedChecksum serializes l over payload with checksums computed and
// returns the 16-bit word at off in l's own bytes.
func serializedChecksum(t *testing.T, l gopacket.SerializableLayer, payload []byte, off int) uint16 {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, l, gopacket.Payload(payload)); err != nil {
		t.Fatalf("gopacket serialize %v: %v", l.LayerType(), err)
	}
	b := buf.Bytes()
	return uint16(b[off])<<8 | uint16(b[off+1])
}

// tsharkBadFilter matches any frame tshark finds a bad checksum in, or
// cannot dissect.
const tsharkBadFilter = `_ws.malformed || ip.checksum.status == "Bad" || tcp.checksum.status == "Bad" || ` +
	`udp.checksum.status == "Bad" || icmp.checksum.status == "Bad"`

// TestGoldenTshark writes every golden output (and every input that is
// meant to be valid) to a pcap and has tshark validate it with checksum
// checking on. Three deliberately broken frames at the end prove the
// filter would catch a failure.
func TestGoldenTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (apt-get install tshark): skipping the Wireshark cross-check")
	}
	var frames [][]byte
	var names []string
	for i := range goldenCases {
		c := &goldenCases[i]
		got, r := runGolden(c)
		if r != c.reason {
			t.Fatalf("%s: reason %v, want %v", c.name, r, c.reason)
		}
		if !c.partial {
			frames, names = append(frames, c.in), append(names, c.name+" in")
		}
		if len(got) > 0 {
			frames, names = append(frames, got), append(names, c.name+" out")
		}
	}
	good := len(frames)
	badTCP := bytes.Clone(goldenCases[0].out)
	badTCP[14+20+16] ^= 0x01 // TCP checksum
	badIP := bytes.Clone(goldenCases[0].out)
	badIP[14+8]-- // TTL changed, IP checksum not patched
	short := bytes.Clone(goldenCases[1].out[:14+20+10])
	frames = append(frames, badTCP, badIP, short)

	path := filepath.Join(t.TempDir(), "golden.pcap")
	pcaptest.Write(t, path, frames)
	out, err := exec.Command(tshark, "-n", "-r", path,
		"-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
		"-Y", tsharkBadFilter, "-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var flagged []string
	for _, f := range strings.Fields(string(out)) {
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil {
			t.Fatalf("tshark output %q: %v", out, err)
		}
		if n <= good {
			flagged = append(flagged, names[n-1])
		}
	}
	if len(flagged) > 0 {
		t.Errorf("tshark reports bad checksums or malformed packets in: %v", flagged)
	}
	want := fmt.Sprintf("%d\n%d\n%d\n", good+1, good+2, good+3)
	if got := lastLines(string(out), 3); got != want {
		t.Errorf("tshark did not flag the three broken control frames: flagged %q, want %q", got, want)
	}
	t.Logf("tshark validated %d frames", good)
}

func lastLines(s string, n int) string {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n")+"\n", "\n")
	lines = lines[:len(lines)-1]
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}
