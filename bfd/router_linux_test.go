package bfd

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/netns"
)

// TestRouterWire checks the RFC 5881 encapsulation on real sockets in a
// namespace pair: the Router sends from a port in 49152-65535 with TTL
// 255, and drops received packets whose TTL is below 255 (GTSM) while
// accepting the same packet at 255; over IPv4 and IPv6 (hop limit).
func TestRouterWire(t *testing.T) {
	t.Run("IPv4", func(t *testing.T) { testRouterWire(t, "10.92.0.1", "10.92.0.2", 24) })
	t.Run("IPv6", func(t *testing.T) { testRouterWire(t, "fd00:92::1", "fd00:92::2", 64) })
}

func testRouterWire(t *testing.T, aStr, bStr string, bits int) {
	aAddr, bAddr := netip.MustParseAddr(aStr), netip.MustParseAddr(bStr)
	a, b := pair(t, aAddr, bAddr, bits)
	var peerIn *listener
	var low, ok *sender
	err := b.Do(func() (err error) {
		if peerIn, err = listen(bAddr.Is6(), Port); err != nil {
			return err
		}
		if low, err = openSender(bAddr, aAddr, Port, 254); err != nil {
			return err
		}
		ok, err = openSender(bAddr, aAddr, Port, 255)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { peerIn.conn.Close(); low.conn.Close(); ok.conn.Close() }()

	r := runRouter(t, a, RouterConfig{Sessions: []SessionConfig{{Name: "wire", Peer: bAddr, Local: aAddr,
		Config: Config{DesiredMinTx: 10 * time.Millisecond, RequiredMinRx: 10 * time.Millisecond, IdleTx: time.Second, DetectMult: 3}}}})

	peerIn.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var p rxPacket
	if err := peerIn.read(&p); err != nil {
		t.Fatalf("no packet from the Router: %v", err)
	}
	if p.src != aAddr || p.dst != bAddr || p.ttl != 255 {
		t.Errorf("received from %v to %v with TTL %d; want from %v to %v, TTL 255", p.src, p.dst, p.ttl, aAddr, bAddr)
	}
	c, drop := Parse(p.buf[:p.n])
	if drop != DropNone || c.State() != Down || c.YourDisc() != 0 {
		t.Fatalf("first packet: %v, state %v", drop, c.State())
	}
	if port := p.srcPort; port < MinSrcPort {
		t.Errorf("source port %d is below %d (RFC 5881 section 4)", port, MinSrcPort)
	}

	down := AppendControl(nil, &Fields{State: Down, DetectMult: 3, MyDisc: 77, DesiredMinTx: time.Second, RequiredMinRx: time.Second})
	if err := low.send(down); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a TTL 254 packet counted as a TTL drop", func() bool { return r.Drops(DropTTL) == 1 })
	if st := r.Status()[0]; st.State != Down || st.RemoteDisc != 0 {
		t.Fatalf("a TTL 254 packet changed the session: %v, remote disc %d", st.State, st.RemoteDisc)
	}
	if err := ok.send(down); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the session Init after a TTL 255 packet", func() bool { return r.Status()[0].State == Init })
	if st := r.Status()[0]; st.RemoteDisc != 77 || st.Received != 1 {
		t.Errorf("status after the peer's Down: remote disc %d, received %d", st.RemoteDisc, st.Received)
	}
}

// pair is netns.Pair with addresses usable at once: nodad, because an
// IPv6 address under duplicate detection cannot be bound.
func pair(t *testing.T, aAddr, bAddr netip.Addr, bits int) (a, b *netns.NS) {
	a, b = netns.Pair(t, "veth0", "", "veth1", "")
	for _, x := range []struct {
		ns   *netns.NS
		dev  string
		addr netip.Addr
	}{{a, "veth0", aAddr}, {b, "veth1", bAddr}} {
		if err := x.ns.IP("addr", "add", netip.PrefixFrom(x.addr, bits).String(), "dev", x.dev, "nodad"); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

// runRouter opens a Router in ns and runs it until the test ends.
func runRouter(t *testing.T, ns *netns.NS, cfg RouterConfig) *Router {
	t.Helper()
	var r *Router
	if err := ns.Do(func() (err error) { r, err = NewRouter(cfg); return err }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	// Run in ns too: it opens the socket of a source address that appears
	// late.
	go func() { defer close(done); ns.Do(func() error { return r.Run(ctx) }) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSourceAddressLater: a source_ip that is not on the host yet (a VRRP
// address, an interface coming up) does not stop the Router, as in
// keepalived; the session starts sending once the address appears.
func TestSourceAddressLater(t *testing.T) {
	a, b := netns.Pair(t, "veth0", "", "veth1", "10.94.0.2/24")
	aAddr, bAddr := netip.MustParseAddr("10.94.0.1"), netip.MustParseAddr("10.94.0.2")
	var peerIn *listener
	if err := b.Do(func() (err error) { peerIn, err = listen(false, Port); return err }); err != nil {
		t.Fatal(err)
	}
	defer peerIn.conn.Close()
	r := runRouter(t, a, RouterConfig{Sessions: []SessionConfig{{Name: "later", Peer: bAddr, Local: aAddr,
		Config: Config{DesiredMinTx: 10 * time.Millisecond, RequiredMinRx: 10 * time.Millisecond, IdleTx: time.Second, DetectMult: 3}}}})
	waitFor(t, "a failed send while the address is missing", func() bool { return r.Status()[0].SendErr > 0 })
	if err := a.IP("addr", "add", "10.94.0.1/24", "dev", "veth0"); err != nil {
		t.Fatal(err)
	}
	peerIn.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var p rxPacket
	if err := peerIn.read(&p); err != nil {
		t.Fatalf("no packet after the source address appeared: %v (status %+v)", err, r.Status()[0])
	}
	if p.src != aAddr {
		t.Errorf("packet from %v, want %v", p.src, aAddr)
	}
}
