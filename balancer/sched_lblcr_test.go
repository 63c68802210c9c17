package balancer

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// lblcrSet returns the reals indexes cached for dst, oldest first.
func lblcrSet(l *lblcr, dst netip.Addr) []int32 {
	s := &l.cache.shards[ipvsHash32(foldAddr(dst), localityShardBits)]
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(dst.As16())
	if e == nil {
		return nil
	}
	return slices.Clone(e.set)
}

func TestLblcrReplication(t *testing.T) {
	dst := netip.MustParseAddr("203.0.113.50")
	reals := hashTestReals(1, 1, 1)
	clock := &localityClock{}
	l := newLBLCR(&Service{Reals: reals}, clock.now)

	steps := []struct {
		name    string
		before  func()
		advance time.Duration
		want    int
		wantSet []int32
	}{
		{"first schedule caches the least loaded", func() {}, 0, 0, []int32{0}},
		{"reused while not overloaded", func() { hashBindActive(reals[0], 1) }, time.Second, 0, []int32{0}},
		{"overloaded member: the least loaded joins the set", func() { hashBindActive(reals[0], 1) }, time.Second, 1, []int32{0, 1}},
		{"least connection within the set", func() { hashBindActive(reals[1], 1) }, time.Second, 1, []int32{0, 1}},
		{"every member overloaded: the set grows", func() { hashBindActive(reals[1], 2) }, time.Second, 2, []int32{0, 1, 2}},
		{"used half a day later", func() {}, localityExpiration / 2, 2, []int32{0, 1, 2}},
		// Set unchanged for the expiration (but used since): its most
		// loaded member (reals[1], 3 active) leaves.
		{"old set sheds its most loaded member", func() {}, localityExpiration/2 + time.Second, 2, []int32{0, 2}},
		{"a fresh set keeps its members", func() {}, time.Second, 2, []int32{0, 2}},
	}
	for _, st := range steps {
		st.before()
		clock.t += st.advance
		got := l.Schedule(localityFlow(dst))
		if got != reals[st.want] {
			t.Fatalf("%s: got %v, want %v", st.name, got, reals[st.want].AddrPort())
		}
		if set := lblcrSet(l, dst); !slices.Equal(set, st.wantSet) {
			t.Fatalf("%s: set %v, want %v", st.name, set, st.wantSet)
		}
	}
}

func TestLblcrSingleMemberNeverShrinks(t *testing.T) {
	dst := netip.MustParseAddr("203.0.113.51")
	reals := hashTestReals(1, 1)
	clock := &localityClock{}
	l := newLBLCR(&Service{Reals: reals}, clock.now)
	l.Schedule(localityFlow(dst))
	for range 3 {
		clock.t += localityExpiration / 2 // used often enough to stay cached
		if got := l.Schedule(localityFlow(dst)); got != reals[0] {
			t.Fatalf("got %v, want the only member", got)
		}
	}
	if set := lblcrSet(l, dst); !slices.Equal(set, []int32{0}) {
		t.Fatalf("set %v, want [0]", set)
	}
}

func TestLblcrUnavailable(t *testing.T) {
	dst := netip.MustParseAddr("203.0.113.52")
	reals := hashTestReals(1, 1)
	clock := &localityClock{}
	l := newLBLCR(&Service{Reals: reals}, clock.now)
	l.Schedule(localityFlow(dst))
	reals[0].Weight = 0
	if got := l.Schedule(localityFlow(dst)); got != reals[1] {
		t.Fatalf("quiesced member: got %v, want %v", got, reals[1].AddrPort())
	}
	hashOverload(reals[1])
	if got := l.Schedule(localityFlow(dst)); got != nil {
		t.Fatalf("no usable server: got %v, want nil", got.AddrPort())
	}
	empty := newLBLCR(&Service{}, clock.now)
	if got := empty.Schedule(localityFlow(dst)); got != nil {
		t.Fatalf("empty service: got %v", got.AddrPort())
	}
}
