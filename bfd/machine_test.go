package bfd

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)

var testConfig = Config{DesiredMinTx: 50 * time.Millisecond, RequiredMinRx: 100 * time.Millisecond,
	IdleTx: time.Second, DetectMult: 3}

const (
	ourDisc  = 0x0a0a0a0a
	peerDisc = 0x0b0b0b0b
)

// fixedRand makes the jitter deterministic: it returns frac of n.
func fixedRand(frac float64) func(int64) int64 {
	return func(n int64) int64 { return int64(float64(n-1) * frac) }
}

// peer builds the packet a peer in state s sends: 20 ms desired TX,
// 30 ms required RX, multiplier 4, echoing our discriminator unless it
// is Down.
func peer(s State, mod ...func(*Fields)) Control {
	f := Fields{State: s, DetectMult: 4, MyDisc: peerDisc, DesiredMinTx: 20 * time.Millisecond,
		RequiredMinRx: 30 * time.Millisecond}
	if s != Down && s != AdminDown {
		f.YourDisc = ourDisc
	}
	for _, m := range mod {
		m(&f)
	}
	c, drop := Parse(AppendControl(nil, &f))
	if drop != DropNone {
		panic(drop)
	}
	return c
}

// machineIn returns a started machine brought to state s by a peer.
func machineIn(t *testing.T, cfg Config, s State) *Machine {
	t.Helper()
	m := NewMachine(cfg, ourDisc, fixedRand(1))
	m.Start(t0)
	switch s {
	case Init:
		m.Receive(t0, peer(Down))
	case Up:
		m.Receive(t0, peer(Init))
	case AdminDown:
		m.Shutdown(t0)
	}
	if m.State() != s {
		t.Fatalf("could not bring the machine to %v: it is %v", s, m.State())
	}
	return m
}

// TestTransitions is RFC 5880 section 6.8.6's state table.
func TestTransitions(t *testing.T) {
	tests := []struct {
		from, recv State
		want       State
		diag       Diag
		changed    bool
	}{
		{Down, Down, Init, DiagNone, true},
		{Down, Init, Up, DiagNone, true},
		{Down, Up, Down, DiagNone, false}, // a peer Up with us Down is stale: wait for its Down
		{Down, AdminDown, Down, DiagNone, false},
		{Init, Down, Init, DiagNone, false},
		{Init, Init, Up, DiagNone, true},
		{Init, Up, Up, DiagNone, true},
		{Init, AdminDown, Down, DiagNeighborDown, true},
		{Up, Down, Down, DiagNeighborDown, true},
		{Up, Init, Up, DiagNone, false},
		{Up, Up, Up, DiagNone, false},
		{Up, AdminDown, Down, DiagNeighborDown, true},
		{AdminDown, Init, AdminDown, DiagAdminDown, false}, // packets are ignored in AdminDown
		{AdminDown, Down, AdminDown, DiagAdminDown, false},
	}
	for _, tt := range tests {
		m := machineIn(t, testConfig, tt.from)
		act := m.Receive(t0.Add(time.Millisecond), peer(tt.recv))
		if m.State() != tt.want || m.Diag() != tt.diag || act.Has(Changed) != tt.changed {
			t.Errorf("%v + received %v: got %v (%v) changed=%v, want %v (%v) changed=%v",
				tt.from, tt.recv, m.State(), m.Diag(), act.Has(Changed), tt.want, tt.diag, tt.changed)
		}
	}
}

