package forward

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/balancer/conntrack"
	"github.com/ulvs/ulvs/forward/afpacket"
)

func TestTraceReasonNames(t *testing.T) {
	seen := map[string]bool{}
	for r := TraceReason(1); r < numTraceReasons; r++ {
		if r == BalancerDrop(conntrack.DropNone) {
			continue
		}
		s := r.String()
		if seen[s] || s == "unknown" {
			t.Errorf("reason %d: name %q repeated or unknown", r, s)
		}
		seen[s] = true
		got, err := ParseTraceReason(s)
		if err != nil || got != r {
			t.Errorf("ParseTraceReason(%q) = %d, %v; want %d", s, got, err, r)
		}
	}
	if FrameDrop(DropTTLExpired).String() != "ttl_expired" || BalancerDrop(conntrack.DropNotSYN).String() != "balancer:tcp_not_syn" {
		t.Errorf("names: %v, %v", FrameDrop(DropTTLExpired), BalancerDrop(conntrack.DropNotSYN))
	}
	for _, bad := range []string{"", "none", "balancer:none", "ttl-expired"} {
		if _, err := ParseTraceReason(bad); err == nil {
			t.Errorf("ParseTraceReason(%q): no error", bad)
		}
	}
}

func TestTraceFilterMatch(t *testing.T) {
	svc := balancer.ServiceKey{Addr: netip.MustParseAddr("10.0.1.100"), Port: 80, Proto: balancer.TCP}
	svcAny := svc
	svcAny.Port = 0
	in := traceIDs{hasSvc: true, proto: 6, vip: [4]byte{10, 0, 1, 100}, vport: 80, client: [4]byte{10, 0, 1, 10}, real: 3}
	other := in
	other.vport = 443
	udp := in
	udp.proto = 17
	reply := traceIDs{proto: 6, client: [4]byte{10, 0, 1, 10}, real: 3}
	for _, tt := range []struct {
		name  string
		f     TraceFilter
		ids   traceIDs
		known bool
		want  bool
	}{
		{"no filter", TraceFilter{}, in, true, true},
		{"no filter, ids unknown", TraceFilter{}, in, false, true},
		{"service", TraceFilter{Service: svc}, in, true, true},
		{"service, other port", TraceFilter{Service: svc}, other, true, false},
		{"service, other protocol", TraceFilter{Service: svc}, udp, true, false},
		{"service port 0, any port", TraceFilter{Service: svcAny}, other, true, true},
		{"service, frame without one", TraceFilter{Service: svc}, reply, true, false},
		{"service, ids unknown", TraceFilter{Service: svc}, in, false, false},
		{"client /32", TraceFilter{Client: netip.MustParsePrefix("10.0.1.10/32")}, in, true, true},
		{"client /24", TraceFilter{Client: netip.MustParsePrefix("10.0.1.0/24")}, reply, true, true},
		{"client /0", TraceFilter{Client: netip.MustParsePrefix("0.0.0.0/0")}, in, true, true},
		{"client miss", TraceFilter{Client: netip.MustParsePrefix("10.0.9.0/24")}, in, true, false},
		{"client unmasked prefix", TraceFilter{Client: netip.MustParsePrefix("10.0.1.77/24")}, in, true, true},
		{"real", TraceFilter{Reals: []balancer.RealID{3}}, in, true, true},
		{"one of the reals", TraceFilter{Reals: []balancer.RealID{7, 3}}, in, true, true},
		{"real miss", TraceFilter{Reals: []balancer.RealID{4}}, in, true, false},
		{"all three", TraceFilter{Service: svc, Client: netip.MustParsePrefix("10.0.1.10/32"), Reals: []balancer.RealID{3}}, in, true, true},
	} {
		m, err := compileFilter(tt.f)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := m.match(&tt.ids, tt.known); got != tt.want {
			t.Errorf("%s: match = %v, want %v", tt.name, got, tt.want)
		}
	}
	for _, bad := range []TraceFilter{
		{Service: balancer.ServiceKey{Addr: netip.MustParseAddr("2001:db8::1"), Port: 80, Proto: balancer.TCP}},
		{Client: netip.MustParsePrefix("2001:db8::/64")},
		{Outcome: 9},
		{Reason: numTraceReasons},
		{Reals: make([]balancer.RealID, MaxTraceReals+1)},
	} {
		if _, err := compileFilter(bad); err == nil {
			t.Errorf("compileFilter(%+v): no error", bad)
		}
	}
}

