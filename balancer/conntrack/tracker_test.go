package conntrack

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ulvs/ulvs/balancer"
)

// connTestSource is a fake Table: services by (proto, vip, port) and reals
// by ID, changeable between calls by the test.
type connTestSource struct {
	svcs  map[connTestSvcKey]*balancer.Service
	reals map[balancer.RealID]*balancer.RealServer
}

type connTestSvcKey struct {
	proto balancer.Protocol
	addr  [4]byte
	port  uint16
}

func newConnTestSource(svcs ...*balancer.Service) *connTestSource {
	s := &connTestSource{svcs: map[connTestSvcKey]*balancer.Service{}, reals: map[balancer.RealID]*balancer.RealServer{}}
	for _, svc := range svcs {
		s.add(svc)
	}
	return s
}

func (s *connTestSource) add(svc *balancer.Service) {
	s.svcs[connTestSvcKey{svc.Key.Proto, svc.Key.Addr.As4(), svc.Key.Port}] = svc
	for _, r := range svc.Reals {
		s.reals[r.ID] = r
	}
}

func (s *connTestSource) LookupV4(proto balancer.Protocol, addr [4]byte, port uint16) *balancer.Service {
	if svc := s.svcs[connTestSvcKey{proto, addr, port}]; svc != nil {
		return svc
	}
	return s.svcs[connTestSvcKey{proto, addr, 0}]
}

func (s *connTestSource) Real(id balancer.RealID) *balancer.RealServer { return s.reals[id] }

// connTestRR is round robin over available servers (weight > 0, not
// overloaded), enough to exercise the director.
type connTestRR struct {
	reals []*balancer.RealServer
	next  atomic.Uint32
}

func (s *connTestRR) Schedule(*balancer.Flow) *balancer.RealServer {
	n := uint32(len(s.reals))
	for range n {
		r := s.reals[(s.next.Add(1)-1)%n]
		if r.Weight > 0 && !r.Stats.Overloaded() {
			return r
		}
	}
	return nil
}

// connTestHashSched picks by the client port, so a model can predict it.
type connTestHashSched struct{ reals []*balancer.RealServer }

func (s *connTestHashSched) Schedule(f *balancer.Flow) *balancer.RealServer {
	n := len(s.reals)
	for i := range n {
		r := s.reals[(int(f.SrcPort)+i)%n]
		if r.Weight > 0 {
			return r
		}
	}
	return nil
}

var connTestRealID atomic.Uint32

func newConnTestReal(addr string, port uint16, m balancer.Method) *balancer.RealServer {
	return &balancer.RealServer{ID: balancer.RealID(connTestRealID.Add(1)), Addr: netip.MustParseAddr(addr), Port: port, Method: m, Weight: 1, Stats: &balancer.RealStats{}}
}

// newConnTestService builds a service on vip:port with the given reals and
// a round-robin scheduler.
func newConnTestService(proto balancer.Protocol, vip string, port uint16, reals ...*balancer.RealServer) *balancer.Service {
	svc := &balancer.Service{
		ID:    balancer.ServiceID(connTestRealID.Add(1)),
		Key:   balancer.ServiceKey{Addr: netip.MustParseAddr(vip), Port: port, Proto: proto},
		Reals: reals,
	}
	svc.Sched = &connTestRR{reals: reals}
	return svc
}

func newConnTestDirector(t testing.TB, cfg Config) *Tracker {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func connTup(proto balancer.Protocol, src, dst string) Tuple4 {
	return MakeTuple4(proto, netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst))
}

// connReply is the tuple of a NAT reply from real r to the client of t.
func connReply(t Tuple4, r *balancer.RealServer) Tuple4 {
	port := r.Port
	if port == 0 {
		port = t.DstPort
	}
	return Tuple4{Src: r.Addr.As4(), SrcPort: port, Dst: t.Src, DstPort: t.SrcPort, Proto: t.Proto}
}

type connCounts struct{ active, inactive, persist int32 }

func connCountsOf(r *balancer.RealServer) connCounts {
	return connCounts{r.Stats.ActiveConns(), r.Stats.InactiveConns(), r.Stats.PersistConns()}
}

const connSec = Tick(1000)