// TestIntervals: what we advertise and how fast we send, Down and Up.
func TestIntervals(t *testing.T) {
	m := NewMachine(testConfig, ourDisc, fixedRand(1))
	if act := m.Start(t0); !act.Has(Send) {
		t.Fatalf("an active session must send at once: %v", act)
	}
	c, _ := Parse(m.AppendPacket(t0, nil))
	if c.State() != Down || c.DesiredMinTx() != time.Second || c.RequiredMinRx() != 100*time.Millisecond ||
		c.DetectMult() != 3 || c.MyDisc() != ourDisc || c.YourDisc() != 0 || c.RequiredMinEchoRx() != 0 {
		t.Errorf("Down packet: state %v tx %v rx %v mult %d my %x your %x echo %v", c.State(), c.DesiredMinTx(),
			c.RequiredMinRx(), c.DetectMult(), c.MyDisc(), c.YourDisc(), c.RequiredMinEchoRx())
	}
	if d := m.Deadline(); d != t0.Add(time.Second) {
		t.Errorf("next packet while Down at %v, want 1 s later (no jitter drawn)", d.Sub(t0))
	}
	m.Receive(t0, peer(Init))
	if m.State() != Up || !m.Polling() {
		t.Fatalf("state %v, polling %v: coming Up lowers the desired TX and must poll", m.State(), m.Polling())
	}
	// Up: we send at max(our 50 ms, the peer's required 30 ms); the peer
	// is watched for 4 x max(our required 100 ms, its desired 20 ms).
	if m.TxInterval() != 50*time.Millisecond || m.DetectTime() != 400*time.Millisecond {
		t.Errorf("tx %v detect %v, want 50ms and 400ms", m.TxInterval(), m.DetectTime())
	}
	c, _ = Parse(m.AppendPacket(t0, nil))
	if c.State() != Up || !c.Poll() || c.Final() || c.DesiredMinTx() != 50*time.Millisecond || c.YourDisc() != peerDisc {
		t.Errorf("first Up packet: state %v P%v F%v tx %v your %x", c.State(), c.Poll(), c.Final(), c.DesiredMinTx(), c.YourDisc())
	}
	// The peer slows us down by asking for 200 ms.
	m.Receive(t0.Add(10*time.Millisecond), peer(Up, func(f *Fields) { f.RequiredMinRx = 200 * time.Millisecond; f.Final = true }))
	if m.Polling() || m.TxInterval() != 200*time.Millisecond {
		t.Errorf("after the Final: polling %v, tx %v (want false, 200ms)", m.Polling(), m.TxInterval())
	}
	c, _ = Parse(m.AppendPacket(t0.Add(10*time.Millisecond), nil))
	if c.Poll() || c.Final() {
		t.Errorf("after the poll sequence: P%v F%v", c.Poll(), c.Final())
	}
	// Down again: back to one second.
	m.Receive(t0.Add(20*time.Millisecond), peer(Down))
	if m.State() != Down || m.TxInterval() != time.Second || m.Polling() {
		t.Errorf("down: state %v tx %v polling %v", m.State(), m.TxInterval(), m.Polling())
	}
}

func TestIdleTxBelowOneSecond(t *testing.T) {
	cfg := testConfig
	cfg.IdleTx = 300 * time.Millisecond
	if m := NewMachine(cfg, ourDisc, nil); m.TxInterval() != time.Second {
		t.Errorf("tx while Down with idle_tx 300ms is %v; RFC 5880 6.8.3 wants at least 1s", m.TxInterval())
	}
	cfg.IdleTx = 3 * time.Second
	if m := NewMachine(cfg, ourDisc, nil); m.TxInterval() != 3*time.Second {
		t.Errorf("tx while Down with idle_tx 3s is %v", m.TxInterval())
	}
}

// TestJitter: RFC 5880 6.8.7, 75-100 % of the interval, 75-90 % with a
// detect multiplier of 1.
func TestJitter(t *testing.T) {
	tests := []struct {
		mult uint8
		frac float64
		want time.Duration
	}{
		{3, 0, 750 * time.Millisecond},
		{3, 1, time.Second},
		{3, 0.5, 875 * time.Millisecond},
		{1, 0, 750 * time.Millisecond},
		{1, 1, 900 * time.Millisecond},
	}
	for _, tt := range tests {
		cfg := testConfig
		cfg.DetectMult = tt.mult
		m := NewMachine(cfg, ourDisc, fixedRand(tt.frac))
		m.Start(t0)
		m.AppendPacket(t0, nil)
		if got := m.Deadline().Sub(t0); got != tt.want {
			t.Errorf("mult %d, rand %.1f: next packet after %v, want %v", tt.mult, tt.frac, got, tt.want)
		}
	}
}

func TestDetectionTimeout(t *testing.T) {
	m := machineIn(t, testConfig, Up)
	detect := m.DetectTime() // 4 x 100 ms
	m.AppendPacket(t0, nil)
	if act := m.Tick(t0.Add(detect - time.Nanosecond)); act.Has(Changed) || m.State() != Up {
		t.Fatalf("down before the detection time: %v", m.State())
	}
	act := m.Tick(t0.Add(detect))
	if !act.Has(Changed) || m.State() != Down || m.Diag() != DiagTimeExpired || m.RemoteDisc() != 0 {
		t.Fatalf("after %v of silence: %v (%v), remote disc %x; want Down, time expired, 0", detect, m.State(), m.Diag(), m.RemoteDisc())
	}
	// A packet from the peer re-arms the detection timer.
	m = machineIn(t, testConfig, Up)
	m.Receive(t0.Add(300*time.Millisecond), peer(Up))
	if m.Tick(t0.Add(detect)); m.State() != Up {
		t.Errorf("a packet 300ms in did not re-arm the detection timer")
	}
	if d := m.Deadline(); d.After(t0.Add(300*time.Millisecond + detect)) {
		t.Errorf("deadline %v is past the detection time", d.Sub(t0))
	}
}

