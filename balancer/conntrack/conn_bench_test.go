package conntrack

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/ulvs/ulvs/balancer"
)

// connBench is a filled director shared by the hit benchmarks.
type connBench struct {
	d      *Tracker
	w      *Worker
	tuples []Tuple4
	src    *balancer.Table
	// replies are the NAT replies of tuples, made on first use.
	replies []Tuple4
}

// connBenchCache keeps one filled director per size for the whole test
// binary: filling a million entries takes longer than measuring them, and
// the hit benchmarks only refresh entries, so they can share it. That keeps
// -count=N runs short, which matters on a shared machine.
var connBenchCache = map[int]*connBench{}

// connBenchSetup returns a director holding n NAT connections from
// distinct clients, the clients' tuples in random order, and the source: a
// real Table (rr over three NAT servers), as the packet loop passes.
func connBenchSetup(b *testing.B, n int) (*Tracker, *Worker, []Tuple4, *balancer.Table) {
	b.Helper()
	if c := connBenchCache[n]; c != nil {
		return c.d, c.w, c.tuples, c.src
	}
	d, w, tuples, src := connBenchFill(b, n)
	connBenchCache[n] = &connBench{d: d, w: w, tuples: tuples, src: src}
	return d, w, tuples, src
}

func connBenchFill(b *testing.B, n int) (*Tracker, *Worker, []Tuple4, *balancer.Table) {
	b.Helper()
	cfg := balancer.ServiceConfig{Key: balancer.ServiceKey{Addr: netip.MustParseAddr("10.0.0.100"), Port: 80, Proto: balancer.TCP}, Scheduler: "rr"}
	for i := 1; i <= 3; i++ {
		cfg.Reals = append(cfg.Reals, balancer.RealConfig{Addr: netip.AddrFrom4([4]byte{10, 0, 2, byte(i)}), Port: 80, Method: balancer.NAT, Weight: 1})
	}
	src := mustTable(b, nil, cfg)
	d := newConnTestDirector(b, Config{MaxConns: n})
	w := d.NewWorker()
	tuples := make([]Tuple4, n)
	for i := range tuples {
		tuples[i] = Tuple4{Src: [4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}, SrcPort: uint16(1024 + i%50000), Dst: [4]byte{10, 0, 0, 100}, DstPort: 80, Proto: balancer.TCP}
		if res := w.Inbound(src, tuples[i], TCPSyn, 0); !res.New {
			b.Fatalf("setup insert %d: %+v", i, res)
		}
	}
	rand.Shuffle(len(tuples), func(i, j int) { tuples[i], tuples[j] = tuples[j], tuples[i] })
	return d, w, tuples, src
}

// connBenchReplies returns the NAT reply tuples of connBenchSetup(b, n).
func connBenchReplies(b *testing.B, n int) []Tuple4 {
	connBenchSetup(b, n)
	c := connBenchCache[n]
	if c.replies == nil {
		c.replies = make([]Tuple4, n)
		for i, t := range c.tuples {
			info, _ := c.d.LookupInbound(t, 0)
			c.replies[i] = Tuple4{Src: info.Real, SrcPort: info.RPort, Dst: t.Src, DstPort: t.SrcPort, Proto: balancer.TCP}
		}
	}
	return c.replies
}

var connBenchSizes = []int{1_000, 100_000, 1_000_000}

func BenchmarkConnLookupHit(b *testing.B) {
	for _, n := range connBenchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			d, _, tuples, _ := connBenchSetup(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, ok := d.LookupInbound(tuples[i%n], 1); !ok {
					b.Fatal("miss")
				}
			}
		})
	}
}

func BenchmarkInboundHit(b *testing.B) {
	for _, n := range connBenchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			_, w, tuples, src := connBenchSetup(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if res := w.Inbound(src, tuples[i%n], TCPAck, 1); res.Action != ActionForward {
					b.Fatal(res)
				}
			}
		})
	}
}

func BenchmarkOutboundHit(b *testing.B) {
	for _, n := range connBenchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			_, w, _, src := connBenchSetup(b, n)
			replies := connBenchReplies(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if res := w.Outbound(src, replies[i%n], TCPAck, 1); res.Action != ActionForward {
					b.Fatal(res)
				}
			}
		})
	}
}

