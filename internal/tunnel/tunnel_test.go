package tunnel

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/mdlayher/packet"
	"github.com/ulvs/ulvs/forward/header"
	"github.com/ulvs/ulvs/internal/netns"
	"golang.org/x/sys/unix"
)

var (
	senderAddr = netip.MustParseAddr("10.0.9.1")
	serverAddr = netip.MustParseAddr("10.0.9.2")
	clientAddr = netip.MustParseAddr("10.0.1.10")
	vipAddr    = netip.MustParseAddr("10.0.1.100")
)

// ipip builds outer(src→dst, proto 4) + inner(client→VIP UDP) with gopacket.
func ipip(t testing.TB, outerSrc, outerDst netip.Addr, sport, dport uint16, payload []byte) []byte {
	t.Helper()
	inner := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: clientAddr.AsSlice(), DstIP: vipAddr.AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := udp.SetNetworkLayerForChecksum(inner); err != nil {
		t.Fatal(err)
	}
	outer := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolIPv4,
		SrcIP: outerSrc.AsSlice(), DstIP: outerDst.AsSlice()}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, outer, inner, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func fixIPChecksum(b []byte) []byte {
	ip := header.IPv4(b)
	ip.SetChecksum(ip.ComputeChecksum())
	return b
}

func TestDecap(t *testing.T) {
	local := func(a [4]byte) bool { return netip.AddrFrom4(a) == serverAddr }
	good := ipip(t, senderAddr, serverAddr, 40000, 9000, []byte("hello"))
	innerWant := good[20:]

	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name   string
		pkt    []byte
		reason DropReason // ignored when ok
		ok     bool
	}{
		{"valid", good, 0, true},
		{"ethernet padding", append(bytes.Clone(good), 0, 0, 0, 0), 0, true},
		{"truncated", good[:19], DropOuterHeader, false},
		{"IPv6 version", mutate(func(b []byte) []byte { b[0] = 0x65; return b }), DropOuterHeader, false},
		{"bad outer checksum", mutate(func(b []byte) []byte { b[10] ^= 1; return b }), DropOuterHeader, false},
		{"outer length beyond data", mutate(func(b []byte) []byte { b[2]++; return fixIPChecksum(b) }), DropOuterHeader, false},
		{"not IPIP", mutate(func(b []byte) []byte { b[9] = 17; return fixIPChecksum(b) }), DropOuterHeader, false},
		{"more fragments", mutate(func(b []byte) []byte { b[6] |= 0x20; return fixIPChecksum(b) }), DropFragment, false},
		{"fragment offset", mutate(func(b []byte) []byte { b[7] = 1; return fixIPChecksum(b) }), DropFragment, false},
		{"DF is fine", mutate(func(b []byte) []byte { b[6] |= 0x40; return fixIPChecksum(b) }), 0, true},
		{"not local", ipip(t, senderAddr, netip.MustParseAddr("10.0.9.77"), 1, 2, nil), DropNotLocal, false},
		{"bad inner checksum", mutate(func(b []byte) []byte { b[30] ^= 1; return b }), DropInnerHeader, false},
		{"inner too short", mutate(func(b []byte) []byte {
			b = b[:30]
			binary.BigEndian.PutUint16(b[2:], 30)
			return fixIPChecksum(b)
		}), DropInnerHeader, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inner, reason, ok := decap(tc.pkt, local)
			if ok != tc.ok {
				t.Fatalf("ok = %v (reason %v), want %v", ok, reason, tc.ok)
			}
			if !ok {
				if reason != tc.reason {
					t.Errorf("reason %v, want %v", reason, tc.reason)
				}
				return
			}
			if !bytes.Equal(inner, innerWant) {
				t.Errorf("inner\n got %x\nwant %x", inner, innerWant)
			}
		})
	}
}

func TestDecapAllocs(t *testing.T) {
	good := ipip(t, senderAddr, serverAddr, 40000, 9000, []byte("hello"))
	local := func(a [4]byte) bool { return true }
	if a := testing.AllocsPerRun(1000, func() { decap(good, local) }); a != 0 {
		t.Errorf("decap allocates %.1f times", a)
	}
}

