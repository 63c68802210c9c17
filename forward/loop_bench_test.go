package forward

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/balancer/conntrack"
	"github.com/ulvs/ulvs/forward/afpacket"
	"github.com/ulvs/ulvs/forward/afpacket/afpackettest"
	"github.com/ulvs/ulvs/forward/neigh"
)

// udpBenchFlows is the figures' workload (docs/benchmarks.md): 64-byte
// UDP frames of 10k flows to one service with four real servers.
const udpBenchFlows = 10000

func udpBenchFrame(tb testing.TB, i int) []byte {
	tb.Helper()
	src := [4]byte{10, 0, 1 + byte(i>>12), byte(i >> 4)}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(lpClientMAC[:]), DstMAC: net.HardwareAddr(lpFrontMAC[:]), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP(src[:]), DstIP: net.IP(lpVIP[:])}
	udp := &layers.UDP{SrcPort: layers.UDPPort(20000 + i&0xf), DstPort: 80}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload(make([]byte, 18))); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// newUDPBenchFixture is a loop whose client worker forwards the figures'
// workload by method m to four real servers, with the daemon's default
// connection table size and a full-size TX ring.
func newUDPBenchFixture(tb testing.TB, m balancer.Method) (*loopFixture, *afpackettest.Conn) {
	tb.Helper()
	var reals []balancer.RealConfig
	static := map[[4]byte][6]byte{}
	for i := range 4 {
		ip := [4]byte{10, 0, 2, byte(11 + i)}
		reals = append(reals, balancer.RealConfig{Addr: netip.AddrFrom4(ip), Port: 80, Method: m, Weight: 1})
		static[ip] = [6]byte{2, 0, 0, 0, 2, byte(11 + i)}
	}
	tab, err := balancer.NewTable(nil, []balancer.ServiceConfig{{
		Key:       balancer.ServiceKey{Addr: netip.AddrFrom4(lpVIP), Port: 80, Proto: balancer.UDP},
		Scheduler: "rr",
		Reals:     reals,
	}})
	if err != nil {
		tb.Fatal(err)
	}
	f := &loopFixture{}
	f.table.Store(tab)
	dir, err := conntrack.New(conntrack.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	client := &Port{Name: "front0", MAC: lpFrontMAC, MTU: 1500, Addr: [4]byte{10, 0, 1, 1},
		Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")},
		Neigh:    neigh.New(neigh.Config{})}
	back := &Port{Name: "back0", MAC: lpBackMAC, MTU: 1500, Addr: [4]byte{10, 0, 2, 1},
		Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.2.0/24")},
		Neigh:    neigh.New(neigh.Config{Static: static})}
	vips := new(neigh.VIPSet)
	vips.Claim(lpVIP)
	f.loop, err = NewLoop(LoopConfig{
		Client: client, Reals: back, Table: &f.table, Tracker: dir, VIPs: vips, Workers: 1,
		Clock: func() conntrack.Tick { return 1000 },
		Open: func(ifname string, _ *afpacket.Config) (afpacket.Conn, error) {
			return afpackettest.New(ifname), nil
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	f.client, f.reals = f.loop.workers[0], f.loop.workers[1]
	// The real-side TX walks a ring as large as the default TX ring, so
	// that the benchmark pays the cache misses a real ring costs.
	rc := afpackettest.NewRing("back0", afpacket.DefaultTxFrames, afpacket.DefaultFrameSize)
	f.client.txReals = rc
	return f, rc
}

// BenchmarkLoopUDP runs the figures' workload (docs/benchmarks.md,
// "Forwarding throughput") through the client worker's batch path:
// 256-frame batches of established UDP flows, each batch first copied into
// place as the RX ring would hold it. Its ns/frame is the Go side of what
// `make figures` measures; the copy-in is about 5 ns of it.
func BenchmarkLoopUDP(b *testing.B) {
	for _, m := range []balancer.Method{balancer.NAT, balancer.DR, balancer.TUN} {
		b.Run(m.String(), func(b *testing.B) {
			f, rc := newUDPBenchFixture(b, m)
			tmpl := make([][]byte, udpBenchFlows)
			for i := range tmpl {
				tmpl[i] = udpBenchFrame(b, i)
			}
			const nb = 64
			rx := make([]byte, nb*BatchSize*128)
			batches := make([][]afpacket.Frame, nb)
			src := make([][][]byte, nb)
			rng := rand.New(rand.NewPCG(1, 2))
			for j := range batches {
				for k := range BatchSize {
					t := tmpl[rng.IntN(len(tmpl))]
					off := (j*BatchSize + k) * 128
					batches[j] = append(batches[j], afpacket.Frame{Data: rx[off : off+len(t)], Len: uint32(len(t))})
					src[j] = append(src[j], t)
				}
			}
			load := func(j int) {
				for k, fr := range batches[j] {
					copy(fr.Data, src[j][k])
				}
			}
			for j := range batches { // set up every connection
				load(j)
				f.client.handleBatch(batches[j])
			}
			for i := range tmpl {
				fr := append([]byte(nil), tmpl[i]...)
				f.client.handleBatch([]afpacket.Frame{{Data: fr, Len: uint32(len(fr))}})
			}
			if n := f.loop.cfg.Tracker.Len(); n != udpBenchFlows {
				b.Fatalf("%d connections, want %d", n, udpBenchFlows)
			}
			sent := rc.NSent
			b.ReportAllocs()
			j := 0
			for b.Loop() {
				load(j % nb)
				f.client.handleBatch(batches[j%nb])
				j++
			}
			if got := rc.NSent - sent; got != j*BatchSize {
				b.Fatalf("sent %d of %d frames: %+v", got, j*BatchSize, f.loop.Stats())
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*BatchSize), "ns/frame")
		})
	}
	// What the null forwarder does with the same frames: its time is the
	// floor the methods above are compared with.
	b.Run("null", func(b *testing.B) {
		// The real-side TX walks a ring as large as the default TX ring, so
		// that the benchmark pays the cache misses a real ring costs.
		rc := afpackettest.NewRing("back0", afpacket.DefaultTxFrames, afpacket.DefaultFrameSize)
		var frames [BatchSize]afpacket.Frame
		rx := make([]byte, BatchSize*128)
		tmpl := udpBenchFrame(b, 1)
		for k := range frames {
			frames[k] = afpacket.Frame{Data: rx[k*128 : k*128+len(tmpl)], Len: uint32(len(tmpl))}
		}
		dst := [4][6]byte{{2, 0, 0, 0, 2, 11}, {2, 0, 0, 0, 2, 12}, {2, 0, 0, 0, 2, 13}, {2, 0, 0, 0, 2, 14}}
		n := 0
		for b.Loop() {
			for k := range frames {
				copy(frames[k].Data, tmpl)
			}
			for k := range frames {
				slot := rc.TxSlot()
				c := copy(slot, frames[k].Data[:frames[k].Len])
				copy(slot[0:6], dst[n&3][:])
				copy(slot[6:12], lpBackMAC[:])
				n++
				rc.Commit(c)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*BatchSize), "ns/frame")
	})
}