func TestInboundOutboundNAT(t *testing.T) {
	r1 := newConnTestReal("10.0.2.1", 8080, balancer.NAT)
	r2 := newConnTestReal("10.0.2.2", 8080, balancer.NAT)
	svc := newConnTestService(balancer.TCP, "10.0.0.100", 80, r1, r2)
	src := newConnTestSource(svc)
	d := newConnTestDirector(t, Config{MaxConns: 1000})
	w := d.NewWorker()

	c := connTup(balancer.TCP, "10.0.1.5:40000", "10.0.0.100:80")
	res := w.Inbound(src, c, TCPSyn, 0)
	if res.Action != ActionForward || res.Real != r1 || res.Service != svc || !res.New {
		t.Fatalf("SYN: got %+v, want forward to r1, new", res)
	}
	out := w.Outbound(src, connReply(c, r1), TCPSyn|TCPAck, connSec)
	if out.Action != ActionForward || out.VIP != c.Dst || out.VPort != 80 || out.Real != r1.ID {
		t.Fatalf("reply: got %+v", out)
	}
	if res := w.Inbound(src, c, TCPAck, 2*connSec); res.Real != r1 || res.New || res.Service != nil {
		t.Fatalf("ACK: got %+v", res)
	}
	info, ok := d.LookupInbound(c, 2*connSec)
	if !ok || info.State != StateEstablished || info.Real != r1.Addr.As4() || info.RPort != 8080 {
		t.Fatalf("LookupInbound: %+v %v", info, ok)
	}
	if got := info.Remaining(2 * connSec); got != 900*time.Second {
		t.Errorf("ESTABLISHED remaining %v, want 900s", got)
	}
	if info2, ok := d.LookupOutbound(connReply(c, r1), 2*connSec); !ok || info2 != info {
		t.Errorf("LookupOutbound: %+v %v, want %+v", info2, ok, info)
	}
	// A second client goes to r2 (round robin); its reply does not match r1's.
	c2 := connTup(balancer.TCP, "10.0.1.6:40000", "10.0.0.100:80")
	if res := w.Inbound(src, c2, TCPSyn, 3*connSec); res.Real != r2 {
		t.Fatalf("second client: %+v", res)
	}
	if out := w.Outbound(src, connReply(c, r2), TCPAck, 3*connSec); out.Action != ActionNotService {
		t.Errorf("reply from wrong real matched: %+v", out)
	}
	if got := connCountsOf(r1); got != (connCounts{active: 1}) {
		t.Errorf("r1 connCounts %+v", got)
	}
}

func TestInboundDrops(t *testing.T) {
	r1 := newConnTestReal("10.0.2.1", 80, balancer.DR)
	svc := newConnTestService(balancer.TCP, "10.0.0.100", 80, r1)
	udp := newConnTestService(balancer.UDP, "10.0.0.100", 53)
	sctp := newConnTestService(balancer.SCTP, "10.0.0.100", 80, r1)
	src := newConnTestSource(svc, udp, sctp)
	d := newConnTestDirector(t, Config{MaxConns: 100})
	w := d.NewWorker()
	tests := []struct {
		name   string
		t      Tuple4
		flags  TCPFlags
		action Action
		reason DropReason
	}{
		{"no service", connTup(balancer.TCP, "10.0.1.5:1000", "10.0.0.101:80"), TCPSyn, ActionNotService, DropNone},
		{"other port", connTup(balancer.TCP, "10.0.1.5:1000", "10.0.0.100:81"), TCPSyn, ActionNotService, DropNone},
		{"ack without conn", connTup(balancer.TCP, "10.0.1.5:1000", "10.0.0.100:80"), TCPAck, ActionDrop, DropNotSYN},
		{"syn rst", connTup(balancer.TCP, "10.0.1.5:1000", "10.0.0.100:80"), TCPSyn | TCPRst, ActionDrop, DropNotSYN},
		{"no reals", connTup(balancer.UDP, "10.0.1.5:1000", "10.0.0.100:53"), 0, ActionDrop, DropNoRealServer},
		{"sctp", connTup(balancer.SCTP, "10.0.1.5:1000", "10.0.0.100:80"), 0, ActionDrop, DropProtocol},
		{"icmp not service", Tuple4{Proto: 1}, 0, ActionNotService, DropNone},
		{"syn", connTup(balancer.TCP, "10.0.1.5:1000", "10.0.0.100:80"), TCPSyn, ActionForward, DropNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := w.Inbound(src, tt.t, tt.flags, 0)
			if res.Action != tt.action || res.Reason != tt.reason {
				t.Errorf("got %v/%v, want %v/%v", res.Action, res.Reason, tt.action, tt.reason)
			}
		})
	}
	c := d.Counters()
	if c.Drops[DropNotSYN] != 2 || c.Drops[DropNoRealServer] != 1 || c.Drops[DropProtocol] != 1 || c.NotService != 3 || c.NewConns != 1 {
		t.Errorf("counters %+v", c)
	}
	if got := DropTableFull.String(); got != "table_full" {
		t.Errorf("DropTableFull.String() = %q", got)
	}
}