// BenchmarkNewConn measures a SYN that schedules (round robin) and inserts
// a connection, in a table of 16k slots (cache-resident) and of 1M.
func BenchmarkNewConn(b *testing.B) {
	for _, capacity := range []int{1 << 14, 1 << 20} {
		b.Run(fmt.Sprint(capacity), func(b *testing.B) {
			reals := []*balancer.RealServer{newConnTestReal("10.0.2.1", 80, balancer.NAT), newConnTestReal("10.0.2.2", 80, balancer.NAT)}
			src := newConnTestSource(newConnTestService(balancer.TCP, "10.0.0.100", 80, reals...))
			d := newConnTestDirector(b, Config{MaxConns: capacity})
			w := d.NewWorker()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i > 0 && i%capacity == 0 {
					b.StopTimer()
					d = newConnTestDirector(b, Config{MaxConns: capacity})
					w = d.NewWorker()
					b.StartTimer()
				}
				j := i % capacity
				t := Tuple4{Src: [4]byte{10, byte(j >> 16), byte(j >> 8), byte(j)}, SrcPort: 1024, Dst: [4]byte{10, 0, 0, 100}, DstPort: 80, Proto: balancer.TCP}
				if res := w.Inbound(src, t, TCPSyn, 0); !res.New {
					b.Fatal(res)
				}
			}
		})
	}
}

// BenchmarkConnMemory reports the heap bytes per connection of a table
// sized for and filled with 1M NAT connections (both directions indexed).
// One measurement takes a few seconds; run it with -benchtime=1x.
func BenchmarkConnMemory(b *testing.B) {
	const n = 1_000_000
	for range min(b.N, 2) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		d, _, tuples, _ := connBenchFill(b, n)
		tuplesBytes := len(tuples) * int(unsafe.Sizeof(Tuple4{}))
		runtime.GC()
		runtime.ReadMemStats(&after)
		if d.Len() != n {
			b.Fatalf("holds %d, want %d", d.Len(), n)
		}
		used := float64(after.HeapAlloc-before.HeapAlloc) - float64(tuplesBytes)
		b.ReportMetric(used/n, "B/conn")
		b.ReportMetric(float64(d.MemoryBytes())/n, "table-B/conn")
		runtime.KeepAlive(d)
		runtime.KeepAlive(tuples)
	}
}

// BenchmarkInboundBatchHit is BenchmarkInboundHit through inboundBatch, as
// the packet loop would call it: batches of 256 random hits. ns/op is per
// packet.
func BenchmarkInboundBatchHit(b *testing.B) {
	for _, n := range connBenchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			_, w, tuples, src := connBenchSetup(b, n)
			flags := make([]TCPFlags, connBatchMax)
			for i := range flags {
				flags[i] = TCPAck
			}
			res := make([]InboundResult, connBatchMax)
			runHitBatches(b, n, func(off, m int) (first, last Action) {
				w.inboundBatch(src, tuples[off:off+m], flags[:m], 1, res[:m])
				return res[0].Action, res[m-1].Action
			})
		})
	}
}

// BenchmarkOutboundBatchHit is BenchmarkOutboundHit through outboundBatch,
// in batches of 256 random NAT replies. ns/op is per packet.
func BenchmarkOutboundBatchHit(b *testing.B) {
	for _, n := range connBenchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			_, w, _, src := connBenchSetup(b, n)
			replies := connBenchReplies(b, n)
			flags := make([]TCPFlags, connBatchMax)
			for i := range flags {
				flags[i] = TCPAck
			}
			res := make([]OutboundResult, connBatchMax)
			runHitBatches(b, n, func(off, m int) (first, last Action) {
				w.outboundBatch(src, replies[off:off+m], flags[:m], 1, res[:m])
				return res[0].Action, res[m-1].Action
			})
		})
	}
}

// BenchmarkDecideBatchHit is DecideBatch over batches of 256 random hits,
// alternately a client packet and a NAT reply (a one-armed director).
// ns/op is per packet.
func BenchmarkDecideBatchHit(b *testing.B) {
	for _, n := range connBenchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			_, w, tuples, src := connBenchSetup(b, n)
			replies := connBenchReplies(b, n)
			pkts := make([]BatchPacket, n)
			for i := range pkts {
				pkts[i] = BatchPacket{Tuple: tuples[i], Flags: TCPAck}
				if i%2 == 1 {
					pkts[i] = BatchPacket{Tuple: replies[i], Flags: TCPAck, Reply: true}
				}
			}
			action := func(p *BatchPacket) Action {
				if p.Reply {
					return p.Out.Action
				}
				return p.In.Action
			}
			runHitBatches(b, n, func(off, m int) (first, last Action) {
				batch := pkts[off : off+m]
				w.DecideBatch(src, batch, 1)
				return action(&batch[0]), action(&batch[m-1])
			})
		})
	}
}