func TestPollAnsweredWithFinal(t *testing.T) {
	m := machineIn(t, testConfig, Up)
	m.AppendPacket(t0, nil)
	m.Receive(t0, peer(Up, func(f *Fields) { f.Final = true })) // ends our own poll
	act := m.Receive(t0.Add(time.Millisecond), peer(Up, func(f *Fields) { f.Poll = true }))
	if !act.Has(Send) {
		t.Fatalf("a Poll must be answered at once: %v", act)
	}
	c, _ := Parse(m.AppendPacket(t0.Add(time.Millisecond), nil))
	if !c.Final() || c.Poll() {
		t.Errorf("answer to a Poll: P%v F%v, want F only", c.Poll(), c.Final())
	}
	c, _ = Parse(m.AppendPacket(t0.Add(2*time.Millisecond), nil))
	if c.Final() {
		t.Errorf("the Final was sent twice")
	}
}

func TestPassive(t *testing.T) {
	cfg := testConfig
	cfg.Passive = true
	m := NewMachine(cfg, ourDisc, fixedRand(1))
	if act := m.Start(t0); act.Has(Send) {
		t.Fatal("a passive session sent before hearing its peer")
	}
	if act := m.Tick(t0.Add(time.Hour)); act.Has(Send) || !m.Deadline().IsZero() {
		t.Fatalf("a passive session schedules packets before hearing its peer: %v %v", act, m.Deadline())
	}
	if act := m.Receive(t0.Add(time.Hour), peer(Down)); !act.Has(Send) || m.State() != Init {
		t.Fatalf("passive, peer heard: act %v, state %v; want Send and Init", act, m.State())
	}
}

func TestPeerWantsNoPackets(t *testing.T) {
	m := machineIn(t, testConfig, Up)
	m.AppendPacket(t0, nil)
	m.Receive(t0, peer(Up, func(f *Fields) { f.RequiredMinRx = 0 }))
	// 300 ms: past our 50 ms interval, within the 400 ms detection time.
	if act := m.Tick(t0.Add(300 * time.Millisecond)); act.Has(Send) {
		t.Error("sent periodic packets to a peer whose Required Min RX is 0")
	}
	if act := m.Receive(t0.Add(300*time.Millisecond), peer(Up, func(f *Fields) { f.RequiredMinRx = 0; f.Poll = true })); !act.Has(Send) {
		t.Error("a Poll must be answered even when the peer wants no periodic packets")
	}
	// Demand mode asked by the peer, both Up: no periodic packets either.
	m = machineIn(t, testConfig, Up)
	m.AppendPacket(t0, nil)
	m.Receive(t0, peer(Up, func(f *Fields) { f.Demand = true }))
	if act := m.Tick(t0.Add(300 * time.Millisecond)); act.Has(Send) || m.State() != Up {
		t.Error("sent periodic packets to a peer in demand mode")
	}
}

func TestShutdown(t *testing.T) {
	m := machineIn(t, testConfig, Up)
	act := m.Shutdown(t0)
	if !act.Has(Send) || !act.Has(Changed) {
		t.Fatalf("shutdown: %v", act)
	}
	c, _ := Parse(m.AppendPacket(t0, nil))
	if c.State() != AdminDown || c.Diag() != DiagAdminDown {
		t.Errorf("shutdown packet: %v (%v)", c.State(), c.Diag())
	}
	// AdminDown is announced for one detection time of the peer (our
	// multiplier x our interval), then the session falls silent.
	stop := time.Duration(testConfig.DetectMult) * m.TxInterval()
	if act := m.Tick(t0.Add(stop - time.Millisecond)); !act.Has(Send) {
		t.Error("AdminDown not announced during the peer's detection time")
	}
	if act := m.Tick(t0.Add(stop)); act.Has(Send) || !m.Deadline().IsZero() {
		t.Error("still sending AdminDown after the peer's detection time")
	}
	if act := m.Shutdown(t0); act != 0 {
		t.Errorf("a second shutdown acted: %v", act)
	}
}

// link runs two machines against each other on a virtual clock, with a
// one-way delay of 1 ms, stepping each at its Deadline.
type link struct {
	t        *testing.T
	now      time.Time
	m        [2]*Machine
	inflight []struct {
		at  time.Time
		to  int
		pkt []byte
	}
	cut   bool
	stuck int
}