func TestDRHasNoOutboundEntry(t *testing.T) {
	r1 := newConnTestReal("10.0.2.1", 80, balancer.DR)
	svc := newConnTestService(balancer.TCP, "10.0.0.100", 80, r1)
	src := newConnTestSource(svc)
	d := newConnTestDirector(t, Config{MaxConns: 100})
	w := d.NewWorker()
	c := connTup(balancer.TCP, "10.0.1.5:1000", "10.0.0.100:80")
	w.Inbound(src, c, TCPSyn, 0)
	if out := w.Outbound(src, connReply(c, r1), TCPAck, 0); out.Action != ActionNotService {
		t.Errorf("DR reply matched %+v", out)
	}
	if _, ok := d.LookupInbound(c, 0); !ok {
		t.Error("DR conn not found inbound")
	}
}

func TestOnePacketUDP(t *testing.T) {
	r1 := newConnTestReal("10.0.2.1", 53, balancer.NAT)
	r2 := newConnTestReal("10.0.2.2", 53, balancer.NAT)
	svc := newConnTestService(balancer.UDP, "10.0.0.100", 53, r1, r2)
	svc.Flags = balancer.FlagOnePacket
	src := newConnTestSource(svc)
	d := newConnTestDirector(t, Config{MaxConns: 100})
	w := d.NewWorker()
	c := connTup(balancer.UDP, "10.0.1.5:5353", "10.0.0.100:53")
	var got []*balancer.RealServer
	for range 4 {
		res := w.Inbound(src, c, 0, 0)
		if res.Action != ActionForward || res.New {
			t.Fatalf("ops datagram: %+v", res)
		}
		got = append(got, res.Real)
	}
	if got[0] != r1 || got[1] != r2 || got[2] != r1 || got[3] != r2 {
		t.Errorf("one-packet scheduling did not schedule every datagram: %v", got)
	}
	if d.Len() != 0 {
		t.Errorf("one-packet left %d entries", d.Len())
	}
	if r1.Stats.Conns() != 2 || connCountsOf(r1) != (connCounts{}) {
		t.Errorf("r1 conns %d connCounts %+v", r1.Stats.Conns(), connCountsOf(r1))
	}
	if c := d.Counters(); c.OnePacket != 4 {
		t.Errorf("OnePacket = %d", c.OnePacket)
	}
}

func TestConnReuse(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		method   balancer.Method
		close    func(w *Worker, src ServiceSource, c Tuple4, r *balancer.RealServer)
		resched  bool
		oldState ConnState
	}{
		{"time_wait rescheduled", Config{}, balancer.NAT, connCloseNAT, true, StateTimeWait},
		{"time_wait mode 0 keeps server", Config{NoConnReuse: true}, balancer.NAT, connCloseNAT, false, StateTimeWait},
		{"fin_wait DR not rescheduled by default", Config{}, balancer.DR, connCloseDR, false, StateFinWait},
		{"fin_wait DR rescheduled with bit 2", Config{ConnReuseFinWait: true}, balancer.DR, connCloseDR, true, StateFinWait},
		{"close rescheduled", Config{}, balancer.NAT, func(w *Worker, src ServiceSource, c Tuple4, _ *balancer.RealServer) {
			w.Inbound(src, c, TCPRst, connSec)
		}, true, StateClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r1 := newConnTestReal("10.0.2.1", 80, tt.method)
			r2 := newConnTestReal("10.0.2.2", 80, tt.method)
			svc := newConnTestService(balancer.TCP, "10.0.0.100", 80, r1, r2)
			src := newConnTestSource(svc)
			tt.cfg.MaxConns = 100
			d := newConnTestDirector(t, tt.cfg)
			w := d.NewWorker()
			c := connTup(balancer.TCP, "10.0.1.5:1000", "10.0.0.100:80")
			if res := w.Inbound(src, c, TCPSyn, 0); res.Real != r1 {
				t.Fatalf("first SYN: %+v", res)
			}
			w.Inbound(src, c, TCPAck, connSec)
			tt.close(w, src, c, r1)
			if info, _ := d.LookupInbound(c, 2*connSec); info.State != tt.oldState {
				t.Fatalf("state before reuse %v, want %v", info.State, tt.oldState)
			}
			res := w.Inbound(src, c, TCPSyn, 3*connSec)
			want := r1
			if tt.resched {
				want = r2
			}
			if res.Real != want || res.New != tt.resched {
				t.Fatalf("reused SYN went to %v (new=%v), want %v", res.Real.AddrPort(), res.New, want.AddrPort())
			}
			if info, _ := d.LookupInbound(c, 3*connSec); info.State != StateSynRecv {
				t.Errorf("state after SYN %v", info.State)
			}
			wantR1, wantR2 := connCounts{active: 1}, connCounts{}
			if tt.resched {
				wantR1, wantR2 = connCounts{}, connCounts{active: 1}
			}
			if connCountsOf(r1) != wantR1 || connCountsOf(r2) != wantR2 {
				t.Errorf("connCounts r1 %+v r2 %+v, want %+v %+v", connCountsOf(r1), connCountsOf(r2), wantR1, wantR2)
			}
		})
	}
}