func TestTraceWantDrop(t *testing.T) {
	ttl, notOurs := FrameDrop(DropTTLExpired), FrameDrop(DropNotOurs)
	for _, tt := range []struct {
		f    TraceFilter
		r    TraceReason
		want bool
	}{
		{TraceFilter{}, ttl, true},
		{TraceFilter{}, notOurs, false},
		{TraceFilter{Outcome: TraceForwarded}, ttl, false},
		{TraceFilter{Outcome: TraceDropped}, ttl, true},
		{TraceFilter{Reason: notOurs}, notOurs, true},
		{TraceFilter{Reason: notOurs}, ttl, false},
		{TraceFilter{Reason: BalancerDrop(conntrack.DropNotSYN)}, BalancerDrop(conntrack.DropNotSYN), true},
	} {
		m, _ := compileFilter(tt.f)
		if got := m.wantDrop(tt.r); got != tt.want {
			t.Errorf("%+v wantDrop(%v) = %v, want %v", tt.f, tt.r, got, tt.want)
		}
	}
}

// feedBatch runs frames through a worker as Run does: one handleBatch,
// which looks the armed trace up, then a flush.
func (f *loopFixture) feedBatch(w *worker, frames ...[]byte) {
	batch := make([]afpacket.Frame, len(frames))
	for i, fr := range frames {
		c := append([]byte(nil), fr...)
		batch[i] = afpacket.Frame{Data: c, Len: uint32(len(c))}
	}
	w.handleBatch(batch)
	w.flush()
}

type keptSample struct {
	TraceSample
	before, after []byte
}

func drain(tr *Trace) []keptSample {
	var out []keptSample
	tr.Drain(func(s *TraceSample) {
		out = append(out, keptSample{*s, append([]byte(nil), s.Before...), append([]byte(nil), s.After...)})
	})
	return out
}

func TestTraceSamples(t *testing.T) {
	f := newLoopFixture(t, balancer.NAT, 8080)
	tr, err := f.loop.StartTrace(TraceConfig{Rate: MaxTraceRate})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()
	if _, err := f.loop.StartTrace(TraceConfig{}); !errors.Is(err, ErrTraceBusy) {
		t.Errorf("second trace: %v, want ErrTraceBusy", err)
	}
	syn := tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, 40000, 80, true, false, nil)
	reply := tcpFrame(t, lpBackMAC, lpRealMAC, lpRealIP, lpClientIP, 8080, 40000, true, true, []byte("hello"))
	stray := tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, 40001, 80, false, true, nil)
	notVIP := tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, [4]byte{10, 0, 1, 1}, 40000, 22, true, false, nil)
	f.feedBatch(f.client, syn, stray, notVIP)
	f.feedBatch(f.reals, reply)
	got := drain(tr)
	if len(got) != 3 {
		t.Fatalf("%d samples, want 3 (SYN, stray ACK, reply; not_ours left out): %+v", len(got), got)
	}
	realID := f.table.Load().Services()[0].Reals[0].ID

	s := got[0]
	if !bytes.Equal(s.before, syn) || s.BeforeLen != len(syn) || !bytes.Equal(s.after, f.rconn.Sent[0]) || s.AfterLen != len(f.rconn.Sent[0]) {
		t.Errorf("SYN sample: before/after differ from the frames received and sent")
	}
	if !s.FromClient || s.ToClient || s.Drop != 0 || s.Real != realID || !s.HasService || s.VIP != lpVIP || s.VPort != 80 ||
		s.Proto != balancer.TCP || s.Seq != 1 || s.Worker != 0 || s.Time.IsZero() || s.Generated || s.BeforeRewritten {
		t.Errorf("SYN sample: %+v", s.TraceSample)
	}
	s = got[1]
	if s.Drop != BalancerDrop(conntrack.DropNotSYN) || !bytes.Equal(s.before, stray) || len(s.after) != 0 || s.Real != 0 || !s.HasService {
		t.Errorf("stray ACK sample: %+v", s.TraceSample)
	}
	s = got[2]
	if s.FromClient || !s.ToClient || s.Drop != 0 || s.Real != realID || s.VIP != lpVIP || s.VPort != 80 ||
		!bytes.Equal(s.before, reply) || !bytes.Equal(s.after, f.cconn.Sent[0]) {
		t.Errorf("NAT reply sample: %+v", s.TraceSample)
	}
	if st := tr.Stats(); st.Sampled != 3 || st.RingFull != 0 || st.RateLimited != 0 {
		t.Errorf("stats %+v", st)
	}

	// Disarmed: nothing more, and a new trace may start.
	tr.Stop()
	f.feedBatch(f.client, syn)
	if n := len(drain(tr)); n != 0 {
		t.Errorf("%d samples after Stop", n)
	}
	tr2, err := f.loop.StartTrace(TraceConfig{})
	if err != nil {
		t.Fatalf("trace after Stop: %v", err)
	}
	tr2.Stop()
}

