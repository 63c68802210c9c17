package balancer

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// hashTestReals returns one real server per weight, 10.0.0.1:80, 10.0.0.2:80,
// ... with fresh stats.
func hashTestReals(weights ...uint32) []*RealServer {
	reals := make([]*RealServer, len(weights))
	for i, w := range weights {
		reals[i] = &RealServer{
			ID:     RealID(i + 1),
			Addr:   netip.AddrFrom4([4]byte{10, 0, byte((i + 1) >> 8), byte(i + 1)}),
			Port:   80,
			Weight: w,
			Stats:  &RealStats{},
		}
	}
	return reals
}

// hashTestService builds a service using scheduler name over reals.
func hashTestService(t testing.TB, name string, flags ServiceFlags, tableSize int, reals []*RealServer) (*Service, Scheduler) {
	t.Helper()
	svc := &Service{
		ID:              1,
		Key:             ServiceKey{Addr: netip.MustParseAddr("192.0.2.1"), Port: 80, Proto: TCP},
		Scheduler:       name,
		Flags:           flags,
		MaglevTableSize: tableSize,
		Reals:           reals,
	}
	build, ok := schedulerFactories[name]
	if !ok {
		t.Fatalf("scheduler %q is not registered", name)
	}
	s, err := build(svc)
	if err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	svc.Sched = s
	return svc, s
}

// hashTestFlows returns n TCP flows from pseudo-random clients to
// pseudo-random destinations, the same for the same seed.
func hashTestFlows(n int, seed uint64) []Flow {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	flows := make([]Flow, n)
	for i := range flows {
		var src, dst [4]byte
		binary.BigEndian.PutUint32(src[:], rng.Uint32())
		binary.BigEndian.PutUint32(dst[:], rng.Uint32())
		flows[i] = Flow{
			Proto:   TCP,
			Src:     netip.AddrFrom4(src),
			Dst:     netip.AddrFrom4(dst),
			SrcPort: uint16(rng.UintN(65536)),
			DstPort: 80,
		}
	}
	return flows
}

// hashOverload sets r's overload flag the way the connection table does.
func hashOverload(r *RealServer) {
	r.UpperThreshold = 1
	r.Bind(ConnActive)
}