func (l *link) act(i int, a Action) {
	if a.Has(Send) {
		b := l.m[i].AppendPacket(l.now, nil)
		if !l.cut {
			l.inflight = append(l.inflight, struct {
				at  time.Time
				to  int
				pkt []byte
			}{l.now.Add(time.Millisecond), 1 - i, b})
		}
	}
}

// run steps the link until until; it fails the test if the machines
// keep asking to run at a time that does not advance (a busy loop).
func (l *link) run(until time.Time) {
	for {
		next := until
		for _, m := range l.m {
			if d := m.Deadline(); !d.IsZero() && d.Before(next) {
				next = d
			}
		}
		for _, p := range l.inflight {
			if p.at.Before(next) {
				next = p.at
			}
		}
		if !next.After(l.now) {
			if l.stuck++; l.stuck > 100 {
				l.t.Fatalf("the machines ask to run again and again at %v", l.now.Sub(t0))
			}
		} else {
			l.stuck = 0
		}
		if next.After(until) || next.Equal(until) {
			l.now = until
			return
		}
		l.now = next
		due := l.inflight
		l.inflight = nil // act appends the answers
		for _, p := range due {
			if p.at.After(l.now) {
				l.inflight = append(l.inflight, p)
				continue
			}
			c, drop := Parse(p.pkt)
			if drop != DropNone {
				l.t.Fatalf("a machine sent a packet Parse drops (%v): %x", drop, p.pkt)
			}
			l.act(p.to, l.m[p.to].Receive(l.now, c))
		}
		for i, m := range l.m {
			l.act(i, m.Tick(l.now))
		}
	}
}

// TestTwoMachines: two sessions find each other, negotiate their
// intervals through poll sequences, and each detects the other's
// silence within its detection time when the link is cut.
func TestTwoMachines(t *testing.T) {
	a := testConfig // 50 ms tx, 100 ms rx, mult 3
	b := Config{DesiredMinTx: 10 * time.Millisecond, RequiredMinRx: 20 * time.Millisecond, IdleTx: time.Second, DetectMult: 5}
	l := &link{t: t, now: t0, m: [2]*Machine{NewMachine(a, 1, fixedRand(0.5)), NewMachine(b, 2, fixedRand(0.3))}}
	for i, m := range l.m {
		l.act(i, m.Start(t0))
	}
	l.run(t0.Add(5 * time.Second))
	for i, m := range l.m {
		if m.State() != Up || m.Polling() {
			t.Fatalf("machine %d: %v, polling %v after 5 s", i, m.State(), m.Polling())
		}
	}
	// a sends at max(50, b's rx 20) = 50 ms; b at max(10, a's rx 100) =
	// 100 ms. a watches b for 5 x max(100, 10) = 500 ms; b watches a for
	// 3 x max(20, 50) = 150 ms.
	for i, want := range []struct{ tx, detect time.Duration }{{50 * time.Millisecond, 500 * time.Millisecond},
		{100 * time.Millisecond, 150 * time.Millisecond}} {
		if m := l.m[i]; m.TxInterval() != want.tx || m.DetectTime() != want.detect {
			t.Errorf("machine %d: tx %v detect %v, want %v and %v", i, m.TxInterval(), m.DetectTime(), want.tx, want.detect)
		}
	}
	cut := l.now
	l.cut, l.inflight = true, nil
	l.run(cut.Add(600 * time.Millisecond))
	for i, m := range l.m {
		if m.State() != Down || m.Diag() != DiagTimeExpired {
			t.Errorf("machine %d after the cut: %v (%v)", i, m.State(), m.Diag())
		}
	}
	// Each goes down within its detection time of the last packet heard.
	for i, detect := range []time.Duration{500 * time.Millisecond, 150 * time.Millisecond} {
		if took := l.m[i].Since().Sub(cut); took > detect {
			t.Errorf("machine %d went down %v after the cut; its detection time is %v", i, took, detect)
		}
	}
	l.cut = false
	l.run(l.now.Add(5 * time.Second))
	for i, m := range l.m {
		if m.State() != Up {
			t.Errorf("machine %d did not come back Up after the link healed: %v", i, m.State())
		}
	}
}

// TestNoAllocs: receiving a packet and building the next one allocate
// nothing (the Router reuses one buffer per session).
func TestNoAllocs(t *testing.T) {
	m := machineIn(t, testConfig, Up)
	c := peer(Up)
	buf := make([]byte, 0, HeaderLen)
	now := t0
	allocs := testing.AllocsPerRun(100, func() {
		now = now.Add(time.Millisecond)
		m.Receive(now, c)
		m.Tick(now)
		buf = m.AppendPacket(now, buf[:0])
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per packet", allocs)
	}
}
