package balancer

import (
	"net/netip"
	"testing"
)

func TestShBucketLayout(t *testing.T) {
	tests := []struct {
		name    string
		weights []uint32
		prefix  []int // owner index of the first buckets
		counts  []int // buckets per server over the whole table
	}{
		{"equal", []uint32{1, 1, 1}, []int{0, 1, 2, 0, 1, 2}, []int{86, 85, 85}},
		{"weighted", []uint32{3, 1, 2}, []int{0, 0, 0, 1, 2, 2, 0, 0, 0, 1, 2, 2}, []int{129, 43, 84}},
		{"weight zero takes one bucket", []uint32{0, 2}, []int{0, 1, 1, 0, 1, 1}, []int{86, 170}},
		{"weight above table", []uint32{300, 1}, []int{0, 0, 0}, []int{256, 0}},
		{"single", []uint32{7}, []int{0, 0}, []int{256}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reals := hashTestReals(tt.weights...)
			b := shAssign(reals)
			index := map[*RealServer]int{}
			for i, r := range reals {
				index[r] = i
			}
			for i, want := range tt.prefix {
				if got := index[b[i]]; got != want {
					t.Errorf("bucket %d owned by server %d, want %d", i, got, want)
				}
			}
			counts := make([]int, len(reals))
			for _, r := range b {
				counts[index[r]]++
			}
			for i := range counts {
				if counts[i] != tt.counts[i] {
					t.Errorf("server %d owns %d buckets, want %d", i, counts[i], tt.counts[i])
				}
			}
		})
	}
}

func TestShEmpty(t *testing.T) {
	_, s := hashTestService(t, "sh", FlagSchedFallback, 0, nil)
	f := hashTestFlows(1, 1)[0]
	if r := s.Schedule(&f); r != nil {
		t.Fatalf("empty service scheduled %v", r.AddrPort())
	}
}

// TestShTwoDirectors builds the table twice from independent values, as two
// directors with the same configuration would, and checks that every client
// lands on the same server address.
func TestShTwoDirectors(t *testing.T) {
	for _, flags := range []ServiceFlags{0, FlagSchedPort} {
		_, a := hashTestService(t, "sh", flags, 0, hashTestReals(1, 2, 3, 4))
		_, b := hashTestService(t, "sh", flags, 0, hashTestReals(1, 2, 3, 4))
		for _, f := range hashTestFlows(5000, 7) {
			ra, rb := a.Schedule(&f), b.Schedule(&f)
			if ra.AddrPort() != rb.AddrPort() {
				t.Fatalf("flags %d: %v scheduled to %v and %v", flags, f.Src, ra.AddrPort(), rb.AddrPort())
			}
		}
	}
}

func TestShSourcePort(t *testing.T) {
	_, plain := hashTestService(t, "sh", 0, 0, hashTestReals(1, 1, 1, 1))
	_, port := hashTestService(t, "sh", FlagSchedPort, 0, hashTestReals(1, 1, 1, 1))
	f := hashTestFlows(1, 3)[0]
	seenPlain, seenPort := map[netip.AddrPort]bool{}, map[netip.AddrPort]bool{}
	for p := range 64 {
		f.SrcPort = uint16(1024 + p)
		seenPlain[plain.Schedule(&f).AddrPort()] = true
		seenPort[port.Schedule(&f).AddrPort()] = true
	}
	if len(seenPlain) != 1 {
		t.Errorf("without sh-port one client reached %d servers, want 1", len(seenPlain))
	}
	if len(seenPort) < 2 {
		t.Errorf("with sh-port 64 source ports reached %d servers, want several", len(seenPort))
	}
	// ICMP has no ports: sh-port hashes port 0.
	f.Proto = 1
	f.SrcPort = 999
	g := f
	g.SrcPort = 0
	if port.Schedule(&f) != port.Schedule(&g) {
		t.Error("sh-port used a port for a non-TCP/UDP/SCTP flow")
	}
}

func TestShFallback(t *testing.T) {
	tests := []struct {
		name    string
		flags   ServiceFlags
		disable func(r *RealServer)
		wantNil bool
	}{
		{"weight 0 without fallback", 0, func(r *RealServer) { r.Weight = 0 }, true},
		{"overloaded without fallback", 0, hashOverload, true},
		{"weight 0 with fallback", FlagSchedFallback, func(r *RealServer) { r.Weight = 0 }, false},
		{"overloaded with fallback", FlagSchedFallback, hashOverload, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reals := hashTestReals(1, 1, 1, 1)
			_, s := hashTestService(t, "sh", tt.flags, 0, reals)
			flows := hashTestFlows(2000, 11)
			before := make([]*RealServer, len(flows))
			for i := range flows {
				before[i] = s.Schedule(&flows[i])
			}
			victim := reals[1]
			tt.disable(victim)
			moved := 0
			for i := range flows {
				got := s.Schedule(&flows[i])
				if before[i] != victim {
					if got != before[i] {
						t.Fatalf("client %v of a healthy server moved from %v to %v", flows[i].Src, before[i].AddrPort(), got.AddrPort())
					}
					continue
				}
				moved++
				switch {
				case tt.wantNil && got != nil:
					t.Fatalf("client %v of the unavailable server got %v, want nil", flows[i].Src, got.AddrPort())
				case !tt.wantNil && (got == nil || got == victim):
					t.Fatalf("client %v of the unavailable server got %v, want another server", flows[i].Src, got)
				case !tt.wantNil && got != s.Schedule(&flows[i]):
					t.Fatalf("fallback for %v is not deterministic", flows[i].Src)
				}
			}
			if moved == 0 {
				t.Fatal("no client hashed to the disabled server; the test proves nothing")
			}
		})
	}
}

func TestShFallbackAllUnavailable(t *testing.T) {
	reals := hashTestReals(1, 1, 1)
	for _, r := range reals {
		hashOverload(r)
	}
	_, s := hashTestService(t, "sh", FlagSchedFallback, 0, reals)
	for _, f := range hashTestFlows(100, 5) {
		if r := s.Schedule(&f); r != nil {
			t.Fatalf("scheduled %v with every server overloaded", r.AddrPort())
		}
	}
}