// connCloseNAT closes a NAT connection the usual way, ending in TIME_WAIT.
func connCloseNAT(w *Worker, src ServiceSource, c Tuple4, r *balancer.RealServer) {
	w.Inbound(src, c, TCPFin|TCPAck, connSec)
	w.Outbound(src, connReply(c, r), TCPFin|TCPAck, connSec)
	w.Inbound(src, c, TCPAck, connSec)
}

// connCloseDR closes a DR connection as the director sees it: FIN_WAIT.
func connCloseDR(w *Worker, src ServiceSource, c Tuple4, _ *balancer.RealServer) {
	w.Inbound(src, c, TCPFin|TCPAck, connSec)
	w.Inbound(src, c, TCPAck, connSec)
}

func TestExpireNodestConn(t *testing.T) {
	for _, expire := range []bool{false, true} {
		t.Run(map[bool]string{false: "off", true: "on"}[expire], func(t *testing.T) {
			r1 := newConnTestReal("10.0.2.1", 80, balancer.NAT)
			r2 := newConnTestReal("10.0.2.2", 80, balancer.NAT)
			svc := newConnTestService(balancer.TCP, "10.0.0.100", 80, r1, r2)
			src := newConnTestSource(svc)
			d := newConnTestDirector(t, Config{MaxConns: 100, ExpireNodestConn: expire})
			w := d.NewWorker()
			c := connTup(balancer.TCP, "10.0.1.5:1000", "10.0.0.100:80")
			w.Inbound(src, c, TCPSyn, 0)
			w.Inbound(src, c, TCPAck, connSec)

			// Remove r1 from the table (a new snapshot without it).
			svc2 := newConnTestService(balancer.TCP, "10.0.0.100", 80, r2)
			src2 := newConnTestSource(svc2)
			res := w.Inbound(src2, c, TCPAck, 2*connSec)
			if !expire {
				if res.Action != ActionDrop || res.Reason != DropRealUnavailable {
					t.Fatalf("got %+v, want drop real-unavailable", res)
				}
				if connCountsOf(r1) != (connCounts{active: 1}) {
					t.Errorf("r1 connCounts %+v", connCountsOf(r1))
				}
				// The entry still expires and unbinds from r1 via the registry.
				d.Sweep(src2, 2*connSec+901*connSec, d.Slots())
				if connCountsOf(r1) != (connCounts{}) || d.Len() != 0 {
					t.Errorf("after sweep: r1 %+v len %d", connCountsOf(r1), d.Len())
				}
				return
			}
			// expire_nodest: the entry goes; an ACK cannot start a connection.
			if res.Action != ActionDrop || res.Reason != DropNotSYN {
				t.Fatalf("got %+v, want drop tcp_not_syn", res)
			}
			if connCountsOf(r1) != (connCounts{}) || d.Len() != 0 {
				t.Errorf("r1 connCounts %+v len %d", connCountsOf(r1), d.Len())
			}
			if res := w.Inbound(src2, c, TCPSyn, 3*connSec); res.Real != r2 {
				t.Errorf("SYN after nodest: %+v", res)
			}
		})
	}
}

