package conntrack

import (
	"testing"
	"time"

	"github.com/ulvs/ulvs/balancer"
)

func newConnPersistTest(t *testing.T, cfg Config, maskBits int) (*Tracker, *Worker, *balancer.Service, *connTestSource, *balancer.RealServer, *balancer.RealServer) {
	t.Helper()
	r1 := newConnTestReal("10.0.2.1", 80, balancer.DR)
	r2 := newConnTestReal("10.0.2.2", 80, balancer.DR)
	svc := newConnTestService(balancer.TCP, "10.0.0.100", 80, r1, r2)
	svc.Persistence = 300 * time.Second
	svc.PersistenceMaskBits = maskBits
	src := newConnTestSource(svc)
	cfg.MaxConns = 1000
	d := newConnTestDirector(t, cfg)
	return d, d.NewWorker(), svc, src, r1, r2
}

func TestPersistenceTemplate(t *testing.T) {
	d, w, _, src, r1, r2 := newConnPersistTest(t, Config{}, 24)
	// Clients of one /24 stick to one server across ports and addresses.
	for i, s := range []string{"10.0.1.5:1000", "10.0.1.5:1001", "10.0.1.77:3000"} {
		if res := w.Inbound(src, connTup(balancer.TCP, s, "10.0.0.100:80"), TCPSyn, Tick(i)); res.Real != r1 {
			t.Fatalf("%s went to %v", s, res.Real.AddrPort())
		}
	}
	// Another network is scheduled on its own (round robin: r2).
	if res := w.Inbound(src, connTup(balancer.TCP, "10.0.9.5:1000", "10.0.0.100:80"), TCPSyn, 0); res.Real != r2 {
		t.Fatalf("other network went to %v", res.Real.AddrPort())
	}
	if connCountsOf(r1) != (connCounts{active: 3, persist: 1}) || connCountsOf(r2) != (connCounts{active: 1, persist: 1}) {
		t.Errorf("connCounts r1 %+v r2 %+v", connCountsOf(r1), connCountsOf(r2))
	}
	var templates int
	d.Conns(src, 0, func(c ConnInfo) bool {
		if c.Template {
			templates++
			if c.CPort != 0 || c.Client[3] != 0 || c.Remaining(0) < 300*time.Second || c.Remaining(0) > 300*time.Second+2*time.Millisecond || c.State != StateNone {
				t.Errorf("template listed as %+v", c)
			}
			if c.Client == [4]byte{10, 0, 1, 0} && (c.Controlled != 3 || c.Real != r1.Addr.As4()) {
				t.Errorf("template %+v, want 3 controlled to r1", c)
			}
		}
		return true
	})
	if templates != 2 {
		t.Errorf("%d templates listed", templates)
	}
	if c := d.Counters(); c.Templates != 2 || c.NewConns != 4 {
		t.Errorf("counters %+v", c)
	}
}

func TestPersistenceTimeout(t *testing.T) {
	d, w, _, src, r1, r2 := newConnPersistTest(t, Config{}, 32)
	c := connTup(balancer.TCP, "10.0.1.5:1000", "10.0.0.100:80")
	w.Inbound(src, c, TCPSyn, 0)
	w.Inbound(src, c, TCPAck, 0)
	w.Inbound(src, c, TCPRst, connSec) // CLOSE, 10 s
	// The connection is gone after 10 s but the template lasts 300 s from
	// its last use: a new connection at 200 s still goes to r1.
	d.Sweep(src, 20*connSec, d.Slots())
	if connCountsOf(r1) != (connCounts{persist: 1}) {
		t.Fatalf("connCounts %+v", connCountsOf(r1))
	}
	c2 := connTup(balancer.TCP, "10.0.1.5:1001", "10.0.0.100:80")
	if res := w.Inbound(src, c2, TCPSyn, 200*connSec); res.Real != r1 {
		t.Fatalf("within persistence went to %v", res.Real.AddrPort())
	}
	w.Inbound(src, c2, TCPAck, 200*connSec)
	w.Inbound(src, c2, TCPRst, 200*connSec)
	// The use at 200 s restarted the template's timer: alive at 499 s, gone at 500 s.
	d.Sweep(src, 499*connSec, d.Slots())
	if connCountsOf(r1) != (connCounts{persist: 1}) {
		t.Fatalf("template expired early: %+v", connCountsOf(r1))
	}
	d.Sweep(src, 500*connSec, d.Slots())
	if connCountsOf(r1) != (connCounts{}) || d.Len() != 0 {
		t.Fatalf("template outlived its timeout: %+v len %d", connCountsOf(r1), d.Len())
	}
	// Scheduled anew: round robin moves on to r2.
	if res := w.Inbound(src, c, TCPSyn, 501*connSec); res.Real != r2 {
		t.Errorf("after template expiry went to %v", res.Real.AddrPort())
	}
}