func TestTraceFiltersInLoop(t *testing.T) {
	syn := func(t *testing.T, sport uint16) []byte {
		return tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, sport, 80, true, false, nil)
	}
	stray := func(t *testing.T) []byte {
		return tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, 50000, 80, false, true, nil)
	}
	notVIP := func(t *testing.T) []byte {
		return tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, [4]byte{10, 0, 1, 1}, 40000, 22, true, false, nil)
	}
	notSYN := BalancerDrop(conntrack.DropNotSYN)
	for _, tt := range []struct {
		name  string
		f     TraceFilter
		drops []TraceReason // the samples' reasons, in order
	}{
		{"all", TraceFilter{}, []TraceReason{0, notSYN}},
		{"forwarded", TraceFilter{Outcome: TraceForwarded}, []TraceReason{0}},
		{"dropped", TraceFilter{Outcome: TraceDropped}, []TraceReason{notSYN}},
		{"not_ours by name", TraceFilter{Reason: FrameDrop(DropNotOurs)}, []TraceReason{FrameDrop(DropNotOurs)}},
		{"client miss", TraceFilter{Client: netip.MustParsePrefix("192.0.2.0/24")}, nil},
		{"real miss", TraceFilter{Reals: []balancer.RealID{99}}, nil},
		{"real: drops before a decision have none", TraceFilter{Reals: []balancer.RealID{1}}, []TraceReason{0}},
		{"service", TraceFilter{Service: balancer.ServiceKey{Addr: netip.AddrFrom4(lpVIP), Port: 80, Proto: balancer.TCP}}, []TraceReason{0, notSYN}},
		{"service miss", TraceFilter{Service: balancer.ServiceKey{Addr: netip.AddrFrom4(lpVIP), Port: 81, Proto: balancer.TCP}}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newLoopFixture(t, balancer.DR, 80)
			tr, err := f.loop.StartTrace(TraceConfig{Filter: tt.f, Rate: MaxTraceRate})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Stop()
			f.feedBatch(f.client, syn(t, 40000), stray(t), notVIP(t))
			var got []TraceReason
			for _, s := range drain(tr) {
				got = append(got, s.Drop)
			}
			if len(got) != len(tt.drops) {
				t.Fatalf("samples %v, want %v", got, tt.drops)
			}
			for i := range got {
				if got[i] != tt.drops[i] {
					t.Errorf("samples %v, want %v", got, tt.drops)
				}
			}
		})
	}
}