func TestExpireNodestWeightZeroSYN(t *testing.T) {
	r1 := newConnTestReal("10.0.2.1", 80, balancer.NAT)
	r2 := newConnTestReal("10.0.2.2", 80, balancer.NAT)
	svc := newConnTestService(balancer.TCP, "10.0.0.100", 80, r1, r2)
	src := newConnTestSource(svc)
	d := newConnTestDirector(t, Config{MaxConns: 100, ExpireNodestConn: true})
	w := d.NewWorker()
	c := connTup(balancer.TCP, "10.0.1.5:1000", "10.0.0.100:80")
	w.Inbound(src, c, TCPSyn, 0)
	w.Inbound(src, c, TCPAck, connSec)
	r1.Weight = 0
	if res := w.Inbound(src, c, TCPAck, 2*connSec); res.Real != r1 {
		t.Fatalf("ACK to quiesced server must keep flowing: %+v", res)
	}
	if res := w.Inbound(src, c, TCPSyn, 3*connSec); res.Real != r2 || !res.New {
		t.Fatalf("SYN over weight-0 server not rescheduled: %+v", res)
	}
	if connCountsOf(r1) != (connCounts{}) || connCountsOf(r2) != (connCounts{active: 1}) {
		t.Errorf("connCounts r1 %+v r2 %+v", connCountsOf(r1), connCountsOf(r2))
	}
}

func TestListAndPurge(t *testing.T) {
	r1 := newConnTestReal("10.0.2.1", 8080, balancer.NAT)
	r2 := newConnTestReal("10.0.2.2", 8080, balancer.NAT)
	svc := newConnTestService(balancer.TCP, "10.0.0.100", 80, r1, r2)
	src := newConnTestSource(svc)
	d := newConnTestDirector(t, Config{MaxConns: 1000})
	w := d.NewWorker()
	for i := range 10 {
		c := Tuple4{Src: [4]byte{10, 0, 1, byte(i)}, SrcPort: 1000, Dst: [4]byte{10, 0, 0, 100}, DstPort: 80, Proto: balancer.TCP}
		w.Inbound(src, c, TCPSyn, 0)
	}
	var n1, n2 int
	d.Conns(src, connSec, func(c ConnInfo) bool {
		if c.State != StateSynRecv || c.Proto != balancer.TCP || c.VPort != 80 || c.Remaining(connSec) != 59*time.Second {
			t.Errorf("listed %+v", c)
		}
		switch c.RealID {
		case r1.ID:
			n1++
		case r2.ID:
			n2++
		}
		return true
	})
	if n1 != 5 || n2 != 5 {
		t.Fatalf("listed %d/%d, want 5/5", n1, n2)
	}
	if got := d.PurgeReal(src, r1.ID); got != 5 {
		t.Errorf("PurgeReal removed %d, want 5", got)
	}
	if d.Len() != 5 || connCountsOf(r1) != (connCounts{}) || connCountsOf(r2) != (connCounts{active: 5}) {
		t.Errorf("after purge: len %d r1 %+v r2 %+v", d.Len(), connCountsOf(r1), connCountsOf(r2))
	}
}

func TestTimeoutsSettable(t *testing.T) {
	d := newConnTestDirector(t, Config{MaxConns: 10})
	tcp, fin, udp := d.Timeouts()
	if tcp != 900*time.Second || fin != 120*time.Second || udp != 300*time.Second {
		t.Fatalf("defaults %v %v %v", tcp, fin, udp)
	}
	d.SetTimeouts(60*time.Second, 0, 30*time.Second)
	tcp, fin, udp = d.Timeouts()
	if tcp != 60*time.Second || fin != 120*time.Second || udp != 30*time.Second {
		t.Errorf("after set %v %v %v", tcp, fin, udp)
	}
	if err := d.SetStateTimeout(numConnStates, time.Second); err == nil {
		t.Error("unknown state accepted")
	}
	r1 := newConnTestReal("10.0.2.1", 53, balancer.NAT)
	src := newConnTestSource(newConnTestService(balancer.UDP, "10.0.0.100", 53, r1))
	c := connTup(balancer.UDP, "10.0.1.5:5353", "10.0.0.100:53")
	d.NewWorker().Inbound(src, c, 0, 0)
	if info, _ := d.LookupInbound(c, 0); info.State != StateUDP || info.Remaining(0) != 30*time.Second {
		t.Errorf("udp entry %v %v", info.State, info.Remaining(0))
	}
	if connCountsOf(r1) != (connCounts{inactive: 1}) {
		t.Errorf("udp connCounts %+v", connCountsOf(r1))
	}
}