func TestTemplateLivesWhileControlling(t *testing.T) {
	d, w, _, src, r1, _ := newConnPersistTest(t, Config{}, 32)
	c := connTup(balancer.TCP, "10.0.1.5:1000", "10.0.0.100:80")
	w.Inbound(src, c, TCPSyn, 0)
	// Keep the connection alive for 20 minutes, sweeping all along.
	for now := Tick(0); now < 1200*connSec; now += 100 * connSec {
		w.Inbound(src, c, TCPAck, now)
		d.Sweep(src, now, d.Slots())
	}
	if connCountsOf(r1) != (connCounts{active: 1, persist: 1}) {
		t.Fatalf("template expired while controlling: %+v", connCountsOf(r1))
	}
	if res := w.Inbound(src, connTup(balancer.TCP, "10.0.1.5:2000", "10.0.0.100:80"), TCPSyn, 1200*connSec); res.Real != r1 {
		t.Errorf("second connection went to %v", res.Real.AddrPort())
	}
}

func TestQuiescentTemplate(t *testing.T) {
	for _, expire := range []bool{false, true} {
		t.Run(map[bool]string{false: "honoured", true: "expired"}[expire], func(t *testing.T) {
			d, w, _, src, r1, r2 := newConnPersistTest(t, Config{ExpireQuiescentTemplate: expire}, 32)
			w.Inbound(src, connTup(balancer.TCP, "10.0.1.5:1000", "10.0.0.100:80"), TCPSyn, 0)
			r1.Weight = 0
			res := w.Inbound(src, connTup(balancer.TCP, "10.0.1.5:1001", "10.0.0.100:80"), TCPSyn, connSec)
			want := r1
			if expire {
				want = r2
			}
			if res.Real != want {
				t.Fatalf("went to %v, want %v", res.Real.AddrPort(), want.AddrPort())
			}
			// Exactly one template exists either way, counted on its server.
			if got := connCountsOf(r1).persist + connCountsOf(r2).persist; got != 1 {
				t.Errorf("templates counted %d", got)
			}
			if expire && (connCountsOf(want).persist != 1) {
				t.Errorf("re-pointed template not counted on %v", want.AddrPort())
			}
			d.Sweep(src, 3600*connSec, d.Slots())
			d.Sweep(src, 7200*connSec, d.Slots())
			for _, r := range []*balancer.RealServer{r1, r2} {
				if connCountsOf(r) != (connCounts{}) {
					t.Errorf("%v connCounts %+v after expiry", r.AddrPort(), connCountsOf(r))
				}
			}
		})
	}
}

