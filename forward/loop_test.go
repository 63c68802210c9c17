package forward

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"github.com/ulvs/ulvs/forward/header"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/balancer/conntrack"
	"github.com/ulvs/ulvs/forward/afpacket"
	"github.com/ulvs/ulvs/forward/afpacket/afpackettest"
	"github.com/ulvs/ulvs/forward/neigh"
	"github.com/ulvs/ulvs/internal/leaktest"
)

var (
	lpClientMAC = [6]byte{2, 0, 0, 0, 1, 10}
	lpFrontMAC  = [6]byte{2, 0, 0, 0, 1, 1}
	lpBackMAC   = [6]byte{2, 0, 0, 0, 2, 1}
	lpRealMAC   = [6]byte{2, 0, 0, 0, 2, 11}
	lpClientIP  = [4]byte{10, 0, 1, 10}
	lpVIP       = [4]byte{10, 0, 1, 100}
	lpRealIP    = [4]byte{10, 0, 2, 11}
)

type loopFixture struct {
	loop          *Loop
	client, reals *worker
	cconn, rconn  *afpackettest.Conn // client-side and real-side sockets of each worker's egress
	table         atomic.Pointer[balancer.Table]
}

func newLoopFixture(t testing.TB, m balancer.Method, realPort uint16) *loopFixture {
	t.Helper()
	return newLoopFixtureSized(t, m, realPort, 1<<12)
}