func TestConfigValidate(t *testing.T) {
	for _, cfg := range []Config{{MaxConns: -1}, {Shards: 3}, {Shards: -2}, {MaxConns: 1<<30 + 1}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// TestSYNFloodKeepsEstablished fills the table with a SYN flood after some
// connections are established: the flood is refused once the table is
// full, established connections keep flowing, and once the embryonic
// entries time out new clients get in again.
func TestSYNFloodKeepsEstablished(t *testing.T) {
	r1 := newConnTestReal("10.0.2.1", 80, balancer.NAT)
	r2 := newConnTestReal("10.0.2.2", 80, balancer.NAT)
	svc := newConnTestService(balancer.TCP, "10.0.0.100", 80, r1, r2)
	src := newConnTestSource(svc)
	const max = 2000
	d := newConnTestDirector(t, Config{MaxConns: max, Shards: 8})
	w := d.NewWorker()
	vip := [4]byte{10, 0, 0, 100}
	var live []Tuple4
	for i := range 100 {
		c := Tuple4{Src: [4]byte{10, 0, 1, byte(i)}, SrcPort: 5000, Dst: vip, DstPort: 80, Proto: balancer.TCP}
		w.Inbound(src, c, TCPSyn, 0)
		w.Inbound(src, c, TCPAck, 0)
		live = append(live, c)
	}
	now := connSec
	var admitted, refused int
	for i := range 20000 {
		c := Tuple4{Src: [4]byte{192, 168, byte(i >> 8), byte(i)}, SrcPort: uint16(i), Dst: vip, DstPort: 80, Proto: balancer.TCP}
		switch res := w.Inbound(src, c, TCPSyn, now); res.Action {
		case ActionForward:
			admitted++
		case ActionDrop:
			if res.Reason != DropTableFull {
				t.Fatalf("flood drop reason %v", res.Reason)
			}
			refused++
		}
		// Established traffic keeps flowing through the flood.
		if i%97 == 0 {
			for _, c := range live {
				if res := w.Inbound(src, c, TCPAck, now); res.Action != ActionForward || res.New {
					t.Fatalf("established conn lost during flood: %+v", res)
				}
			}
		}
	}
	if d.Len() > max || admitted+100 < max*95/100 || refused == 0 {
		t.Fatalf("len %d admitted %d refused %d", d.Len(), admitted, refused)
	}
	if c := d.Counters(); c.Drops[DropTableFull] != uint64(refused) {
		t.Errorf("table_full counter %d, want %d", c.Drops[DropTableFull], refused)
	}
	// After SYN_RECV's 60 s the embryonic entries are reclaimable: a new
	// client gets in without any sweep, established ones still live.
	now += 61 * connSec
	for _, c := range live {
		w.Inbound(src, c, TCPAck, now)
	}
	fresh := Tuple4{Src: [4]byte{172, 16, 0, 1}, SrcPort: 1, Dst: vip, DstPort: 80, Proto: balancer.TCP}
	if res := w.Inbound(src, fresh, TCPSyn, now); res.Action != ActionForward {
		t.Fatalf("new client after flood expiry: %+v", res)
	}
	d.Sweep(src, now, d.Slots())
	if d.Len() != 101 {
		t.Errorf("after sweep len %d, want 101", d.Len())
	}
	a := connCountsOf(r1).active + connCountsOf(r2).active
	in := connCountsOf(r1).inactive + connCountsOf(r2).inactive
	if a != 101 || in != 0 {
		t.Errorf("active %d inactive %d, want 101/0", a, in)
	}
}

func TestConcurrentWorkers(t *testing.T) {
	reals := []*balancer.RealServer{newConnTestReal("10.0.2.1", 80, balancer.NAT), newConnTestReal("10.0.2.2", 80, balancer.DR), newConnTestReal("10.0.2.3", 80, balancer.NAT)}
	svc := newConnTestService(balancer.TCP, "10.0.0.100", 80, reals...)
	psvc := newConnTestService(balancer.TCP, "10.0.0.101", 443, reals...)
	psvc.Persistence = 30 * time.Second
	psvc.PersistenceMaskBits = 24
	src := newConnTestSource(svc, psvc)
	d := newConnTestDirector(t, Config{MaxConns: 4096, Shards: 4})
	var clock atomic.Uint32
	var wg sync.WaitGroup
	for g := range 4 {
		w := d.NewWorker()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3000 {
				now := Tick(clock.Add(7))
				vip, port := [4]byte{10, 0, 0, 100}, uint16(80)
				if i%3 == 0 {
					vip, port = [4]byte{10, 0, 0, 101}, 443
				}
				// Workers share clients, so the same flows hit from several.
				c := Tuple4{Src: [4]byte{10, 1, byte(i % 7), byte(i % 50)}, SrcPort: uint16(1000 + i%200), Dst: vip, DstPort: port, Proto: balancer.TCP}
				flags := []TCPFlags{TCPSyn, TCPAck, TCPFin | TCPAck, TCPRst}[(i+g)%4]
				if res := w.Inbound(src, c, flags, now); res.Action == ActionForward && res.Real.Method == balancer.NAT && i%2 == 0 {
					w.Outbound(src, connReply(c, res.Real), TCPAck, now)
				}
				if i%500 == 0 {
					d.LookupInbound(c, now)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 200 {
			d.Sweep(src, Tick(clock.Load()), 64)
			d.Conns(src, Tick(clock.Load()), func(ConnInfo) bool { return true })
		}
	}()
	wg.Wait()
	// Expire everything; every count must come back to zero.
	end := Tick(clock.Load()) + 3600*connSec
	d.Sweep(src, end, d.Slots())
	// Templates that still controlled connections when the first pass met
	// them were re-armed for their persistence timeout, as in IPVS.
	if d.Len() == 0 {
		t.Error("no template outlived its controlled connections")
	}
	d.Sweep(src, end+31*connSec, d.Slots())
	for _, r := range reals {
		if got := connCountsOf(r); got != (connCounts{}) {
			t.Errorf("real %v connCounts %+v after full expiry", r.AddrPort(), got)
		}
	}
	if d.Len() != 0 {
		t.Errorf("len %d after full expiry", d.Len())
	}
}

func TestAllocs(t *testing.T) {
	r1 := newConnTestReal("10.0.2.1", 80, balancer.NAT)
	svc := newConnTestService(balancer.TCP, "10.0.0.100", 80, r1)
	psvc := newConnTestService(balancer.TCP, "10.0.0.101", 80, r1)
	psvc.Persistence = time.Minute
	src := newConnTestSource(svc, psvc)
	d := newConnTestDirector(t, Config{MaxConns: 1 << 16})
	w := d.NewWorker()
	c := connTup(balancer.TCP, "10.0.1.5:1000", "10.0.0.100:80")
	w.Inbound(src, c, TCPSyn, 0)
	rep := connReply(c, r1)
	port := uint16(0)
	now := Tick(0)
	for _, tt := range []struct {
		name string
		fn   func()
	}{
		{"Inbound hit", func() { w.Inbound(src, c, TCPAck, now) }},
		{"Outbound hit", func() { w.Outbound(src, rep, TCPAck, now) }},
		{"LookupInbound", func() { d.LookupInbound(c, now) }},
		{"LookupOutbound", func() { d.LookupOutbound(rep, now) }},
		{"Inbound new (schedule+insert)", func() {
			port++
			w.Inbound(src, Tuple4{Src: [4]byte{10, 9, 0, 1}, SrcPort: port, Dst: c.Dst, DstPort: 80, Proto: balancer.TCP}, TCPSyn, now)
		}},
		{"Inbound new persistent", func() {
			port++
			w.Inbound(src, Tuple4{Src: [4]byte{10, 8, byte(port >> 8), byte(port)}, SrcPort: port, Dst: [4]byte{10, 0, 0, 101}, DstPort: 80, Proto: balancer.TCP}, TCPSyn, now)
		}},
		{"Inbound miss not service", func() { w.Inbound(src, connTup(balancer.TCP, "10.0.1.5:1000", "10.0.0.200:80"), TCPSyn, now) }},
		{"Sweep", func() { now += 1000 * connSec; d.Sweep(src, now, 512) }},
	} {
		if got := testing.AllocsPerRun(200, tt.fn); got != 0 {
			t.Errorf("%s allocates %.1f times per call", tt.name, got)
		}
	}
}

// TestSloppyTCP: with sloppy_tcp a mid-stream segment of an unknown
// connection (a director that just took over a VIP) is scheduled; an RST
// never is; without it both are dropped as IPVS drops them.
func TestSloppyTCP(t *testing.T) {
	for _, sloppy := range []bool{false, true} {
		r1 := newConnTestReal("10.0.2.1", 80, balancer.DR)
		src := newConnTestSource(newConnTestService(balancer.TCP, "10.0.0.100", 80, r1))
		d := newConnTestDirector(t, Config{MaxConns: 100, SloppyTCP: sloppy})
		w := d.NewWorker()
		ack := connTup(balancer.TCP, "10.0.1.5:1000", "10.0.0.100:80")
		res := w.Inbound(src, ack, TCPAck, connSec)
		if sloppy && (res.Action != ActionForward || res.Real != r1 || !res.New) {
			t.Errorf("sloppy: mid-stream ACK got %+v, want a new connection to %v", res, r1.Addr)
		}
		if !sloppy && (res.Action != ActionDrop || res.Reason != DropNotSYN) {
			t.Errorf("not sloppy: mid-stream ACK got %+v, want tcp_not_syn", res)
		}
		// The next segment of the picked-up connection finds it.
		if sloppy {
			if res := w.Inbound(src, ack, TCPAck, connSec); res.Action != ActionForward || res.New {
				t.Errorf("sloppy: second segment got %+v, want the existing connection", res)
			}
		}
		rst := connTup(balancer.TCP, "10.0.1.6:1000", "10.0.0.100:80")
		if res := w.Inbound(src, rst, TCPRst|TCPAck, connSec); res.Action != ActionDrop || res.Reason != DropNotSYN {
			t.Errorf("sloppy=%v: RST got %+v, want tcp_not_syn", sloppy, res)
		}
	}
}

// TestSweepSkipsEmptyShards: shards without live entries count as visited
// without being read, and a pass of budget Slots() in small calls still
// meets every entry of the shards that have some.
func TestSweepSkipsEmptyShards(t *testing.T) {
	r := newConnTestReal("10.0.2.1", 80, balancer.DR)
	svc := newConnTestService(balancer.UDP, "10.0.0.100", 53, r)
	src := newConnTestSource(svc)
	d := newConnTestDirector(t, Config{MaxConns: 4096, Shards: 8})
	w := d.NewWorker()
	// Three flows: most of the eight shards stay empty.
	for i := range 3 {
		c := Tuple4{Src: [4]byte{10, 1, 0, byte(i)}, SrcPort: 1000, Dst: [4]byte{10, 0, 0, 100}, DstPort: 53, Proto: balancer.UDP}
		if res := w.Inbound(src, c, 0, 0); res.Action != ActionForward {
			t.Fatalf("flow %d: %+v", i, res)
		}
	}
	empty := 0
	for i := range d.tab.shards {
		if d.tab.shards[i].used == 0 {
			empty++
		}
	}
	if empty == 0 {
		t.Fatal("every shard has an entry; the test needs empty ones")
	}
	late := Ticks(time.Hour)
	// A pass visits the shards' active slots. An unaligned budget, so
	// that calls end inside skipped shards too.
	pass := d.ActiveSlots()
	step := pass/len(d.tab.shards)/3 + 7
	removed := 0
	for left := pass; left > 0; {
		b := min(step, left)
		removed += d.Sweep(src, late, b)
		left -= b
	}
	if removed != 3 || d.Len() != 0 {
		t.Errorf("one pass removed %d of 3 expired entries, %d left", removed, d.Len())
	}
	// Exactly one pass's budget brings every position back to the start.
	if d.sweepShard != 0 {
		t.Errorf("after one pass the sweep is at shard %d, want 0", d.sweepShard)
	}
	for i := range d.tab.shards {
		if sw := d.tab.shards[i].sweep; sw != 0 {
			t.Errorf("after one pass shard %d's sweep position is %d, want 0", i, sw)
		}
	}
	// A budget of many passes still makes only one per call.
	d.Sweep(src, late, 10*d.Slots())
	if d.sweepShard != 0 {
		t.Errorf("after a call with a budget of ten passes the sweep is at shard %d, want 0 (one pass)", d.sweepShard)
	}
}
