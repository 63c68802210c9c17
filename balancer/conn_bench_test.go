package balancer

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"
)

// connBenchSetup returns a director holding n NAT connections from
// distinct clients, the clients' tuples in random order, and the source.
func connBenchSetup(b *testing.B, n int) (*Director, *Worker, []Tuple4, *connTestSource) {
	b.Helper()
	reals := []*RealServer{newConnTestReal("10.0.2.1", 80, NAT), newConnTestReal("10.0.2.2", 80, NAT), newConnTestReal("10.0.2.3", 80, NAT)}
	src := newConnTestSource(newConnTestService(TCP, "10.0.0.100", 80, reals...))
	d := newConnTestDirector(b, DirectorConfig{MaxConns: n})
	w := d.NewWorker()
	tuples := make([]Tuple4, n)
	for i := range tuples {
		tuples[i] = Tuple4{Src: [4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}, SrcPort: uint16(1024 + i%50000), Dst: [4]byte{10, 0, 0, 100}, DstPort: 80, Proto: TCP}
		if res := w.Inbound(src, tuples[i], TCPSyn, 0); !res.New {
			b.Fatalf("setup insert %d: %+v", i, res)
		}
	}
	rand.Shuffle(len(tuples), func(i, j int) { tuples[i], tuples[j] = tuples[j], tuples[i] })
	return d, w, tuples, src
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
			d, w, tuples, src := connBenchSetup(b, n)
			replies := make([]Tuple4, n)
			for i, t := range tuples {
				info, _ := d.LookupInbound(t, 0)
				replies[i] = Tuple4{Src: info.Real, SrcPort: info.RPort, Dst: t.Src, DstPort: t.SrcPort, Proto: TCP}
			}
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
			reals := []*RealServer{newConnTestReal("10.0.2.1", 80, NAT), newConnTestReal("10.0.2.2", 80, NAT)}
			src := newConnTestSource(newConnTestService(TCP, "10.0.0.100", 80, reals...))
			d := newConnTestDirector(b, DirectorConfig{MaxConns: capacity})
			w := d.NewWorker()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i > 0 && i%capacity == 0 {
					b.StopTimer()
					d = newConnTestDirector(b, DirectorConfig{MaxConns: capacity})
					w = d.NewWorker()
					b.StartTimer()
				}
				j := i % capacity
				t := Tuple4{Src: [4]byte{10, byte(j >> 16), byte(j >> 8), byte(j)}, SrcPort: 1024, Dst: [4]byte{10, 0, 0, 100}, DstPort: 80, Proto: TCP}
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
		d, _, tuples, _ := connBenchSetup(b, n)
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