// newLoopFixtureSized is newLoopFixture with a connection table of
// maxConns entries.
func newLoopFixtureSized(t testing.TB, m balancer.Method, realPort uint16, maxConns int) *loopFixture {
	t.Helper()
	tab, err := balancer.NewTable(nil, []balancer.ServiceConfig{{
		Key:       balancer.ServiceKey{Addr: netip.AddrFrom4(lpVIP), Port: 80, Proto: balancer.TCP},
		Scheduler: "rr",
		Reals:     []balancer.RealConfig{{Addr: netip.AddrFrom4(lpRealIP), Port: realPort, Method: m, Weight: 1}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f := &loopFixture{}
	f.table.Store(tab)
	dir, err := conntrack.New(conntrack.Config{MaxConns: maxConns})
	if err != nil {
		t.Fatal(err)
	}
	client := &Port{Name: "front0", MAC: lpFrontMAC, MTU: 1500, Addr: [4]byte{10, 0, 1, 1},
		Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.1.0/24")},
		Neigh:    neigh.New(neigh.Config{Static: map[[4]byte][6]byte{lpClientIP: lpClientMAC}})}
	reals := &Port{Name: "back0", MAC: lpBackMAC, MTU: 1500, Addr: [4]byte{10, 0, 2, 1},
		Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.2.0/24")},
		Neigh:    neigh.New(neigh.Config{Static: map[[4]byte][6]byte{lpRealIP: lpRealMAC}})}
	conns := map[string][]*afpackettest.Conn{}
	vips := new(neigh.VIPSet)
	vips.Claim(lpVIP)
	f.loop, err = NewLoop(LoopConfig{
		Client: client, Reals: reals, Table: &f.table, Tracker: dir, VIPs: vips, Workers: 1,
		Clock: func() conntrack.Tick { return 1000 },
		Open: func(ifname string, _ *afpacket.Config) (afpacket.Conn, error) {
			c := afpackettest.New(ifname)
			c.Keep = true
			conns[ifname] = append(conns[ifname], c)
			return c, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.client, f.reals = f.loop.workers[0], f.loop.workers[1]
	f.rconn = f.client.txReals.(*afpackettest.Conn)
	f.cconn = f.reals.txClient.(*afpackettest.Conn)
	return f
}

// feed runs frames through a worker as one batch.
func (f *loopFixture) feed(w *worker, frames ...[]byte) {
	rx := w.rx.(*afpackettest.Conn)
	rx.RX = append(rx.RX, frames...)
	n, _ := rx.Receive(w.frames)
	w.handleBatch(w.frames[:n])
	w.flush()
}

func tcpFrame(t testing.TB, dstMAC, srcMAC [6]byte, src, dst [4]byte, sport, dport uint16, syn, ack bool, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(srcMAC[:]), DstMAC: net.HardwareAddr(dstMAC[:]), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP(src[:]), DstIP: net.IP(dst[:]), Flags: layers.IPv4DontFragment}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: syn, ACK: ack, Seq: 1, Window: 65535}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decodeOK decodes a frame with gopacket and checks its IPv4 and TCP
// checksums by recomputing them.
func decodeOK(t *testing.T, frame []byte) (*layers.Ethernet, *layers.IPv4, *layers.TCP) {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	var ip *layers.IPv4
	for _, l := range p.Layers() {
		if v, ok := l.(*layers.IPv4); ok {
			ip = v // the innermost for TUN
		}
	}
	tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if tcp == nil {
		t.Fatalf("no TCP layer in %x", frame)
	}
	// Re-serialize with checksums computed and compare with what came out.
	ipc, tcpc := *ip, *tcp
	tcpc.SetNetworkLayerForChecksum(&ipc)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, &ipc, &tcpc, gopacket.Payload(tcp.Payload)); err != nil {
		t.Fatal(err)
	}
	out := buf.Bytes()
	if got, want := ip.Checksum, binary.BigEndian.Uint16(out[10:]); got != want {
		t.Errorf("IPv4 checksum %#04x, want %#04x", got, want)
	}
	if got, want := tcp.Checksum, binary.BigEndian.Uint16(out[int(ip.IHL)*4+16:]); got != want {
		t.Errorf("TCP checksum %#04x, want %#04x", got, want)
	}
	return eth, ip, tcp
}

func TestLoopMethods(t *testing.T) {
	for _, tt := range []struct {
		method   balancer.Method
		realPort uint16
	}{{balancer.NAT, 8080}, {balancer.DR, 80}, {balancer.TUN, 80}} {
		t.Run(tt.method.String(), func(t *testing.T) {
			f := newLoopFixture(t, tt.method, tt.realPort)
			syn := tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, 40000, 80, true, false, nil)
			f.feed(f.client, syn)
			if len(f.rconn.Sent) != 1 {
				t.Fatalf("%d frames to the real server, want 1; stats %+v", len(f.rconn.Sent), f.loop.Stats())
			}
			eth, ip, tcp := decodeOK(t, f.rconn.Sent[0])
			if [6]byte(eth.DstMAC) != lpRealMAC || [6]byte(eth.SrcMAC) != lpBackMAC {
				t.Errorf("MACs %v -> %v", eth.SrcMAC, eth.DstMAC)
			}
			switch tt.method {
			case balancer.NAT:
				if [4]byte(ip.DstIP.To4()) != lpRealIP || tcp.DstPort != 8080 || ip.TTL != 63 {
					t.Errorf("NAT: dst %v:%d ttl %d", ip.DstIP, tcp.DstPort, ip.TTL)
				}
			case balancer.DR:
				if [4]byte(ip.DstIP.To4()) != lpVIP || tcp.DstPort != 80 || ip.TTL != 64 {
					t.Errorf("DR changed L3/L4: dst %v:%d ttl %d", ip.DstIP, tcp.DstPort, ip.TTL)
				}
			case balancer.TUN:
				outer := gopacket.NewPacket(f.rconn.Sent[0], layers.LayerTypeEthernet, gopacket.Default).Layer(layers.LayerTypeIPv4).(*layers.IPv4)
				if outer.Protocol != layers.IPProtocolIPv4 || [4]byte(outer.DstIP.To4()) != lpRealIP || [4]byte(outer.SrcIP.To4()) != [4]byte{10, 0, 2, 1} {
					t.Errorf("TUN outer header %v -> %v proto %v", outer.SrcIP, outer.DstIP, outer.Protocol)
				}
				if [4]byte(ip.DstIP.To4()) != lpVIP {
					t.Errorf("TUN inner dst %v", ip.DstIP)
				}
			}
			if tt.method != balancer.NAT {
				return
			}
			reply := tcpFrame(t, lpBackMAC, lpRealMAC, lpRealIP, lpClientIP, 8080, 40000, true, true, []byte("hello"))
			f.feed(f.reals, reply)
			if len(f.cconn.Sent) != 1 {
				t.Fatalf("%d NAT replies to the client, want 1; stats %+v", len(f.cconn.Sent), f.loop.Stats())
			}
			eth, ip, tcp = decodeOK(t, f.cconn.Sent[0])
			if [4]byte(ip.SrcIP.To4()) != lpVIP || tcp.SrcPort != 80 || [6]byte(eth.DstMAC) != lpClientMAC || [6]byte(eth.SrcMAC) != lpFrontMAC {
				t.Errorf("NAT reply: %v:%d from %v to %v", ip.SrcIP, tcp.SrcPort, eth.SrcMAC, eth.DstMAC)
			}
			s := f.loop.Stats()
			if s.Inbound != 1 || s.Outbound != 1 {
				t.Errorf("stats %+v", s)
			}
			// Per-real traffic counters are tallied per batch and land
			// when the batch ends.
			tt := f.table.Load().Services()[0].Reals[0].Stats.Totals()
			if tt.InPkts != 1 || tt.OutPkts != 1 || tt.InBytes == 0 || tt.OutBytes == 0 {
				t.Errorf("real server traffic %+v, want one packet each way", tt)
			}
		})
	}
}

func TestLoopARPAndNotOurs(t *testing.T) {
	f := newLoopFixture(t, balancer.DR, 80)
	req := make([]byte, neigh.FrameLen)
	other := [4]byte{10, 0, 1, 10}
	neigh.Request(req, lpClientMAC, other, lpVIP)
	notVIP := tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, [4]byte{10, 0, 1, 1}, 40000, 22, true, false, nil)
	f.feed(f.client, req, notVIP)
	cl := f.client.txClient.(*afpackettest.Conn)
	if len(cl.Sent) != 1 {
		t.Fatalf("%d ARP replies, want 1", len(cl.Sent))
	}
	a := gopacket.NewPacket(cl.Sent[0], layers.LayerTypeEthernet, gopacket.Default).Layer(layers.LayerTypeARP).(*layers.ARP)
	if a.Operation != layers.ARPReply || [4]byte(a.SourceProtAddress) != lpVIP || [6]byte(a.SourceHwAddress) != lpFrontMAC {
		t.Errorf("ARP reply %+v", a)
	}
	if len(f.rconn.Sent) != 0 {
		t.Errorf("traffic to the director's own address was forwarded")
	}
	if s := f.loop.Stats(); s.Drops[DropNotOurs] != 1 || s.ARPReplies != 1 {
		t.Errorf("stats %+v", s)
	}
}

// traceModes are the states the allocation test and BenchmarkLoopFrame
// run the worker in: no trace armed; armed with a filter the frame
// misses; armed and selecting every frame but out of tokens (the steady
// state of a busy traced flow); and armed, copying every frame.
var traceModes = []string{"off", "trace-miss", "trace-limited", "trace-copy"}

// armTrace arms the trace of a mode on the fixture and returns what
// keeps it sampling: for trace-copy, a function that frees a slot and a
// token, as the control plane's Drain would.
func (f *loopFixture) armTrace(t testing.TB, mode string) (stop, refill func()) {
	t.Helper()
	nop := func() {}
	cfg := TraceConfig{Rate: MaxTraceRate}
	switch mode {
	case "off":
		return nop, nop
	case "trace-miss":
		cfg.Filter.Client = netip.MustParsePrefix("192.0.2.0/24")
	case "trace-limited":
		cfg.Rate = 1
	}
	tr, err := f.loop.StartTrace(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range f.loop.workers {
		w.tr = f.loop.traceRing(w.idx) // handleBatch does this per batch
	}
	if mode == "trace-limited" {
		tr.tokens.Store(0)
	}
	refill = nop
	if mode == "trace-copy" {
		refill = func() {
			for _, r := range tr.rings {
				r.tail.Store(r.prod)
			}
			tr.tokens.Store(1 << 40)
		}
	}
	return tr.Stop, refill
}

// TestLoopNoAllocs: an established flow's frame goes through parse,
// connection lookup, rewrite and TX without allocating, for every method
// and for NAT replies, with tracing off, armed and missing, and sampling.
func TestLoopNoAllocs(t *testing.T) {
	for _, mode := range traceModes {
		for _, m := range []balancer.Method{balancer.NAT, balancer.DR, balancer.TUN} {
			f := newLoopFixture(t, m, 80)
			f.rconn.Keep, f.cconn.Keep = false, false
			f.client.txClient.(*afpackettest.Conn).Keep = false
			syn := tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, 40000, 80, true, false, nil)
			data := tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, 40000, 80, false, true, make([]byte, 100))
			reply := tcpFrame(t, lpBackMAC, lpRealMAC, lpRealIP, lpClientIP, 80, 40000, false, true, make([]byte, 100))
			f.feed(f.client, syn)
			stop, refill := f.armTrace(t, mode)
			buf := make([]byte, len(data))
			frs := []afpacket.Frame{{Data: buf, Len: uint32(len(buf))}}
			allocs := testing.AllocsPerRun(200, func() {
				refill()
				copy(buf, data) // the rewrite works in place
				f.client.handleBatch(frs)
			})
			if allocs != 0 {
				t.Errorf("%v inbound, trace %s: %v allocs per frame", m, mode, allocs)
			}
			if m == balancer.NAT {
				rbuf := make([]byte, len(reply))
				rfs := []afpacket.Frame{{Data: rbuf, Len: uint32(len(rbuf))}}
				allocs = testing.AllocsPerRun(200, func() {
					refill()
					copy(rbuf, reply)
					f.reals.handleBatch(rfs)
				})
				if allocs != 0 {
					t.Errorf("NAT outbound, trace %s: %v allocs per frame", mode, allocs)
				}
			}
			if f.loop.Stats().Inbound < 200 {
				t.Errorf("%v: frames were not forwarded: %+v", m, f.loop.Stats())
			}
			if tr := f.loop.trace.Load(); tr != nil {
				st := tr.Stats()
				switch {
				case mode == "trace-miss" && st != (TraceStats{}),
					mode == "trace-limited" && (st.Sampled != 0 || st.RateLimited < 200),
					mode == "trace-copy" && st.Sampled < 200:
					t.Errorf("%v, trace %s: stats %+v", m, mode, st)
				}
			}
			stop()
		}
	}
}

// BenchmarkLoopFrame measures one established-flow frame through handleBatch
// per method, with tracing off and in each armed state (traceModes).
func BenchmarkLoopFrame(b *testing.B) {
	for _, m := range []balancer.Method{balancer.NAT, balancer.DR, balancer.TUN} {
		for _, mode := range traceModes {
			name := m.String()
			if mode != "off" {
				name += "/" + mode
			}
			b.Run(name, func(b *testing.B) {
				f := newLoopFixture(b, m, 80)
				f.rconn.Keep = false
				f.feed(f.client, tcpFrame(b, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, 40000, 80, true, false, nil))
				stop, refill := f.armTrace(b, mode)
				defer stop()
				data := tcpFrame(b, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, 40000, 80, false, true, make([]byte, 18))
				buf := make([]byte, len(data))
				batch := []afpacket.Frame{{Data: buf, Len: uint32(len(buf))}}
				b.ReportAllocs()
				for b.Loop() {
					refill()
					copy(buf, data)
					f.client.handleBatch(batch)
				}
			})
		}
	}
}

// TestLoopStep: Step forwards like a received batch: the SYN is rewritten
// and sent, a frame on an unknown port is refused with an error.
func TestLoopStep(t *testing.T) {
	f := newLoopFixture(t, balancer.NAT, 8080)
	syn := tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, 40000, 80, true, false, nil)
	if err := f.loop.Step(f.loop.cfg.Client, afpacket.Frame{Data: syn, Len: uint32(len(syn))}); err != nil {
		t.Fatal(err)
	}
	if len(f.rconn.Sent) != 1 {
		t.Fatalf("sent %d frames to the real side, want 1", len(f.rconn.Sent))
	}
	_, ip, tcp := decodeOK(t, f.rconn.Sent[0])
	if !ip.DstIP.Equal(net.IP(lpRealIP[:])) || tcp.DstPort != 8080 {
		t.Errorf("Step sent %v:%d, want %v:8080", ip.DstIP, tcp.DstPort, net.IP(lpRealIP[:]))
	}
	if s := f.loop.Stats(); s.RxFrames != 1 || s.Inbound != 1 {
		t.Errorf("stats after Step: %+v", s)
	}
	if err := f.loop.Step(&Port{Name: "other0"}, afpacket.Frame{Data: syn, Len: uint32(len(syn))}); err == nil {
		t.Error("Step on a port the loop does not receive on: no error")
	}
}

// BenchmarkLoopBatch runs full 256-frame batches of established DR flows
// through the worker (parse, DecideBatch, rewrite, TX) with 1k and 1M live
// connections, next to the frame-at-a-time path, reporting ns per frame.
// DR leaves L3 alone, so the same frames can go round again.
func BenchmarkLoopBatch(b *testing.B) {
	for _, conns := range []int{1 << 10, 1 << 20} {
		f := newLoopFixtureSized(b, balancer.DR, 80, conns+conns/4)
		f.rconn.Keep = false
		tmpl := tcpFrame(b, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, 40000, 80, true, false, nil)
		flow := func(i int, syn bool) []byte {
			fr := append([]byte(nil), tmpl...)
			fr[14+12+2], fr[14+12+3] = byte(i>>16)+1, byte(i>>8) // source 10.0.(i>>16+1).(i>>8)
			binary.BigEndian.PutUint16(fr[14+20:], uint16(40000+i&0xff))
			if !syn {
				fr[14+20+13] = 0x10 // ACK
			}
			fr[14+10], fr[14+11] = 0, 0
			binary.BigEndian.PutUint16(fr[14+10:], ^header.Checksum(fr[14:14+20], 0))
			return fr
		}
		batch := make([]afpacket.Frame, 0, BatchSize)
		for i := 0; i < conns; i++ {
			batch = append(batch, afpacket.Frame{Data: flow(i, true)})
			if len(batch) == BatchSize || i == conns-1 {
				f.client.handleBatch(batch)
				batch = batch[:0]
			}
		}
		if n := f.loop.cfg.Tracker.Len(); n < conns*9/10 {
			b.Fatalf("%d connections set up, want %d", n, conns)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		const nb = 64
		batches := make([][]afpacket.Frame, nb)
		for j := range batches {
			for range BatchSize {
				fr := flow(rng.IntN(conns), false)
				batches[j] = append(batches[j], afpacket.Frame{Data: fr, Len: uint32(len(fr))})
			}
		}
		b.Run(fmt.Sprintf("batch/%d", conns), func(b *testing.B) {
			b.ReportAllocs()
			j := 0
			for b.Loop() {
				f.client.handleBatch(batches[j%nb])
				j++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*BatchSize), "ns/frame")
		})
		b.Run(fmt.Sprintf("frame/%d", conns), func(b *testing.B) {
			b.ReportAllocs()
			j := 0
			for b.Loop() {
				for i := range batches[j%nb] {
					f.client.handleBatch(batches[j%nb][i : i+1])
				}
				j++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*BatchSize), "ns/frame")
		})
	}
}