// BenchmarkNewConnSched measures a SYN for a fresh tuple that the real
// scheduler (from NewTable) schedules and the director inserts, for rr,
// wrr, wlc and mh over 10 and 1,000 NAT real servers. Entries expire
// (SYN_RECV timeout 4 s, the clock advancing 1 ms every 8 SYNs) and a full
// Sweep runs every 4096 SYNs with the timer stopped, so the table holds a
// steady ~32k live entries of its 64k and never fills. The figure is the
// schedule + insert + bind work of one new connection; its later removal
// (in Sweep) is not in it.
func BenchmarkNewConnSched(b *testing.B) {
	for _, sched := range []string{"rr", "wrr", "wlc", "mh"} {
		for _, nreals := range []int{10, 1000} {
			b.Run(fmt.Sprintf("%s/%d", sched, nreals), func(b *testing.B) {
				cfg := balancer.ServiceConfig{Key: balancer.ServiceKey{Addr: netip.MustParseAddr("10.0.0.100"), Port: 80, Proto: balancer.TCP}, Scheduler: sched}
				for i := range nreals {
					cfg.Reals = append(cfg.Reals, balancer.RealConfig{Addr: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Port: 8080, Method: balancer.NAT, Weight: uint32(1 + i%5)})
				}
				tab := mustTable(b, nil, cfg)
				d := newConnTestDirector(b, Config{MaxConns: 1 << 16})
				if err := d.SetStateTimeout(StateSynRecv, 4*time.Second); err != nil {
					b.Fatal(err)
				}
				w := d.NewWorker()
				now := Tick(1)
				// Warm up: the director records each real server once
				// (a copy-on-write map), which is not per-connection work.
				for i := 0; len(*d.reg.Load()) < nreals && i < 100*nreals; i++ {
					w.Inbound(tab, Tuple4{Src: [4]byte{12, byte(i >> 16), byte(i >> 8), byte(i)}, SrcPort: 1024, Dst: [4]byte{10, 0, 0, 100}, DstPort: 80, Proto: balancer.TCP}, TCPSyn, now)
					if i%8192 == 8191 {
						now += 5000
						d.Sweep(tab, now, d.Slots())
					}
				}
				now += 5000
				d.Sweep(tab, now, d.Slots())
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if i%8 == 0 {
						now++
					}
					if i%4096 == 4095 {
						b.StopTimer()
						d.Sweep(tab, now, d.Slots())
						b.StartTimer()
					}
					t := Tuple4{Src: [4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}, SrcPort: uint16(1024 + i>>24), Dst: [4]byte{10, 0, 0, 100}, DstPort: 80, Proto: balancer.TCP}
					if res := w.Inbound(tab, t, TCPSyn, now); !res.New {
						b.Fatal(i, res)
					}
				}
			})
		}
	}
}

// runHitBatches runs b.N packets through batch in batches of up to
// connBatchMax, over packets off..off+m-1 of n, and fails unless the first
// and last packet of every batch were forwarded.
func runHitBatches(b *testing.B, n int, batch func(off, m int) (first, last Action)) {
	b.ReportAllocs()
	b.ResetTimer()
	off := 0
	for done := 0; done < b.N; done += connBatchMax {
		m := min(connBatchMax, b.N-done)
		if off+m > n {
			off = 0
		}
		if first, last := batch(off, m); first != ActionForward || last != ActionForward {
			b.Fatal(first, last)
		}
		off += m
	}
}

// BenchmarkSweepPass is one full Sweep pass over the default 1M-entry
// table in the daemon's slices (64k slots a call, as ulvs run's
// housekeeping does every 100 ms), empty and with 10k live entries: the
// background cost a director pays per pass (~2 s) whatever its traffic.
func BenchmarkSweepPass(b *testing.B) {
	for _, live := range []int{0, 10000} {
		b.Run(fmt.Sprintf("live=%d", live), func(b *testing.B) {
			r := newConnTestReal("10.0.2.1", 80, balancer.DR)
			src := newConnTestSource(newConnTestService(balancer.UDP, "10.0.0.100", 53, r))
			d := newConnTestDirector(b, Config{})
			w := d.NewWorker()
			for i := range live {
				w.Inbound(src, Tuple4{Src: [4]byte{10, 1, byte(i >> 8), byte(i)}, SrcPort: 1000, Dst: [4]byte{10, 0, 0, 100}, DstPort: 53, Proto: balancer.UDP}, 0, 1)
			}
			if d.Len() != live {
				b.Fatalf("%d live entries, want %d", d.Len(), live)
			}
			b.ReportAllocs()
			for b.Loop() {
				for left := d.Slots(); left > 0; left -= 1 << 16 {
					d.Sweep(src, 2, min(left, 1<<16))
				}
			}
		})
	}
}
