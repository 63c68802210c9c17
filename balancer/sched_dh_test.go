package balancer

import (
	"net/netip"
	"testing"
)

func TestDhLayoutAndDeterminism(t *testing.T) {
	reals := hashTestReals(1, 5, 2)
	_, s := hashTestService(t, "dh", 0, 0, reals)
	d := s.(*destinationHash)
	for i, r := range d.buckets {
		if want := reals[i%3]; r != want {
			t.Fatalf("bucket %d owned by %v, want %v (one bucket each, weights ignored)", i, r.AddrPort(), want.AddrPort())
		}
	}
	_, other := hashTestService(t, "dh", 0, 0, hashTestReals(1, 5, 2))
	flows := hashTestFlows(3000, 21)
	for i := range flows {
		a := s.Schedule(&flows[i])
		g := flows[i]
		g.Src = netip.MustParseAddr("198.51.100.7") // the client does not matter
		g.SrcPort = 1
		if b := s.Schedule(&g); a != b {
			t.Fatalf("destination %v scheduled to %v and %v for different clients", flows[i].Dst, a.AddrPort(), b.AddrPort())
		}
		if b := other.Schedule(&flows[i]); a.AddrPort() != b.AddrPort() {
			t.Fatalf("two directors disagree on %v: %v and %v", flows[i].Dst, a.AddrPort(), b.AddrPort())
		}
	}
	// Golden: 10.0.0.1 hashes to bucket 39 (see TestIPVSHashKeys), 39 % 3 = 0.
	f := Flow{Proto: TCP, Dst: netip.MustParseAddr("10.0.0.1")}
	if got := s.Schedule(&f); got != reals[0] {
		t.Fatalf("10.0.0.1 scheduled to %v, want %v", got.AddrPort(), reals[0].AddrPort())
	}
}

func TestDhUnavailable(t *testing.T) {
	reals := hashTestReals(1, 1)
	_, s := hashTestService(t, "dh", FlagSchedFallback, 0, reals)
	f := Flow{Proto: TCP, Dst: netip.MustParseAddr("10.0.0.1")} // bucket 39 -> reals[1]
	if got := s.Schedule(&f); got != reals[1] {
		t.Fatalf("got %v, want %v", got, reals[1].AddrPort())
	}
	reals[1].Weight = 0
	if got := s.Schedule(&f); got != nil {
		t.Fatalf("weight-0 bucket owner: got %v, want nil (dh has no fallback)", got.AddrPort())
	}
	reals[1].Weight = 1
	hashOverload(reals[1])
	if got := s.Schedule(&f); got != nil {
		t.Fatalf("overloaded bucket owner: got %v, want nil", got.AddrPort())
	}
	_, empty := hashTestService(t, "dh", 0, 0, nil)
	if got := empty.Schedule(&f); got != nil {
		t.Fatalf("empty service scheduled %v", got.AddrPort())
	}
}