// TestServiceMemoFollowsTable: a frame for a service that a new table
// snapshot no longer has is not forwarded, though the frame before it, for
// the same service under the old table, was (isService remembers answers
// per table).
func TestServiceMemoFollowsTable(t *testing.T) {
	f := newLoopFixture(t, balancer.DR, 80)
	f.rconn.Keep = false
	syn := func(port uint16) []byte {
		return tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, port, 80, true, false, nil)
	}
	f.feed(f.client, syn(40000))
	if got := f.rconn.NSent; got != 1 {
		t.Fatalf("sent %d frames for the service, want 1", got)
	}
	empty, err := balancer.NewTable(f.table.Load(), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.table.Store(empty)
	// The same flow: past classify, its connection entry would decide.
	f.feed(f.client, syn(40000))
	if got := f.rconn.NSent; got != 1 {
		t.Errorf("sent %d frames after the service was removed, want still 1", got)
	}
	if d := f.loop.Stats().Drops[DropNotOurs]; d != 1 {
		t.Errorf("not-ours drops %d, want 1", d)
	}
}

// TestLoopNATTimeExceededQuotesReceivedFrame: a client datagram with TTL 1
// is refused and answered with ICMP time exceeded. The frame was already
// copied into a TX slot for the real server when NAT refused it: that slot
// must not be sent, and the error quotes the datagram as the client sent
// it (to the VIP and the virtual port).
func TestLoopNATTimeExceededQuotesReceivedFrame(t *testing.T) {
	f := newLoopFixture(t, balancer.NAT, 8080)
	syn := tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, 40000, 80, true, false, nil)
	syn[14+8] = 1 // TTL 1
	syn[14+10], syn[14+11] = 0, 0
	binary.BigEndian.PutUint16(syn[14+10:], ^header.Checksum(syn[14:34], 0))
	f.feed(f.client, append([]byte(nil), syn...))
	if len(f.rconn.Sent) != 0 {
		t.Fatalf("%d frames went to the real server", len(f.rconn.Sent))
	}
	back := f.client.txClient.(*afpackettest.Conn)
	if len(back.Sent) != 1 {
		t.Fatalf("%d frames back to the client, want the ICMP error; stats %+v", len(back.Sent), f.loop.Stats())
	}
	p := gopacket.NewPacket(back.Sent[0], layers.LayerTypeEthernet, gopacket.Default)
	icmp, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if icmp == nil || icmp.TypeCode.Type() != layers.ICMPv4TypeTimeExceeded {
		t.Fatalf("sent %v, want ICMP time exceeded", p)
	}
	quote := icmp.Payload
	if len(quote) < 28 {
		t.Fatalf("quote of %d bytes", len(quote))
	}
	if !bytes.Equal(quote[:20], syn[14:34]) || binary.BigEndian.Uint16(quote[22:24]) != 80 {
		t.Errorf("quoted % x, want the received header % x and port 80", quote[:24], syn[14:34])
	}
}

