package afpacket

import (
	"encoding/binary"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/ulvs/ulvs/internal/netns"
	"github.com/ulvs/ulvs/internal/netns/netnstest"
)

// Test topologies are network namespaces joined by veth pairs, built with
// internal/netns (the project's one topology helper) and removed in
// t.Cleanup. Tests refer to a namespace by name.

// spaces maps a namespace name to the netns value that owns it.
var spaces sync.Map // string -> *netns.NS

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN to build network namespaces, CAP_NET_RAW for AF_PACKET): run go test as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2)")
	}
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newNetns creates a namespace with loopback up and IPv6 off (no router
// solicitations in the captures) and returns its name.
func newNetns(t testing.TB) string {
	t.Helper()
	n, err := netnstest.ForTest(t).Add("afp")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"} {
		if err := n.Sysctl(key, "1"); err != nil {
			t.Fatal(err)
		}
	}
	spaces.Store(n.Name, n)
	return n.Name
}

// vethPair links namespace nsA's interface a to nsB's interface b, both up.
func vethPair(t testing.TB, nsA, a, nsB, b string) {
	t.Helper()
	run(t, "ip", "-n", nsA, "link", "add", "name", a, "type", "veth", "peer", "name", b, "netns", nsB)
	run(t, "ip", "-n", nsA, "link", "set", "dev", a, "up")
	run(t, "ip", "-n", nsB, "link", "set", "dev", b, "up")
}

// inNetns runs fn on a thread inside namespace ns (netns.NS.Do). Sockets
// created inside stay in ns and may be used from any thread.
func inNetns(t testing.TB, ns string, fn func()) {
	t.Helper()
	n, ok := spaces.Load(ns)
	if !ok {
		t.Fatalf("namespace %s was not made by newNetns", ns)
	}
	if err := n.(*netns.NS).Do(func() error { fn(); return nil }); err != nil {
		t.Fatal(err)
	}
}

func openRing(t testing.TB, ns, ifname string, cfg *Config) *RingPort {
	t.Helper()
	var p *RingPort
	var err error
	inNetns(t, ns, func() { p, err = Open(ifname, cfg) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func openPlain(t testing.TB, ns, ifname string, cfg *Config) *PlainPort {
	t.Helper()
	var p *PlainPort
	var err error
	inNetns(t, ns, func() { p, err = OpenPlain(ifname, cfg) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func ifaceMAC(t testing.TB, ns, ifname string) [6]byte {
	t.Helper()
	var mac [6]byte
	var err error
	inNetns(t, ns, func() { mac, _, err = Interface(ifname) })
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

// testEtherType is IEEE 802 local experimental EtherType 1: the kernel stack
// ignores it, and it tells our frames from anything else on the link.
const testEtherType = 0x88b5

// expFrame builds a frame of length n carrying seq, filled with a pattern
// derived from seq, so that any corruption shows.
func expFrame(dst, src [6]byte, seq uint32, n int) []byte {
	b := make([]byte, n)
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:14], testEtherType)
	binary.BigEndian.PutUint32(b[14:18], seq)
	for i := 18; i < n; i++ {
		b[i] = byte(uint32(i)*31 + seq)
	}
	return b
}

// udpFrame builds an Ethernet/IPv4/UDP frame of total length n with valid
// IPv4 and UDP checksums.
func udpFrame(dst, src [6]byte, srcIP, dstIP [4]byte, sport, dport uint16, n int) []byte {
	if n < 42 {
		n = 42
	}
	b := make([]byte, n)
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:14], 0x0800)
	ip := b[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(n-14))
	ip[8] = 64
	ip[9] = 17
	copy(ip[12:16], srcIP[:])
	copy(ip[16:20], dstIP[:])
	binary.BigEndian.PutUint16(ip[10:12], ^fold(sum16(ip, 0)))
	udp := b[34:]
	binary.BigEndian.PutUint16(udp[0:2], sport)
	binary.BigEndian.PutUint16(udp[2:4], dport)
	binary.BigEndian.PutUint16(udp[4:6], uint16(len(udp)))
	for i := 8; i < len(udp); i++ {
		udp[i] = byte(i)
	}
	c := ^fold(sum16(udp, pseudoSum(srcIP, dstIP, len(udp))))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:8], c)
	return b
}

func sum16(b []byte, acc uint32) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		acc += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		acc += uint32(b[len(b)-1]) << 8
	}
	return acc
}

func fold(acc uint32) uint16 {
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}

func pseudoSum(src, dst [4]byte, l4len int) uint32 {
	return sum16(src[:], 0) + sum16(dst[:], 0) + 17 + uint32(l4len)
}

// udpChecksumOK verifies the UDP checksum of an Ethernet/IPv4/UDP frame.
func udpChecksumOK(frame []byte) bool {
	ip := frame[14:]
	ihl := int(ip[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	udp := ip[ihl:total]
	var src, dst [4]byte
	copy(src[:], ip[12:16])
	copy(dst[:], ip[16:20])
	return fold(sum16(udp, pseudoSum(src, dst, len(udp)))) == 0xffff
}