func TestTemplateRealRemoved(t *testing.T) {
	d, w, svc, src, r1, r2 := newConnPersistTest(t, Config{ExpireNodestConn: true}, 32)
	c := connTup(balancer.TCP, "10.0.1.5:1000", "10.0.0.100:80")
	w.Inbound(src, c, TCPSyn, 0)
	// r1 leaves the table; the controller purges it as expire_nodest does.
	svc2 := *svc
	svc2.Reals = []*balancer.RealServer{r2}
	svc2.Sched = &connTestRR{reals: svc2.Reals}
	src2 := newConnTestSource(&svc2)
	if n := d.PurgeReal(src2, r1.ID); n < 1 || n > 2 {
		t.Errorf("purged %d", n)
	}
	if connCountsOf(r1) != (connCounts{}) {
		t.Errorf("r1 connCounts after purge %+v", connCountsOf(r1))
	}
	if res := w.Inbound(src2, connTup(balancer.TCP, "10.0.1.5:1001", "10.0.0.100:80"), TCPSyn, connSec); res.Real != r2 {
		t.Fatalf("went to %v", res.Real.AddrPort())
	}
	if connCountsOf(r2) != (connCounts{active: 1, persist: 1}) {
		t.Errorf("r2 connCounts %+v", connCountsOf(r2))
	}
}

func TestPersistentOnePacket(t *testing.T) {
	r1 := newConnTestReal("10.0.2.1", 53, balancer.NAT)
	r2 := newConnTestReal("10.0.2.2", 53, balancer.NAT)
	svc := newConnTestService(balancer.UDP, "10.0.0.100", 53, r1, r2)
	svc.Flags = balancer.FlagOnePacket
	svc.Persistence = time.Minute
	src := newConnTestSource(svc)
	d := newConnTestDirector(t, Config{MaxConns: 100})
	w := d.NewWorker()
	for i := range 3 {
		if res := w.Inbound(src, connTup(balancer.UDP, "10.0.1.5:5353", "10.0.0.100:53"), 0, Tick(i)); res.Real != r1 || res.New {
			t.Fatalf("datagram %d: %+v", i, res)
		}
	}
	// Only the template remains, controlling nothing; it expires on time.
	if d.Len() != 1 || connCountsOf(r1) != (connCounts{persist: 1}) {
		t.Fatalf("len %d connCounts %+v", d.Len(), connCountsOf(r1))
	}
	d.Sweep(src, 61*connSec, d.Slots())
	if d.Len() != 0 || connCountsOf(r1) != (connCounts{}) {
		t.Errorf("after expiry len %d connCounts %+v", d.Len(), connCountsOf(r1))
	}
}

func TestPortZeroTemplate(t *testing.T) {
	// A persistent port-zero service: every port of the VIP follows one
	// template with virtual port 0, and connections keep their own port.
	r1 := newConnTestReal("10.0.2.1", 0, balancer.DR)
	r2 := newConnTestReal("10.0.2.2", 0, balancer.DR)
	svc := newConnTestService(balancer.TCP, "10.0.0.100", 0, r1, r2)
	svc.Persistence = time.Minute
	src := newConnTestSource(svc)
	d := newConnTestDirector(t, Config{MaxConns: 100})
	w := d.NewWorker()
	for _, port := range []string{"80", "443", "8080"} {
		c := connTup(balancer.TCP, "10.0.1.5:1000", "10.0.0.100:"+port)
		if res := w.Inbound(src, c, TCPSyn, 0); res.Real != r1 {
			t.Fatalf("port %s went to %v", port, res.Real.AddrPort())
		}
		if info, _ := d.LookupInbound(c, 0); info.RPort != c.DstPort {
			t.Errorf("port %s: real port %d", port, info.RPort)
		}
	}
	if connCountsOf(r1) != (connCounts{active: 3, persist: 1}) {
		t.Errorf("connCounts %+v", connCountsOf(r1))
	}
	// A non-persistent port-zero service cannot schedule.
	svc.Persistence = 0
	if res := w.Inbound(src, connTup(balancer.TCP, "10.0.1.6:1000", "10.0.0.100:22"), TCPSyn, 0); res.Reason != DropPortZero {
		t.Errorf("non-persistent port zero: %+v", res)
	}
}