// TestLoopFollowsNeighbourChange: after the neighbour cache learns a new
// MAC for a real server, the next frame goes to it (the worker's next-hop
// memo is keyed by the cache's Version).
func TestLoopFollowsNeighbourChange(t *testing.T) {
	f := newLoopFixture(t, balancer.DR, 80)
	frame := func(port uint16) []byte {
		return tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, port, 80, true, false, nil)
	}
	f.feed(f.client, frame(40000))
	moved := [6]byte{2, 0, 0, 0, 2, 99}
	f.loop.cfg.Reals.Neigh.SetStatic(lpRealIP, moved)
	f.feed(f.client, frame(40001))
	if len(f.rconn.Sent) != 2 {
		t.Fatalf("sent %d frames, want 2", len(f.rconn.Sent))
	}
	if got := [6]byte(f.rconn.Sent[0][0:6]); got != lpRealMAC {
		t.Errorf("first frame to %x, want %x", got, lpRealMAC)
	}
	if got := [6]byte(f.rconn.Sent[1][0:6]); got != moved {
		t.Errorf("frame after the change to %x, want the new MAC %x", got, moved)
	}
}

// TestLoopRunStopsCleanly: Run forwards what its workers receive, returns
// nil when its context ends, and leaves no goroutine behind.
func TestLoopRunStopsCleanly(t *testing.T) {
	leaktest.Check(t)
	f := newLoopFixture(t, balancer.NAT, 8080)
	rx := f.client.rx.(*afpackettest.Conn)
	rx.RX = append(rx.RX, tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, 40000, 80, true, false, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.loop.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for f.loop.Stats().TxFrames == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of its context ending")
	}
	if s := f.loop.Stats(); s.RxFrames != 1 || s.Inbound != 1 || len(f.rconn.Sent) != 1 {
		t.Errorf("stats %+v, %d frames sent: want the SYN received and forwarded", s, len(f.rconn.Sent))
	}
}