func FuzzDecap(f *testing.F) {
	f.Add(ipip(f, senderAddr, serverAddr, 40000, 9000, []byte("hello")))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		inner, _, ok := decap(pkt, func([4]byte) bool { return true })
		if !ok {
			return
		}
		p := gopacket.NewPacket(inner, layers.LayerTypeIPv4, gopacket.NoCopy)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil || int(ip.Length) != len(inner) {
			t.Fatalf("delivered an invalid inner packet %x", inner)
		}
	})
}

// topology: sender ns (10.0.9.1 on s0, the "director"; 10.0.1.10 on lo, the
// client) ──veth── server ns (10.0.9.2 on eth0, VIP on lo, decapsulator).
type topo struct {
	sender, server *netns.NS
	serverMAC      net.HardwareAddr
	raw            *packet.Conn // AF_PACKET on s0 for hand-built frames
}

func newTopo(t *testing.T) *topo {
	env := netns.ForTest(t)
	tp := &topo{}
	var err error
	if tp.sender, err = env.Add("sender"); err != nil {
		t.Fatal(err)
	}
	if tp.server, err = env.Add("server"); err != nil {
		t.Fatal(err)
	}
	steps := []func() error{
		func() error { return env.Veth(tp.sender, "s0", tp.server, "eth0") },
		func() error { return tp.sender.AddrAdd("s0", "10.0.9.1/24") },
		func() error { return tp.sender.AddrAdd("lo", clientAddr.String()+"/32") },
		func() error { return tp.sender.RouteAdd(vipAddr.String()+"/32", serverAddr.String()) },
		func() error { return tp.server.AddrAdd("eth0", "10.0.9.2/24") },
		func() error { return tp.server.AddrAdd("lo", vipAddr.String()+"/32") },
		func() error { return tp.server.RouteAdd("10.0.1.0/24", senderAddr.String()) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			t.Fatal(err)
		}
	}
	ifi, err := tp.server.Interface("eth0")
	if err != nil {
		t.Fatal(err)
	}
	tp.serverMAC = ifi.HardwareAddr
	err = tp.sender.Do(func() error {
		s0, err := net.InterfaceByName("s0")
		if err != nil {
			return err
		}
		tp.raw, err = packet.Listen(s0, packet.Datagram, unix.ETH_P_IP, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.raw.Close() })
	return tp
}

func (tp *topo) send(t *testing.T, pkt []byte) {
	t.Helper()
	if _, err := tp.raw.WriteTo(pkt, &packet.Addr{HardwareAddr: tp.serverMAC}); err != nil {
		t.Fatal(err)
	}
}

// startDecap runs the decapsulator in the server namespace until the test ends.
func startDecap(t *testing.T, tp *topo) *Decapsulator {
	var d *Decapsulator
	if err := tp.server.Do(func() error {
		var err error
		d, err = New(Config{Interface: "eth0", TunName: "tuntest0"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
		d.Close()
	})
	return d
}

func TestUDPEchoThroughTunnel(t *testing.T) {
	tp := newTopo(t)
	d := startDecap(t, tp)

	// UDP echo server bound to the VIP in the server namespace.
	var echo net.PacketConn
	if err := tp.server.Do(func() (err error) {
		echo, err = net.ListenPacket("udp4", vipAddr.String()+":9000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := echo.ReadFrom(buf)
			if err != nil {
				return
			}
			echo.WriteTo(buf[:n], from)
		}
	}()

	// The client socket and an ICMP watcher in the sender namespace.
	var client, icmp net.PacketConn
	if err := tp.sender.Do(func() (err error) {
		if client, err = net.ListenPacket("udp4", clientAddr.String()+":40000"); err != nil {
			return err
		}
		icmp, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); icmp.Close() })

	const rounds = 5
	buf := make([]byte, 2048)
	for i := range rounds {
		msg := []byte("ulvs-tunnel-echo-" + string(rune('a'+i)))
		tp.send(t, ipip(t, senderAddr, serverAddr, 40000, 9000, msg))
		client.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, from, err := client.ReadFrom(buf)
		if err != nil {
			t.Fatalf("round %d: no echo: %v (stats %+v)", i, err, d.Stats())
		}
		if !bytes.Equal(buf[:n], msg) {
			t.Errorf("round %d: echo %q, want %q", i, buf[:n], msg)
		}
		if got := from.(*net.UDPAddr).AddrPort(); got != netip.AddrPortFrom(vipAddr, 9000) {
			t.Errorf("round %d: reply from %v, want the VIP", i, got)
		}
	}

	// Packets the decapsulator must refuse, each counted once.
	bad := ipip(t, senderAddr, serverAddr, 40000, 9000, []byte("x"))
	bad[30] ^= 0xff // inner checksum
	tp.send(t, bad)
	frag := ipip(t, senderAddr, serverAddr, 40000, 9000, []byte("x"))
	frag[6] |= 0x20
	tp.send(t, fixIPChecksum(frag))
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && d.Stats().Dropped() < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	st := d.Stats()
	if st.Delivered != rounds || st.Drops[DropInnerHeader] != 1 || st.Drops[DropFragment] != 1 || st.Received != rounds+2 {
		t.Errorf("stats %+v: want %d delivered, 1 inner-header and 1 fragment drop", st, rounds)
	}

	// The guard socket keeps the kernel from answering IPIP with ICMP
	// protocol-unreachable.
	icmp.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	for {
		n, _, err := icmp.ReadFrom(buf)
		if err != nil {
			break
		}
		if n >= 2 && buf[0] == 3 && buf[1] == 2 {
			t.Fatal("the server's kernel sent ICMP protocol-unreachable for IPIP")
		}
	}
}

func TestNotLocalIsDropped(t *testing.T) {
	tp := newTopo(t)
	d := startDecap(t, tp)
	tp.send(t, ipip(t, senderAddr, netip.MustParseAddr("10.0.9.77"), 40000, 9000, []byte("x")))
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && d.Stats().Drops[DropNotLocal] == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	if st := d.Stats(); st.Drops[DropNotLocal] != 1 || st.Delivered != 0 {
		t.Errorf("stats %+v: want one not-local drop", st)
	}
}

// TestTCPEchoThroughTunnel runs a real TCP connection through the tunnel:
// the sender namespace routes the VIP into a TUN device whose packets the
// test wraps in an outer IPv4 header (the director's job) and sends to the
// server; replies go straight back over the veth.
func TestTCPEchoThroughTunnel(t *testing.T) {
	tp := newTopo(t)
	d := startDecap(t, tp)

	var ln net.Listener
	if err := tp.server.Do(func() (err error) {
		ln, err = net.Listen("tcp4", vipAddr.String()+":9001")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); buf := make([]byte, 4096); n, _ := c.Read(buf); c.Write(buf[:n]) }()
		}
	}()

	var enc *os.File
	if err := tp.sender.Do(func() (err error) {
		enc, err = openTUN("enc0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enc.Close() })
	if err := tp.sender.IP("route", "replace", vipAddr.String()+"/32", "dev", "enc0"); err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, err := enc.Read(buf[20:])
			if err != nil {
				return
			}
			if buf[20]>>4 != 4 {
				continue // the kernel's IPv6 chatter on enc0; a director tunnels IPv4 only
			}
			header.IPv4(buf).Encode(&header.IPv4Fields{TotalLength: uint16(20 + n), TTL: 64, Protocol: header.ProtoIPIP,
				Src: senderAddr.As4(), Dst: serverAddr.As4()})
			tp.raw.WriteTo(buf[:20+n], &packet.Addr{HardwareAddr: tp.serverMAC})
		}
	}()

	var conn net.Conn
	if err := tp.sender.Do(func() (err error) {
		dl := net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: clientAddr.AsSlice()}}
		conn, err = dl.Dial("tcp4", vipAddr.String()+":9001")
		return err
	}); err != nil {
		t.Fatalf("TCP connect through the tunnel: %v (stats %+v)", err, d.Stats())
	}
	defer conn.Close()
	msg := bytes.Repeat([]byte("ulvs-tcp "), 100)
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo %q, %v", got, err)
	}
	if st := d.Stats(); st.Delivered < 3 || st.Dropped() != 0 {
		t.Errorf("stats %+v: want the handshake and data delivered, no drops", st)
	}
}