// TestTraceBounds: the rate limit and a full ring bound the samples and
// are counted.
func TestTraceBounds(t *testing.T) {
	frames := func(t *testing.T, n int) [][]byte {
		var out [][]byte
		for i := range n {
			out = append(out, tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, uint16(41000+i), 80, true, false, nil))
		}
		return out
	}
	t.Run("rate", func(t *testing.T) {
		f := newLoopFixture(t, balancer.DR, 80)
		tr, err := f.loop.StartTrace(TraceConfig{Rate: 10}) // burst 1
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Stop()
		f.feedBatch(f.client, frames(t, 5)...)
		if n := len(drain(tr)); n != 1 {
			t.Errorf("%d samples at a burst of 1, want 1", n)
		}
		if st := tr.Stats(); st.Sampled != 1 || st.RateLimited != 4 {
			t.Errorf("stats %+v, want 1 sampled, 4 rate-limited", st)
		}
	})
	t.Run("ring", func(t *testing.T) {
		f := newLoopFixture(t, balancer.DR, 80)
		tr, err := f.loop.StartTrace(TraceConfig{Rate: MaxTraceRate, Slots: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Stop()
		f.feedBatch(f.client, frames(t, 5)...)
		if st := tr.Stats(); st.Sampled != 2 || st.RingFull != 3 || st.RateLimited != 0 {
			t.Errorf("stats %+v, want 2 sampled, 3 lost to a full ring", st)
		}
		if n := len(drain(tr)); n != 2 {
			t.Errorf("%d samples from a 2-slot ring, want 2", n)
		}
		f.feedBatch(f.client, frames(t, 1)...)
		if n := len(drain(tr)); n != 1 {
			t.Errorf("%d samples after draining, want 1", n)
		}
	})
	t.Run("snap", func(t *testing.T) {
		f := newLoopFixture(t, balancer.TUN, 80)
		tr, err := f.loop.StartTrace(TraceConfig{Rate: MaxTraceRate, Snap: 64})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Stop()
		fr := tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, 40000, 80, true, false, make([]byte, 100))
		f.feedBatch(f.client, fr)
		got := drain(tr)
		if len(got) != 1 {
			t.Fatalf("%d samples", len(got))
		}
		s := got[0]
		if !bytes.Equal(s.before, fr[:64]) || s.BeforeLen != len(fr) || len(s.after) != 64 || s.AfterLen != len(fr)+TUNOverhead {
			t.Errorf("snap 64: before %d/%d, after %d/%d bytes", len(s.before), s.BeforeLen, len(s.after), s.AfterLen)
		}
	})
	for _, bad := range []TraceConfig{{Rate: -1}, {Rate: MaxTraceRate + 1}, {Snap: 10}, {Snap: MaxTraceSnap + 1}, {Slots: MaxTraceSlots + 1}} {
		f := newLoopFixture(t, balancer.DR, 80)
		if tr, err := f.loop.StartTrace(bad); err == nil {
			tr.Stop()
			t.Errorf("StartTrace(%+v): no error", bad)
		}
	}
}

// TestTraceICMPError: a NAT frame whose TTL runs out is sampled with the
// ICMP error the director sent back as its after frame.
func TestTraceICMPError(t *testing.T) {
	f := newLoopFixture(t, balancer.NAT, 8080)
	tr, err := f.loop.StartTrace(TraceConfig{Rate: MaxTraceRate})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()
	syn := tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, 40000, 80, true, false, nil)
	syn[14+8] = 1 // TTL 1
	syn[14+10], syn[14+11] = 0, 0
	sum := uint32(0)
	for i := 14; i < 34; i += 2 {
		sum += uint32(syn[i])<<8 | uint32(syn[i+1])
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	syn[14+10], syn[14+11] = byte(^sum>>8), byte(^sum)
	f.feedBatch(f.client, syn)
	got := drain(tr)
	if len(got) != 1 {
		t.Fatalf("%d samples, want 1; stats %+v", len(got), f.loop.Stats())
	}
	s := got[0]
	if s.Drop != FrameDrop(DropTTLExpired) || !s.Generated || !s.ToClient || !bytes.Equal(s.before, syn) || len(s.after) == 0 || s.after[14+9] != 1 {
		t.Errorf("sample %+v, after %x", s.TraceSample, s.after)
	}
}

// TestTraceBatchOrder: a traced batch takes the batch path, and each
// frame's sample is judged on that frame alone: a not_ours drop right
// after a forwarded frame is sampled exactly like one before it, with
// nothing of the forwarded frame's decision.
func TestTraceBatchOrder(t *testing.T) {
	f := newLoopFixture(t, balancer.DR, 80)
	tr, err := f.loop.StartTrace(TraceConfig{Filter: TraceFilter{Reason: FrameDrop(DropNotOurs)}, Rate: MaxTraceRate})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()
	syn := tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, 40000, 80, true, false, nil)
	notVIP := tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, [4]byte{10, 0, 1, 1}, 40000, 22, true, false, nil)
	f.feedBatch(f.client, notVIP, syn, notVIP)
	got := drain(tr)
	if len(got) != 2 {
		t.Fatalf("%d samples, want the two not_ours frames", len(got))
	}
	a, b := got[0].TraceSample, got[1].TraceSample
	if a.Drop != FrameDrop(DropNotOurs) || b.Drop != a.Drop || b.HasService != a.HasService || b.VIP != a.VIP || b.VPort != a.VPort || b.Real != a.Real {
		t.Errorf("the not_ours frame after the SYN was sampled as %+v, the one before it as %+v", b, a)
	}
}