// sipHashRef is a plain SipHash-c-d over msg, written from the paper, as a
// reference for hsipHash32.
func sipHashRef(c, d int, k0, k1 uint64, msg []byte) uint64 {
	v0, v1, v2, v3 := sipConst0^k0, sipConst1^k1, sipConst2^k0, sipConst3^k1
	full := len(msg) / 8 * 8
	for i := 0; i < full; i += 8 {
		m := binary.LittleEndian.Uint64(msg[i:])
		v3 ^= m
		for range c {
			v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		}
		v0 ^= m
	}
	var last [8]byte
	copy(last[:], msg[full:])
	last[7] = byte(len(msg))
	b := binary.LittleEndian.Uint64(last[:])
	v3 ^= b
	for range c {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	v0 ^= b
	v2 ^= 0xff
	for range d {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

func TestSipHashReferenceVector(t *testing.T) {
	// Appendix A of the SipHash paper: key 00..0f, message 00..0e.
	key := make([]byte, 16)
	msg := make([]byte, 15)
	for i := range key {
		key[i] = byte(i)
	}
	for i := range msg {
		msg[i] = byte(i)
	}
	got := sipHashRef(2, 4, binary.LittleEndian.Uint64(key[:8]), binary.LittleEndian.Uint64(key[8:]), msg)
	if want := uint64(0xa129ca6149be45e5); got != want {
		t.Fatalf("SipHash-2-4 = %#x, want %#x", got, want)
	}
}

func TestHsipHash32MatchesSipHash13(t *testing.T) {
	keys := []hsipKey{mhKey1, mhKey2, {0, 0}, {0x0706050403020100, 0x0f0e0d0c0b0a0908}}
	vals := []uint32{0, 1, 80, 0x0a000001 + 80, 0xffffffff, 0xdeadbeef}
	for _, k := range keys {
		for _, v := range vals {
			var msg [4]byte
			binary.LittleEndian.PutUint32(msg[:], v)
			want := uint32(sipHashRef(1, 3, k.k0, k.k1, msg[:]))
			if got := hsipHash32(k, v); got != want {
				t.Errorf("hsipHash32(%x, %#x) = %#x, want %#x", k, v, got, want)
			}
		}
	}
}

func TestIPVSHashKeys(t *testing.T) {
	// Expected values computed independently as ((port+addr)*0x61C88647 mod 2^32) >> 24.
	tests := []struct {
		addr string
		port uint32
		want uint32
	}{
		{"10.0.0.1", 0, 39},
		{"192.168.1.100", 0, 89},
		{"192.168.1.100", 12345, 184},
		{"::ffff:192.168.1.100", 0, 89},
	}
	for _, tt := range tests {
		if got := shHashKey(foldAddr(netip.MustParseAddr(tt.addr)), tt.port, 0); got != tt.want {
			t.Errorf("sh hash of %s port %d = %d, want %d", tt.addr, tt.port, got, tt.want)
		}
	}
}

func TestFoldAddr(t *testing.T) {
	tests := []struct {
		addr string
		want uint32
	}{
		{"10.0.0.1", 0x0a000001},
		{"::ffff:10.0.0.1", 0x0a000001},
		{"2001:db8::1", 0x20010db8 ^ 0 ^ 0 ^ 1},
		{"2001:db8:1:2:3:4:5:6", 0x20010db8 ^ 0x00010002 ^ 0x00030004 ^ 0x00050006},
	}
	for _, tt := range tests {
		if got := foldAddr(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("foldAddr(%s) = %#x, want %#x", tt.addr, got, tt.want)
		}
	}
}

// TestHashSchedulersNoAllocs holds every scheduler of this file set to zero
// allocations per warm Schedule call.
func TestHashSchedulersNoAllocs(t *testing.T) {
	flows := hashTestFlows(64, 1)
	for _, name := range []string{"sh", "mh", "dh", "lblc", "lblcr"} {
		for _, flags := range []ServiceFlags{0, FlagSchedFallback | FlagSchedPort} {
			t.Run(fmt.Sprintf("%s/flags=%d", name, flags), func(t *testing.T) {
				reals := hashTestReals(1, 2, 3, 0, 5)
				hashOverload(reals[2])
				_, s := hashTestService(t, name, flags, 0, reals)
				for i := range flows { // warm the locality caches
					s.Schedule(&flows[i])
				}
				i := 0
				allocs := testing.AllocsPerRun(1000, func() {
					s.Schedule(&flows[i%len(flows)])
					i++
				})
				if allocs != 0 {
					t.Errorf("Schedule allocates %.1f times per call, want 0", allocs)
				}
			})
		}
	}
}

// TestHashSchedulersConcurrent runs every scheduler from several workers
// while connections come and go and overload flags flip; run with -race.
func TestHashSchedulersConcurrent(t *testing.T) {
	for _, name := range []string{"sh", "mh", "dh", "lblc", "lblcr"} {
		t.Run(name, func(t *testing.T) {
			reals := hashTestReals(1, 2, 3, 4, 5)
			for _, r := range reals {
				r.UpperThreshold = 8
			}
			_, s := hashTestService(t, name, FlagSchedFallback|FlagSchedPort, 251, reals)
			members := map[*RealServer]bool{}
			for _, r := range reals {
				members[r] = true
			}
			const workers = 4
			errs := make(chan error, workers)
			for w := range workers {
				go func() {
					flows := hashTestFlows(3000, uint64(w))
					for i := range flows {
						flows[i].Dst = netip.AddrFrom4([4]byte{203, 0, 113, byte(i % 64)})
					}
					var err error
					for i := range flows {
						r := s.Schedule(&flows[i])
						if r == nil {
							continue
						}
						if !members[r] && err == nil {
							err = fmt.Errorf("scheduled a server outside the service: %p", r)
						}
						r.Bind(ConnActive)
						if i%3 == 0 {
							r.Unbind(ConnActive)
						}
					}
					errs <- err
				}()
			}
			for range workers {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// FuzzHashSchedulers builds each scheduler over fuzzed weights and overload
// flags and checks that no weight-0 or overloaded server is ever picked, that
// sh, mh and dh answer the same on a second, independently built director,
// and that sh-fallback finds a usable server whenever one owns a bucket.
func FuzzHashSchedulers(f *testing.F) {
	f.Add([]byte{1, 1, 1}, uint8(0), uint64(1), uint8(0))
	f.Add([]byte{0, 3, 0, 5, 1}, uint8(0b00010), uint64(7), uint8(3))
	f.Add([]byte{255, 0, 0}, uint8(0b001), uint64(42), uint8(1))
	f.Add([]byte{}, uint8(0), uint64(3), uint8(3))
	f.Add([]byte{0, 0}, uint8(0), uint64(5), uint8(1))
	f.Fuzz(func(t *testing.T, weights []byte, overloaded uint8, seed uint64, flagBits uint8) {
		if len(weights) > 40 {
			weights = weights[:40]
		}
		flags := ServiceFlags(flagBits) & (FlagSchedFallback | FlagSchedPort)
		mk := func() []*RealServer {
			w := make([]uint32, len(weights))
			for i, b := range weights {
				w[i] = uint32(b)
			}
			reals := hashTestReals(w...)
			for i, r := range reals {
				if i < 8 && overloaded&(1<<i) != 0 {
					hashOverload(r)
				}
			}
			return reals
		}
		flows := hashTestFlows(200, seed)
		for _, name := range []string{"sh", "mh", "dh", "lblc", "lblcr"} {
			_, a := hashTestService(t, name, flags, 251, mk())
			_, b := hashTestService(t, name, flags, 251, mk())
			for i := range flows {
				r := a.Schedule(&flows[i])
				if r != nil && !hashUsable(r) {
					t.Fatalf("%s picked %v with weight %d, overloaded %v", name, r.AddrPort(), r.Weight, r.Stats.Overloaded())
				}
				switch name {
				case "sh", "mh", "dh":
					r2 := b.Schedule(&flows[i])
					if (r == nil) != (r2 == nil) || (r != nil && r.AddrPort() != r2.AddrPort()) {
						t.Fatalf("%s: two directors disagree on flow %d: %v and %v", name, i, r, r2)
					}
				}
				if name == "sh" && flags&FlagSchedFallback != 0 && r == nil {
					for _, owner := range a.(*sourceHash).buckets {
						if owner != nil && hashUsable(owner) {
							t.Fatalf("sh-fallback returned nil although %v owns a bucket", owner.AddrPort())
						}
					}
				}
			}
		}
	})
}

func benchmarkHashSchedule(b *testing.B, name string, flags ServiceFlags, size int, reals []*RealServer) {
	_, s := hashTestService(b, name, flags, size, reals)
	flows := hashTestFlows(4096, 1)
	for i := range flows { // warm the locality caches
		s.Schedule(&flows[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.Schedule(&flows[i&4095])
	}
}

func BenchmarkHashSchedule(b *testing.B) {
	tests := []struct {
		name  string
		sched string
		flags ServiceFlags
		size  int
		n     int
	}{
		{"sh/N=10", "sh", 0, 0, 10},
		{"sh/N=1000", "sh", 0, 0, 1000},
		{"sh-port/N=10", "sh", FlagSchedPort, 0, 10},
		{"mh/N=10/M=4093", "mh", 0, 4093, 10},
		{"mh/N=10/M=65537", "mh", 0, 65537, 10},
		{"mh/N=1000/M=65537", "mh", 0, 65537, 1000},
		{"mh/N=1000/M=131071", "mh", 0, 131071, 1000},
		{"mh-port/N=1000/M=65537", "mh", FlagSchedPort, 65537, 1000},
		{"dh/N=10", "dh", 0, 0, 10},
		{"lblc/N=10", "lblc", 0, 0, 10},
		{"lblcr/N=10", "lblcr", 0, 0, 10},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			benchmarkHashSchedule(b, tt.sched, tt.flags, tt.size, hashTestReals(hashEqualWeights(tt.n)...))
		})
	}
	// Fallback path: one server of ten overloaded, so a tenth of the
	// lookups rehash.
	for _, sched := range []string{"sh", "mh"} {
		b.Run(sched+"-fallback/N=10/one-overloaded", func(b *testing.B) {
			reals := hashTestReals(hashEqualWeights(10)...)
			hashOverload(reals[3])
			benchmarkHashSchedule(b, sched, FlagSchedFallback, 4093, reals)
		})
	}
}

// BenchmarkMaglevBuild times a full table build; the Maglev paper reports
// 1.8 ms for M=65537 and N=100 (section 5.3).
func BenchmarkMaglevBuild(b *testing.B) {
	for _, tt := range []struct{ n, size int }{{100, 65537}, {100, 4093}, {1000, 655373}} {
		b.Run(fmt.Sprintf("N=%d/M=%d", tt.n, tt.size), func(b *testing.B) {
			svc := &Service{MaglevTableSize: tt.size, Reals: hashTestReals(hashEqualWeights(tt.n)...)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := newMaglev(svc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
