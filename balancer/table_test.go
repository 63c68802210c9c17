package balancer

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestNewTableErrors(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1")
	tests := []struct {
		name string
		cfgs []ServiceConfig
		want []string // substrings of the error
	}{
		{"weight too high", []ServiceConfig{serviceConfig("wlc", 1, 70000)},
			[]string{"TCP 192.0.2.1:80", "10.0.0.2:8080", "weight 70000", "between 0 and 65535"}},
		{"unknown scheduler", []ServiceConfig{serviceConfig("magic", 1)},
			[]string{`unknown scheduler "magic"`, "wlc", "rr"}},
		{"duplicate service", []ServiceConfig{serviceConfig("rr", 1), serviceConfig("wlc", 1)},
			[]string{"defined twice"}},
		{"duplicate real", []ServiceConfig{func() ServiceConfig {
			c := serviceConfig("rr", 1, 1)
			c.Reals[1].Addr = c.Reals[0].Addr
			return c
		}()}, []string{"10.0.0.1:8080", "listed twice"}},
		{"mask bits v4", []ServiceConfig{func() ServiceConfig {
			c := serviceConfig("rr", 1)
			c.Persistence, c.PersistenceMaskBits = time.Minute, 33
			return c
		}()}, []string{"/33", "1 to 32"}},
		{"mask bits negative", []ServiceConfig{func() ServiceConfig {
			c := serviceConfig("rr", 1)
			c.PersistenceMaskBits = -1
			return c
		}()}, []string{"/-1"}},
		{"port 0 without persistence", []ServiceConfig{func() ServiceConfig {
			c := serviceConfig("rr", 1)
			c.Key.Port = 0
			return c
		}()}, []string{"port 0", "persistence"}},
		{"no VIP", []ServiceConfig{{Key: ServiceKey{Port: 80, Proto: TCP}}}, []string{"virtual address"}},
		{"bad protocol", []ServiceConfig{{Key: ServiceKey{Addr: testVIP, Port: 80, Proto: 1}}}, []string{"TCP, UDP or SCTP"}},
		{"lower above upper", []ServiceConfig{func() ServiceConfig {
			c := serviceConfig("rr", 1)
			c.Reals[0].UpperThreshold, c.Reals[0].LowerThreshold = 5, 6
			return c
		}()}, []string{"lower threshold 6", "upper threshold 5"}},
		{"NAT family mix", []ServiceConfig{func() ServiceConfig {
			c := serviceConfig("rr", 1)
			c.Reals[0].Addr = v6
			return c
		}()}, []string{"only TUN"}},
		{"no real address", []ServiceConfig{func() ServiceConfig {
			c := serviceConfig("rr", 1)
			c.Reals[0].Addr = netip.Addr{}
			return c
		}()}, []string{"no address"}},
		{"all errors reported", []ServiceConfig{serviceConfig("rr", 70000), func() ServiceConfig {
			c := serviceConfig("nope", 1)
			c.Key.Port = 81
			return c
		}()}, []string{"weight 70000", `"nope"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewTable(nil, tt.cfgs)
			if err == nil {
				t.Fatal("NewTable accepted an invalid configuration")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNewTableNormalises(t *testing.T) {
	c := serviceConfig("", 1, 1, 1)
	c.Reals[0].Method, c.Reals[0].Port = DR, 8080 // differs from the VIP port
	c.Reals[1].Method, c.Reals[1].Port = TUN, 0
	c.Reals[2].Port = 0 // NAT without port
	tun6 := netip.MustParseAddr("2001:db8::7")
	c.Reals = append(c.Reals, RealConfig{Addr: tun6, Method: TUN, Weight: 1})
	wild := ServiceConfig{
		Key:         ServiceKey{Addr: testVIP, Proto: UDP},
		Persistence: time.Minute,
		Reals:       []RealConfig{{Addr: realAddr(9), Method: DR, Weight: 1}},
	}
	tab := mustTable(t, nil, c, wild)
	svc := tab.Services()[0]
	if svc.Scheduler != "wlc" {
		t.Errorf("empty scheduler became %q, want wlc", svc.Scheduler)
	}
	if svc.PersistenceMaskBits != 32 {
		t.Errorf("mask bits %d, want 32", svc.PersistenceMaskBits)
	}
	for i, want := range []uint16{80, 80, 80, 80} {
		if got := svc.Reals[i].Port; got != want {
			t.Errorf("real %d port %d, want %d", i, got, want)
		}
	}
	if w := tab.Warnings(); len(w) != 1 || !strings.Contains(w[0], "VIP port 80, not 8080") {
		t.Errorf("warnings %q, want one about the DR port", w)
	}
	if p := tab.Services()[1].Reals[0].Port; p != 0 {
		t.Errorf("DR real behind a port-0 service has port %d, want 0 (the client's port)", p)
	}
}

func TestLookup(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1")
	web := serviceConfig("rr", 1)
	dns := serviceConfig("rr", 1)
	dns.Key.Proto, dns.Key.Port = UDP, 53
	wild := ServiceConfig{Key: ServiceKey{Addr: testVIP, Proto: TCP}, Persistence: time.Minute,
		Reals: []RealConfig{{Addr: realAddr(7), Weight: 1, Method: DR}}}
	six := ServiceConfig{Key: ServiceKey{Addr: v6, Port: 443, Proto: TCP},
		Reals: []RealConfig{{Addr: netip.MustParseAddr("2001:db8::2"), Weight: 1}}}
	mark := ServiceConfig{Key: ServiceKey{FWMark: 7}, Reals: []RealConfig{{Addr: realAddr(8), Weight: 1}}}
	tab := mustTable(t, nil, web, dns, wild, six, mark)
	s := tab.Services()
	vip := testVIP.As4()
	tests := []struct {
		name  string
		proto Protocol
		addr  netip.Addr
		port  uint16
		want  *Service
	}{
		{"exact", TCP, testVIP, 80, s[0]},
		{"other proto", UDP, testVIP, 53, s[1]},
		{"wildcard catches other ports", TCP, testVIP, 8443, s[2]},
		{"wildcard is per proto", UDP, testVIP, 80, nil},
		{"other address", TCP, netip.MustParseAddr("192.0.2.2"), 80, nil},
		{"v6", TCP, v6, 443, s[3]},
		{"v6 other port", TCP, v6, 80, nil},
		{"v4-mapped", TCP, netip.AddrFrom16(vip16(vip)), 80, s[0]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tab.Lookup(tt.proto, tt.addr, tt.port); got != tt.want {
				t.Errorf("Lookup = %v, want %v", got, tt.want)
			}
		})
	}
	if tab.LookupV4(TCP, vip, 80) != s[0] {
		t.Error("LookupV4 missed the exact service")
	}
	if tab.LookupFWMark(7) != s[4] || tab.LookupFWMark(8) != nil {
		t.Error("LookupFWMark wrong")
	}
	for _, svc := range s {
		if tab.Service(svc.ID) != svc {
			t.Errorf("Service(%d) wrong", svc.ID)
		}
		for _, r := range svc.Reals {
			if tab.Real(r.ID) != r {
				t.Errorf("Real(%d) wrong", r.ID)
			}
		}
	}
	if tab.Real(9999) != nil || tab.Service(9999) != nil || tab.Real(0) != nil {
		t.Error("unknown IDs must give nil")
	}
}

func vip16(a [4]byte) [16]byte {
	return netip.AddrFrom4(a).As16()
}

func TestSnapshotIdentity(t *testing.T) {
	web := serviceConfig("wlc", 1, 2, 3)
	dns := serviceConfig("rr", 1)
	dns.Key.Proto, dns.Key.Port = UDP, 53
	t1 := mustTable(t, nil, web, dns)
	old := t1.Services()[0]
	old.Reals[1].Bind(ConnActive)
	old.Reals[1].CountIn(0, 100)

	// Reload: real 0 removed, real 1 and 2 kept (reordered, new weight),
	// one added; dns removed; a new service added.
	web2 := serviceConfig("rr")
	web2.Reals = []RealConfig{
		{Addr: realAddr(3), Port: 8080, Weight: 9},
		{Addr: realAddr(2), Port: 8080, Weight: 5},
		{Addr: realAddr(4), Port: 8080, Weight: 1},
	}
	smtp := serviceConfig("rr", 1)
	smtp.Key.Port = 25
	t2 := mustTable(t, t1, web2, smtp)
	svc := t2.Services()[0]
	if svc.ID != old.ID || svc.Stats != old.Stats {
		t.Fatal("service lost its ID or stats across the reload")
	}
	if svc.Stats.Conns() != 1 || svc.Stats.Totals().InBytes != 100 {
		t.Errorf("service counters %d conns %+v, want 1 and 100 bytes", svc.Stats.Conns(), svc.Stats.Totals())
	}
	if r := svc.Reals[1]; r.ID != old.Reals[1].ID || r.Stats != old.Reals[1].Stats || r.Stats.ActiveConns() != 1 || r.Weight != 5 {
		t.Errorf("kept real lost identity or counters: %+v", r)
	}
	if r := svc.Reals[0]; r.ID != old.Reals[2].ID || r.Stats != old.Reals[2].Stats {
		t.Error("reordered real lost its identity")
	}
	maxOld := RealID(0)
	for _, s := range t1.Services() {
		for _, r := range s.Reals {
			maxOld = max(maxOld, r.ID)
		}
	}
	if r := svc.Reals[2]; r.ID <= maxOld || r.Stats == nil || r.Stats.Conns() != 0 {
		t.Errorf("new real got ID %d (old max %d) or shared stats", r.ID, maxOld)
	}
	if t2.Real(old.Reals[0].ID) != nil {
		t.Error("removed real still found by ID")
	}
	if t2.Service(t1.Services()[1].ID) != nil || t2.Services()[1].ID <= t1.Services()[1].ID {
		t.Error("removed service still found, or its ID reused")
	}
	// A third table without the kept real: when it comes back, it is new.
	t3 := mustTable(t, t2, serviceConfig("rr", 1))
	t4 := mustTable(t, t3, web2)
	if t4.Services()[0].Reals[1].Stats == old.Reals[1].Stats {
		t.Error("a real removed in between must not get its old stats back")
	}
	// Bind on a kept real still reaches the new service's counters.
	svc.Reals[1].Bind(ConnInactive)
	if svc.Stats.Conns() != 2 {
		t.Errorf("service conns %d after a bind in the new snapshot, want 2", svc.Stats.Conns())
	}
}

func TestReloadClearsStaleOverload(t *testing.T) {
	c := serviceConfig("wlc", 1)
	c.Reals[0].UpperThreshold = 2
	t1 := mustTable(t, nil, c)
	r := t1.Services()[0].Reals[0]
	r.Bind(ConnActive)
	r.Bind(ConnActive)
	if !r.Stats.Overloaded() {
		t.Fatal("not overloaded")
	}
	c.Reals[0].UpperThreshold = 0
	t2 := mustTable(t, t1, c)
	if r.Stats.Overloaded() {
		t.Fatal("overload kept after the threshold was removed")
	}
	if t2.Services()[0].Sched.Schedule(nil) == nil {
		t.Error("server not scheduled after the reload")
	}
}

func TestTreeFollowsNewestSnapshot(t *testing.T) {
	defer func(old int) { treeMinReals = old }(treeMinReals)
	treeMinReals = 1
	c := serviceConfig("wlc", 1, 1)
	t1 := mustTable(t, nil, c)
	s1 := t1.Services()[0]
	s1.Sched.Schedule(nil)
	t2 := mustTable(t, t1, c)
	s2 := t2.Services()[0]
	s2.Sched.Schedule(nil) // t2's tree takes over the notifications
	s2.Reals[0].Bind(ConnActive)
	if got := s2.Sched.Schedule(nil); got != s2.Reals[1] {
		t.Errorf("new snapshot picks %v, want the idle server", got)
	}
	// The old snapshot, still in a worker's hands, must stay correct too.
	if got := s1.Sched.Schedule(nil); got != s1.Reals[1] {
		t.Errorf("old snapshot picks %v, want the idle server", got)
	}
	if s1.Sched.Schedule(nil); !s1.Sched.(*pickTree).obsolete.Load() {
		t.Error("old tree not marked obsolete")
	}
	// Scheduling on the old one again must not steal the servers back.
	s1.Sched.(*pickTree).claim()
	if s2.Reals[0].Stats.link.Load().tree != s2.Sched.(*pickTree) {
		t.Error("old tree stole the notifications back")
	}
}

func TestPickAndPeek(t *testing.T) {
	rr := serviceConfig("rr", 1, 1)
	twos := serviceConfig("twos", 1)
	twos.Key.Port = 81
	tab := mustTable(t, nil, rr, twos)
	f := &Flow{Proto: TCP, Dst: testVIP, DstPort: 80}
	svc, r, ok := tab.Peek(f)
	if !ok || svc != tab.Services()[0] || r != svc.Reals[0] {
		t.Fatalf("Peek = %v %v %v", svc, r, ok)
	}
	if _, r2, _ := tab.Peek(f); r2 != r {
		t.Error("Peek advanced rr")
	}
	if _, r3 := tab.Pick(f); r3 != r {
		t.Error("Pick disagrees with Peek")
	}
	if _, r4 := tab.Pick(f); r4 != svc.Reals[1] {
		t.Error("Pick did not advance rr")
	}
	f.DstPort = 81
	if _, _, ok := tab.Peek(f); ok {
		t.Error("Peek claims to answer for twos")
	}
	f.DstPort = 82
	if s, r := tab.Pick(f); s != nil || r != nil {
		t.Error("Pick found a service for an unknown port")
	}
}
